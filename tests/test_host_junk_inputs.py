"""Files given as the wrong kind of host data are rejected (exit 2, one line), not read as an
empty host: a DMAR fixture's readable source or `{}` as --host-json, a binary table or a guest
config as --xen-log. Real logs without an RMRR line stay a warning."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from xlrmrr.acpi.readers import is_boot_log, rmrrs_from_log
from xlrmrr.cli import main
from xlrmrr.common import InputError

FX = FIXTURES / "dmar"
CFG = FIXTURES / "guests" / "igd-passthrough.cfg"


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_dmar_fixture_source_as_host_json(capsys):
    # laptop-typical.json's top-level keys: description, host, expect, table (fixtures/README.md)
    src = FX / "laptop-typical.json"
    rc, out, err = run(capsys, "create", CFG, "--dmar", FX / "laptop-typical.bin",
                       "--host-json", src)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err == (f"xlrmrr create: error: {src}: not a host description: unknown top-level "
                   f"key(s) 'description', 'host', 'expect', 'table'; the known keys are "
                   f"xen_version, e820, devices, format, notes (format: HOST DESCRIPTION in xlrmrr(1))\n")


@pytest.mark.parametrize("doc", [{}, {"xen_version": "4.17"}, {"e820": []}, {"devices": None}])
def test_host_json_without_devices(capsys, tmp_path, doc):
    path = tmp_path / "h.json"
    path.write_text(json.dumps(doc))
    rc, out, err = run(capsys, "host", "--dmar", FX / "laptop-typical.bin", "--host-json", path)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"xlrmrr host: error: {path}: no \"devices\": ")


def test_host_json_with_devices_still_read(capsys, tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"devices": []}))
    rc, out, _ = run(capsys, "host", "--dmar", FX / "laptop-typical.bin", "--host-json", path,
                     "--json")
    assert rc == 0 and json.loads(out)["topology_known"]


@pytest.mark.parametrize("junk, why", [
    (CFG, "not a Xen or Linux boot log: no line of one; "),
    # recognised as other host data: named with the option that reads it (host/kinds.py)
    (FX / "laptop-typical.bin", "this is a binary ACPI DMAR table, not a Xen or Linux boot log "
                                "(--xen-log): give it with --dmar "),
    (FX / "laptop-typical.json", "this is JSON (a host description?), not a Xen or Linux boot "
                                 "log (--xen-log): give it with --host-json "),
])
def test_xen_log_that_is_no_log(capsys, junk, why):
    rc, out, err = run(capsys, "create", CFG, "--xen-log", junk)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"xlrmrr create: error: {junk}: {why}"), err


@pytest.mark.parametrize("line", [
    "(XEN) Xen version 4.17.3 (mockbuild@) (gcc) debug=n",
    "(XEN) [    1.234567] Intel VT-d iommu 0 supported page sizes: 4kB, 2MB, 1GB",
    "[    0.000000] Linux version 6.1.0-18-amd64",
    "<6>[    0.012000] ACPI: DMAR 0x00000000AF7FC000 0000A8 (v01 INTEL  KBL     00000001)",
    "DMAR: Host address width 39",
    "dmar0: Using Queued invalidation",
    "Nov 28 11:53:21 dom0 kernel: DMAR: IOMMU enabled",
    "2026-11-28T11:53:21+0000 dom0 kernel: DMAR-IR: Enabled IRQ remapping in x2apic mode",
    # dmesg -T, -H and -x, journalctl -o short-precise and short-full: the markers sit mid-line
    "[Sat Nov 28 10:00:00 2026] DMAR: Host address width 39",
    "[  +0.000123] DMAR: Host address width 39",
    "kern  :info  : [    0.012345] DMAR: Host address width 39",
    "Nov 28 10:00:00.123456 dom0 kernel: DMAR: Host address width 39",
    "Sat 2026-11-28 10:00:00 UTC dom0 kernel: DMAR: Host address width 39",
])
def test_real_log_lines_without_rmrr_stay_a_warning(line):
    assert is_boot_log(line)
    assert rmrrs_from_log(f"some banner\n{line}\n", "log") == ()


@pytest.mark.parametrize("text", [
    "", "name = \"igd\"\nmemory = 2048\n", "{\"devices\": []}",
    "DMAR\x58\x00\x00\x00\x01", "xen: the DMAR table, an RMRR and dmar0 in prose\n"])
def test_not_a_log(text):
    assert not is_boot_log(text)
    with pytest.raises(InputError, match=r"^b\.log: not a Xen or Linux boot log: "):
        rmrrs_from_log(text, "b.log")


def test_real_log_without_rmrr_is_warning_exit_0(capsys, tmp_path):
    log = tmp_path / "xl-dmesg.txt"
    log.write_text("(XEN) Xen version 4.17.3\n(XEN) Intel VT-d Snoop Control enabled.\n")
    rc, out, _ = run(capsys, "host", "--xen-log", log, "--json")
    assert rc == 0 and [f["code"] for f in json.loads(out)["findings"]] == ["log-no-rmrr"]


def test_topology_unknown_wording_does_not_blame_missing_options(capsys):
    rc, out, _ = run(capsys, "create", "-n", CFG, "--dmar", FX / "laptop-typical.bin", "--json")
    found = [f for f in json.loads(out)["findings"] if f["code"] == "device-presence-assumed"]
    assert found and "(no --host-json" not in found[0]["message"]
    assert "the host data lists no PCI devices" in found[0]["message"]
