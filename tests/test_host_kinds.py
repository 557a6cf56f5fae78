"""Host data given to the wrong option is named for what it is, with the option that reads it
(issue 11, host-data honesty); a boot log's banner gives the release it was collected under;
RMRR-like log lines that do not parse are warnings naming the line."""

from __future__ import annotations

import io
import itertools
import json
import tarfile

import pytest
from conftest import FIXTURES

from xlrmrr.acpi.readers import unparsed_rmrr_lines, xen_version_from_log
from xlrmrr.cli import main
from xlrmrr.host import kinds

CFG = FIXTURES / "guests" / "usb-strict-boundary.cfg"
TABLE = FIXTURES / "dmar" / "laptop-typical.bin"
HOSTJ = FIXTURES / "hosts" / "laptop.json"
XEN_LOG = """\
 __  __            _  _    _ _____
(XEN) Xen version 4.13.2 (root@build) (gcc (Debian 8.3.0-6) 8.3.0) debug=n  Tue Nov 10 2020
(XEN) [VT-D]found ACPI_DMAR_RMRR:
(XEN) [VT-D] endpoint: 0000:00:14.0
(XEN) [VT-D]  RMRR region: base_addr ab80a000 end_address ab81dfff
"""


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("kinds")
    raw = TABLE.read_bytes()
    dump = ["DMAR @ 0x0000000000000000"] + [
        f"    {o:04X}: " + " ".join(f"{b:02X}" for b in raw[o:o + 16]) for o in range(0, len(raw), 16)]
    (d / "acpidump.txt").write_text("\n".join(dump) + "\n")
    (d / "xl-dmesg.txt").write_text(XEN_LOG)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("DMAR")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    (d / "host.tar.gz").write_bytes(buf.getvalue())
    return {kinds.DMAR: TABLE, kinds.ACPIDUMP: d / "acpidump.txt", kinds.BOOT_LOG: d / "xl-dmesg.txt",
            kinds.HOST_JSON: HOSTJ, kinds.SNAPSHOT: d / "host.tar.gz"}


def test_file_kind_of_each_kind(files):
    for kind, path in files.items():
        assert kinds.file_kind(path.read_bytes()) == kind, path
    assert kinds.file_kind(CFG.read_bytes()) is None
    assert kinds.file_kind(b"") is None


@pytest.mark.parametrize(("given", "actual"), list(itertools.permutations(
    [kinds.DMAR, kinds.ACPIDUMP, kinds.BOOT_LOG, kinds.HOST_JSON, kinds.SNAPSHOT], 2)))
def test_wrong_option_names_the_kind_and_the_right_option(capsys, files, given, actual):
    path = files[actual]
    argv = ["create", CFG, "--dry-run", kinds.OPTION[given], path]
    if given == kinds.HOST_JSON:
        argv += ["--dmar", TABLE]          # --host-json alone does not give the table
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"xlrmrr create: error: {path}: this is {kinds.WHAT[actual]}, not "
                          f"{kinds.WHAT[given]} ({kinds.OPTION[given]}): give it with "
                          f"{kinds.OPTION[actual]} {path}"), err


def test_acpidump_text_given_as_dmar_no_longer_blames_the_table_length(capsys, files):
    rc, _, err = run(capsys, "create", CFG, "--dry-run", "--dmar", files[kinds.ACPIDUMP])
    assert rc == 2 and "Length" not in err and "give it with --acpidump" in err


def test_unrecognised_content_keeps_the_reader_own_error(capsys, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"SSDT" + bytes(60))
    rc, _, err = run(capsys, "create", CFG, "--dry-run", "--dmar", junk)
    assert rc == 2 and "signature b'SSDT' at offset 0x0 is not DMAR" in err


def test_banner_release_is_modelled_and_said(capsys, files):
    assert xen_version_from_log(XEN_LOG) == ("4.13.2", 2)
    rc, out, _ = run(capsys, "create", CFG, "--dry-run", "--xen-log", files[kinds.BOOT_LOG],
                     "--json")
    doc = json.loads(out)
    assert doc["xen_version"].startswith("4.13"), doc["xen_version"]
    notes = [f["message"] for f in doc["findings"] if f["code"] == "xen-version-from-host"]
    assert notes and "modelling Xen 4.13.2" in notes[0] and str(files[kinds.BOOT_LOG]) in notes[0]


