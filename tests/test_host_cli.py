"""End-to-end: `xlrmrr dmar` and `xlrmrr host` as an administrator runs them."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import FIXTURES, bounds, need

from xlrmrr.cli import main

FX = FIXTURES / "dmar"
HOSTS = FIXTURES / "hosts"


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_dmar_json_field_names(capsys):
    rc, out, _ = run(capsys, "dmar", FX / "namespace-scopes.bin", "--json")
    assert rc == 0
    j = json.loads(out)
    assert list(j) == ["schema_version", "command", "source", "signature", "length", "revision",
                       "checksum", "checksum_valid", "oem_id", "oem_table_id", "oem_revision",
                       "asl_compiler_id", "asl_compiler_revision", "host_address_width_field",
                       "host_address_width_bits", "flags", "structures", "findings"]
    # the header's field holds N for an N+1-bit platform (VT-d spec 8.1; Xen's acpi_parse_dmar:
    # dmar_host_address_width = dmar->width + 1): the fixture's 0x26 is 39 bits
    assert (j["host_address_width_field"], j["host_address_width_bits"]) == (0x26, 39)
    by_type = {s["type_name"]: s for s in j["structures"]}
    assert list(by_type["DRHD"]) == ["offset", "type", "type_name", "length", "flags",
                                     "size_field", "segment", "register_base", "scopes"]
    assert list(by_type["RMRR"]) == ["offset", "type", "type_name", "length", "segment",
                                     "base_address", "end_address", "start", "size", "scopes"]
    rmrr = by_type["RMRR"]
    assert (rmrr["start"], rmrr["size"]) == (
        rmrr["base_address"], rmrr["end_address"] - rmrr["base_address"] + 1)
    assert list(by_type["ANDD"]) == ["offset", "type", "type_name", "length", "device_number",
                                     "device_name"]
    assert list(by_type["RMRR"]["scopes"][0]) == ["offset", "type", "length", "flags",
                                                  "enumeration_id", "bus", "path"]
    assert by_type["RMRR"]["scopes"][0]["path"] == [[2, 0]]


def test_dmar_text(capsys):
    rc, out, _ = run(capsys, "dmar", FX / "bug-bad-checksum.bin")
    assert rc == 0
    assert "checksum 0x42 (INVALID)" in out
    assert "Incorrect checksum in table [DMAR] - 0x42, should be" in out


def test_dmar_json_carries_the_firmware_findings(capsys):
    # the findings the text lists under "firmware findings:" (and the README promises), with
    # their codes: the checksum byte is 0x42 where the table's bytes need another
    rc, out, _ = run(capsys, "dmar", FX / "bug-bad-checksum.bin", "--json")
    j = json.loads(out)
    rc, text, _ = run(capsys, "dmar", FX / "bug-bad-checksum.bin")
    assert rc == 0 and j["checksum"] == 0x42 and not j["checksum_valid"] and j["findings"]
    listed = text.split("firmware findings:\n", 1)[1].splitlines()
    assert listed == [f"  {f['severity']}: {f['message']}" for f in j["findings"]]
    assert any("Incorrect checksum in table [DMAR] - 0x42" in f["message"] for f in j["findings"])
    rc, out, _ = run(capsys, "dmar", FX / "laptop-typical.bin", "--json")
    assert json.loads(out)["findings"] == []


@pytest.mark.parametrize("path", sorted(FX.glob("*.bin")), ids=lambda p: p.stem)
def test_dmar_json_reads_back_as_the_table(capsys, path):
    # acpi.dmar.from_json takes dmar --json's field names (host_address_width_field, size_field,
    # base_address, end_address) as it takes the fixtures' own: the same table comes back
    from xlrmrr.acpi.dmar import build, decode, from_json

    rc, out, _ = run(capsys, "dmar", path, "--json")
    if rc != 0:
        return                  # a table the decoder refuses (bug-truncated and the like)
    # the same bytes as the library's own JSON form gives (namespace-scopes and odd-fields
    # carry bytes that form does not keep, so neither comes back byte for byte either way)
    assert build(from_json(json.loads(out))) == build(from_json(decode(path.read_bytes()).to_json()))


def test_dmar_acpidump_input(capsys, tmp_path):
    acpidump = shutil.which("acpidump")
    need(acpidump is not None, "acpidump (acpica-tools) is not installed")
    text = subprocess.run([acpidump, "-f", str(FX / "laptop-typical.bin")],
                          capture_output=True, text=True, check=True).stdout
    dump = tmp_path / "acpidump.txt"
    dump.write_text(text)
    rc, out2, _ = run(capsys, "dmar", dump, "--json")
    rc1, out1, _ = run(capsys, "dmar", FX / "laptop-typical.bin", "--json")
    j1, j2 = json.loads(out1), json.loads(out2)
    assert (j1.pop("source"), j2.pop("source")) == (str(FX / "laptop-typical.bin"), str(dump))
    assert rc == rc1 == 0 and j1 == j2


def test_dmar_bad_input_exit_2(capsys, tmp_path):
    rc, out, err = run(capsys, "dmar", FX / "bug-scope-zero-length.bin")
    assert rc == 2 and out == ""
    assert err.startswith("xlrmrr dmar: error: ")
    assert "device scope at offset 0x80 in structure at offset 0x68 (RMRR): length 0x0" in err
    rc, _, err = run(capsys, "dmar", tmp_path / "missing.bin")
    assert rc == 2 and "cannot read DMAR table" in err


def test_host_laptop_json(capsys):
    rc, out, _ = run(capsys, "host", "--dmar", FX / "laptop-typical.bin", "--host-json",
                     HOSTS / "laptop.json", "--json", "--xen-version", "4.17")
    assert rc == 0
    j = json.loads(out)
    assert j["vtd_enabled"] and j["xen_version"] == "4.17" and j["topology_known"]
    assert [(*bounds(r), r["devices"]) for r in j["rmrrs"]] == [
        (0xAD000000, 0xAF7FFFFF, ["0000:00:02.0"]), (0xAB80A000, 0xAB81DFFF, ["0000:00:14.0"])]
    assert [r["size"] for r in j["rmrrs"]] == [40 << 20, 80 << 10]
    assert j["rdm_all"] == [{"start_pfn": 0xAD000, "nr_pages": 0x2800},
                            {"start_pfn": 0xAB80A, "nr_pages": 0x14}]
    igd, xhci = j["devices"]
    assert igd["class_name"] == "VGA display controller"
    assert igd["rdm"] == [{"start_pfn": 0xAD000, "nr_pages": 0x2800}]
    assert igd["rmrrs"] == [{"start": 0xAD000000, "size": 40 << 20}]
    assert xhci["class_name"] == "USB controller (xHCI)" and xhci["reset_method"] == "pm"
    assert j["groups"] == []


def test_host_text_shared_and_rejected(capsys):
    rc, out, _ = run(capsys, "host", "--dmar", FX / "usb-shared.bin")
    assert rc == 0
    assert "  0000:00:14.0 0000:00:1a.0 0000:00:1d.0" in out
    assert "It's disallowed to assign" in out
    rc, out, _ = run(capsys, "host", "--dmar", FX / "bug-rmrr-overlap.bin")
    assert rc == 1
    assert "VT-d: DISABLED" in out
    assert "Overlapping RMRRs [ab80a000,ab81dfff] and [ab81d000,ab82ffff]" in out


def test_host_rmrr_option_and_xen_log(capsys, tmp_path):
    rc, out, _ = run(capsys, "host", "--dmar", FX / "laptop-typical.bin", "--rmrr",
                     "e8-eb=00:1d.0", "--json")
    j = json.loads(out)
    assert j["rmrrs"][0]["source"] == "rmrr=e8-eb=00:1d.0"
    assert bounds(j["rmrrs"][0]) == (0xE8000, 0xEBFFF)
    log = tmp_path / "dmesg.txt"
    log.write_text("[    0.163589] DMAR: RMRR base: 0x000000ab80a000 end: 0x000000ab81dfff\n")
    rc, out, _ = run(capsys, "host", "--xen-log", log, "--json")
    j = json.loads(out)
    assert rc == 0 and j["rmrrs"][0]["start"] == 0xAB80A000
    assert j["findings"][0]["code"] == "log-rmrr-no-devices"
    assert j["rdm_all"] == [{"start_pfn": 0xAB80A, "nr_pages": 0x14}] and j["devices"] == []


def test_host_output_is_deterministic(capsys):
    args = ("host", "--dmar", FX / "bridges-multilevel.bin", "--host-json", HOSTS / "bridges.json")
    assert run(capsys, *args) == run(capsys, *args)


def test_snapshot_without_dmar_plus_table(capsys, tmp_path):
    from xlrmrr.host.load import read_host_json
    from xlrmrr.host.snapshot import write_snapshot

    snap = tmp_path / "s.tar.gz"
    snap.write_bytes(write_snapshot(None, read_host_json(str(HOSTS / "laptop.json")), []))
    rc, _, err = run(capsys, "host", "--snapshot", snap)
    assert rc == 2 and "the snapshot has no DMAR table" in err
    rc, out, _ = run(capsys, "host", "--snapshot", snap, "--dmar", FX / "laptop-typical.bin",
                     "--json")
    j = json.loads(out)
    assert rc == 0 and j["topology_known"] and j["snapshot_xen_version"] == "4.17"
    assert j["xen_version"] == "4.17"            # the snapshot's release unless --xen-version


def test_host_bad_xen_log_is_one_line_exit_2(capsys, tmp_path):
    log = tmp_path / "xl-dmesg.txt"
    log.write_text("(XEN) [VT-D]found ACPI_DMAR_RMRR:\n(XEN) [VT-D] endpoint: 0000:00:ff.0\n")
    rc, out, err = run(capsys, "host", "--xen-log", log)
    assert rc == 2 and out == ""
    assert err.startswith(f"xlrmrr host: error: {log}:2: PCI address out of range")
    assert err.count("\n") == 1
    log.write_text("(XEN) [VT-D]  RMRR region: base_addr 2000 end_address 1000\n")
    rc, _, err = run(capsys, "host", "--xen-log", log)
    assert rc == 2 and f"{log}:1: RMRR ends (0x1000) before it starts (0x2000)" in err


def _section(out: str, title: str) -> list[str]:
    lines = out.splitlines()
    i = lines.index(title)
    return lines[i + 1:lines.index("", i)]


def test_host_text_does_not_claim_unshared_when_devices_are_unknown(capsys, tmp_path):
    # bridges-multilevel without a topology: one RMRR, two scope paths through bridges
    rc, out, _ = run(capsys, "host", "--dmar", FX / "bridges-multilevel.bin")
    assert rc == 0
    assert _section(out, "devices with RMRRs:") == [
        "  (none known: 1 RMRR(s) name devices xlrmrr cannot resolve, marked ? above)"]
    assert _section(out, "sharing groups (assign all or none of a group, with "
                         "rdm_policy=relaxed):") == [
        "  [0xdf61e000, 0xdf61ffff]: shared by 2 scope entries, 2 of them unresolved: a group "
        "xlrmrr cannot name in full (give --snapshot or --host-json)"]
    assert "every RMRR belongs to one device" not in out
    log = tmp_path / "dmesg.txt"
    log.write_text("[    0.16] DMAR: RMRR base: 0x000000ab80a000 end: 0x000000ab81dfff\n")
    rc, out, _ = run(capsys, "host", "--xen-log", log)
    assert _section(out, "sharing groups (assign all or none of a group, with "
                         "rdm_policy=relaxed):") == [
        "  [0xab80a000, 0xab81dfff]: devices unknown (devices not named in the boot log): it "
        "may be shared (give the DMAR table)"]


def test_host_text_lists_devices_below_a_bridge_scope(capsys):
    rc, out, _ = run(capsys, "host", "--dmar", FX / "sub-hierarchy.bin", "--host-json",
                     HOSTS / "bridges.json")
    assert rc == 0
    tail = (": [0xdf7df000, 0xdf7e4fff] through a bridge scope only (Xen records the bridge: "
            "this device gets no RDM of its own and no identity mapping when assigned)")
    assert _section(out, "devices with RMRRs:") == [
        "  0000:00:1c.0  PCI-to-PCI bridge: [0xdf7df000, 0xdf7e4fff]",
        "  0000:02:00.0  PCI-to-PCI bridge" + tail,
        "  0000:03:01.0  USB controller (EHCI)" + tail,
        "  0000:03:01.1  USB controller (OHCI)" + tail]
    assert _section(out, "sharing groups (assign all or none of a group, with "
                         "rdm_policy=relaxed):") == ["  (none: every RMRR belongs to one device)"]


def test_host_json_device_rmrrs_follow_for_each_rmrr_device():
    """`host --json` lists per device the RMRRs Xen maps for it, by the rule every stage uses
    (xlrmrr.host.index): vtd/dmar.h:for_each_rmrr_device ends an RMRR's scope walk at BDF 0, so
    of the scope 00:14.0, 00:00.0, 00:1a.0 only 00:14.0 gets the RMRR (it used to be listed for
    00:1a.0 too, which XENMEM_reserved_device_memory_map, shown beside it as "rdm", never
    reported); and with VT-d disabled (Xen rejected the DMAR) no device gets any."""
    from xlrmrr.common import Sbdf, XenVersion
    from xlrmrr.host.model import Host, Rmrr
    from xlrmrr.report.host import host_json

    xhci, zero, usb2 = Sbdf(0, 0, 0x14, 0), Sbdf(0, 0, 0, 0), Sbdf(0, 0, 0x1A, 0)
    rmrr = Rmrr(0xAB80A000, 0xAB81DFFF, 0, (xhci, zero, usb2), 3)
    v = XenVersion(4, 17)
    by = {d["sbdf"]: d for d in host_json(Host(rmrrs=(rmrr,)), v)["devices"]}
    assert by[str(xhci)]["rmrrs"] == [{"start": 0xAB80A000, "size": 0x14000}]
    assert by[str(xhci)]["rdm"] != []
    assert by[str(usb2)]["rmrrs"] == [] and by[str(usb2)]["rdm"] == []
    off = host_json(Host(rmrrs=(rmrr,), vtd_enabled=False), v)["devices"]
    assert [d["rmrrs"] for d in off] == [[], [], []]