def test_linux_dom0_banner_and_explicit_release_wins(capsys, tmp_path):
    log = tmp_path / "dmesg.txt"
    log.write_text("[    0.000000] Xen version: 4.17.3-pre (preserve-AD)\n"
                   "[    0.163589] DMAR: RMRR base: 0x000000ab80a000 end: 0x000000ab81dfff\n")
    assert xen_version_from_log(log.read_text()) == ("4.17.3", 1)
    assert kinds.file_kind(log.read_bytes()) == kinds.BOOT_LOG      # "[" opens it, not JSON
    rc, out, _ = run(capsys, "host", "--xen-log", log, "--json")
    assert json.loads(out)["xen_version"].startswith("4.17")
    rc, out, _ = run(capsys, "host", "--xen-log", log, "--json", "--xen-version", "4.15")
    assert json.loads(out)["xen_version"].startswith("4.15")


def test_unmodelled_banner_release_is_a_warning_not_used(capsys, tmp_path):
    log = tmp_path / "old.txt"
    log.write_text("(XEN) Xen version 4.4.1 (x) (gcc) debug=n\n"
                   "(XEN) [VT-D]  RMRR region: base_addr ab80a000 end_address ab81dfff\n")
    rc, out, _ = run(capsys, "host", "--xen-log", log, "--json")
    doc = json.loads(out)
    codes = [f["code"] for f in doc["findings"]]
    assert rc == 0 and "log-xen-version" in codes
    msg = next(f["message"] for f in doc["findings"] if f["code"] == "log-xen-version")
    assert msg.startswith(f"{log}:1: Xen 4.4.1 is not modelled")


def test_rmrr_lines_that_do_not_parse_are_named(capsys, tmp_path):
    text = ("(XEN) [VT-D]found ACPI_DMAR_RMRR:\n"
            "(XEN) [VT-D]  RMRR region: base_addr ab80a000 end_addr\n"        # cut
            "(XEN) RMRR: [0xb0000000, 0xb00fffff] is not (entirely) in reserved memory\n"
            "[    0.16] DMAR: RMRR base: 0x000000ad000000 end: 0x000000af7fffff\n"
            "[    0.17] DMAR: RMRR base: 0xzz end: 0x1\n")
    assert unparsed_rmrr_lines(text) == (
        (2, "(XEN) [VT-D]  RMRR region: base_addr ab80a000 end_addr"),
        (5, "[    0.17] DMAR: RMRR base: 0xzz end: 0x1"))
    log = tmp_path / "boot.log"
    log.write_text(text)
    rc, out, _ = run(capsys, "host", "--xen-log", log, "--json")
    doc = json.loads(out)
    msgs = [f["message"] for f in doc["findings"] if f["code"] == "log-rmrr-unparsed"]
    assert [m.split(":", 2)[1] for m in msgs] == ["2", "5"]
    assert "log-no-rmrr" not in {f["code"] for f in doc["findings"]}


def test_log_of_only_unparsed_lines_is_not_called_rmrr_free(capsys, tmp_path):
    log = tmp_path / "boot.log"
    log.write_text("(XEN) [VT-D]  RMRR region: base_addr ab80a000\n")
    rc, out, _ = run(capsys, "host", "--xen-log", log, "--json")
    codes = [f["code"] for f in json.loads(out)["findings"]]
    assert "log-rmrr-unparsed" in codes and "log-no-rmrr" not in codes


# A boot log that does not list the host's RMRRs cannot decide a guest that passes devices
# through: verdict "unknown", exit 2 (input that cannot answer), no fix proposed (no config
# change supplies host data), and check marks the devices "?" instead of "1:1".
NO_RMRR_LOG = "(XEN) Xen version 4.17.3 (x) (gcc) debug=n\n(XEN) Intel VT-d Snoop Control enabled.\n"
ONE_RMRR_LOG = ("(XEN) [VT-D]found ACPI_DMAR_RMRR:\n(XEN) [VT-D] endpoint: 0000:00:14.0\n"
                "(XEN) [VT-D]  RMRR region: base_addr ab80a000 end_address ab81dfff\n")
SMALL = FIXTURES / "guests" / "small.cfg"          # pci = [ '00:14.0' ], default rdm=


@pytest.fixture
def log(tmp_path):
    def make(text):
        p = tmp_path / "xl-dmesg.txt"
        p.write_text(text)
        return p
    return make


def test_log_without_rmrr_lines_gives_unknown_for_a_passthrough_guest(capsys, log):
    path = log(NO_RMRR_LOG)
    rc, out, err = run(capsys, "create", SMALL, "--dry-run", "--xen-log", path)
    # exit 2, so exactly one stderr line naming the input, as for every exit 2
    assert err == (f"xlrmrr create: error: {path}: no RMRR line: the host's RMRRs are unknown, so "
                   f"this plan cannot tell whether the guest works (verdict unknown)\n")
    first = out.splitlines()[0]
    assert rc == 2 and first.startswith(f"{SMALL}: UNKNOWN: the host data does not say which RMRRs")
    assert first.endswith("(exit 2)") and "Remediation" not in out
    rc, out, _ = run(capsys, "create", SMALL, "--dry-run", "--xen-log", path, "--json")
    doc = json.loads(out)
    assert (rc, doc["verdict"], doc["exit_status"]) == (2, "unknown", 2)
    msg = next(f["message"] for f in doc["findings"] if f["code"] == "rmrrs-unknown")
    assert msg.startswith(f"{path}: no RMRR line, so whether this guest's devices have RMRRs "
                          f"cannot be told")


def test_guest_without_passthrough_stays_ok(capsys, log, tmp_path):
    no_pci = tmp_path / "plain.cfg"
    no_pci.write_text('name = "plain"\ntype = "hvm"\nmemory = 2048\n')
    rc, out, _ = run(capsys, "create", no_pci, "--dry-run", "--xen-log", log(NO_RMRR_LOG), "--json")
    doc = json.loads(out)
    assert (rc, doc["verdict"]) == (0, "ok")
    assert "rmrrs-unknown" not in {f["code"] for f in doc["findings"]}


def test_log_with_rmrr_lines_is_decided(capsys, log):
    rc, out, _ = run(capsys, "create", SMALL, "--dry-run", "--xen-log", log(ONE_RMRR_LOG), "--json")
    assert json.loads(out)["verdict"] != "unknown" and rc != 2


def test_one_unparsed_rmrr_line_makes_it_unknown(capsys, log):
    path = log(ONE_RMRR_LOG + "(XEN) [VT-D]  RMRR region: base_addr ad000000 end_addr\n")
    rc, out, _ = run(capsys, "create", SMALL, "--dry-run", "--xen-log", path, "--json")
    doc = json.loads(out)
    if doc["verdict"] in ("blocked", "degraded"):
        pytest.fail("the parsed RMRR alone should plan fine for small.cfg")
    assert (rc, doc["verdict"]) == (2, "unknown")
    msg = next(f["message"] for f in doc["findings"] if f["code"] == "rmrrs-unknown")
    assert msg.startswith(f"{path}:4: an RMRR line that does not parse, so")


def test_check_marks_unknown_devices_and_exits_2(capsys, log):
    rc, out, err = run(capsys, "check", SMALL, "--xen-log", log(NO_RMRR_LOG))
    assert rc == 2 and err.count("\n") == 1 and err.startswith("xlrmrr check: error: ")
    row = next(line for line in out.splitlines() if line.strip().startswith(str(SMALL))
               and line.rstrip().endswith("?"))
    assert row.split()[-1] == "?"
    assert "; ? = assigned, RMRRs unknown" in out and "UNKNOWN" in out.splitlines()[-1]


def test_pci_attach_with_unknown_rmrrs_is_unknown(capsys, log):
    path = log(NO_RMRR_LOG)
    rc, out, err = run(capsys, "pci-attach", SMALL, "00:1a.0", "--dry-run", "--xen-log", path)
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"xlrmrr pci-attach: error: {path}: no RMRR line: the host's RMRRs are "
                          f"unknown")
    assert out.rstrip().endswith("Verdict: UNKNOWN: `xl pci-attach` assigns the device, but the "
                                 "host data does not list the host's RMRRs")
    rc, out, _ = run(capsys, "pci-attach", SMALL, "00:1a.0", "--dry-run", "--xen-log", path, "--json")
    doc = json.loads(out)
    assert (rc, doc["exit_status"], doc["rmrrs_known"]) == (2, 2, False)
    # with a log that lists the RMRRs the same attach is decided (the device has none listed)
    rc, out, _ = run(capsys, "pci-attach", SMALL, "00:1a.0", "--dry-run", "--xen-log",
                     log(ONE_RMRR_LOG), "--json")
    doc = json.loads(out)
    assert doc["rmrrs_known"] is True and rc != 2
