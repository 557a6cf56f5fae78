"""Readers: acpidump text (checked against ACPICA's own acpidump), boot logs, rmrr= option."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import CORPUS, FIXTURES, need

from xlrmrr.acpi.readers import dmar_from_acpidump, parse_rmrr_option, rmrrs_from_log
from xlrmrr.common import InputError, Sbdf

ACPIDUMP = shutil.which("acpidump")


def _acpidump(path) -> str:
    return subprocess.run([ACPIDUMP, "-f", str(path)], capture_output=True, text=True,
                          check=True).stdout


def test_acpidump_text_of_every_corpus_table(tmp_path):
    need(ACPIDUMP is not None, "acpidump (acpica-tools) is not installed")
    need((CORPUS / "dmar").is_dir(), "shared corpus")
    # a full dump: another table first, then the DMAR
    other = tmp_path / "ssdt.bin"
    body = b"SSDT" + (60).to_bytes(4, "little") + bytes(52)
    other.write_bytes(body)
    prefix = _acpidump(other)
    tables = sorted((CORPUS / "dmar").glob("*.bin"))[::17] + [FIXTURES / "dmar" / "usb-shared.bin"]
    for path in tables:
        text = prefix + "\n" + _acpidump(path)
        assert dmar_from_acpidump(text, path.name) == path.read_bytes(), path.name


def test_acpidump_errors():
    with pytest.raises(InputError, match="no DMAR table"):
        dmar_from_acpidump("SSDT @ 0x0\n    0000: 53 53 44 54\n", "d.txt")
    text = ("DMAR @ 0x0000000000000000\n"
            "    0000: 44 4D 41 52 CC 00 00 00 01 13 41 43 52 53 59 53  DMAR......ACRSYS\n\n")
    with pytest.raises(InputError, match=r"^d.txt:3: the DMAR hex dump \(from line 1\) ends "
                                         r"after 0x10 bytes of 0xcc: blank line$"):
        dmar_from_acpidump(text, "d.txt")
    with pytest.raises(InputError, match=r"^d.txt:2: .* ends after 0x10 bytes of 0xcc: end of "
                                         r"file$"):
        dmar_from_acpidump(text.rstrip("\n"), "d.txt")


def test_acpidump_error_names_the_failing_line():
    """The fixture dumped as acpidump prints it, one byte spoilt on line 4 (offset 0x20 + 3):
    the error is on line 4 and names the byte, not line 1 'ends after 0x20 bytes'."""
    raw = (FIXTURES / "dmar" / "laptop-typical.bin").read_bytes()
    lines = ["DMAR @ 0x0000000000000000"] + [
        f"    {o:04X}: " + " ".join(f"{b:02X}" for b in raw[o:o + 16]) for o in range(0, len(raw), 16)]
    assert dmar_from_acpidump("\n".join(lines), "d.txt") == raw
    bad = list(lines)
    bad[3] = bad[3][:19] + "ZZ" + bad[3][21:]
    assert bad[3].startswith("    0020: ") and bad[3][19:21] == "ZZ"
    with pytest.raises(InputError, match=r"^d.txt:4: 'ZZ' is not a hex byte \(two hex digits\) "
                                         r"at offset 0x23$"):
        dmar_from_acpidump("\n".join(bad), "d.txt")
    bad[3] = "    0020: zz" + lines[3][12:]      # the first byte: the line no longer parsed
    with pytest.raises(InputError, match=r"^d.txt:4: 'zz' is not a hex byte .* offset 0x20$"):
        dmar_from_acpidump("\n".join(bad), "d.txt")
    bad[3] = "    0020 44 4D"
    with pytest.raises(InputError, match=r"^d.txt:4: the DMAR hex dump \(from line 1\) ends after "
                                         r"0x20 bytes of 0xa8: '0020 44 4D' is not a hex dump line"):
        dmar_from_acpidump("\n".join(bad), "d.txt")
    bad = lines[:4] + ["    0030: 00 11"] + lines[5:]
    with pytest.raises(InputError, match=r"^d.txt:5: 2 hex bytes at offset 0x30, expected 16$"):
        dmar_from_acpidump("\n".join(bad), "d.txt")


XEN_LOG = """\
(XEN) [VT-D]Host address width 39
(XEN) [VT-D]found ACPI_DMAR_DRHD:
(XEN) [VT-D]  dmaru->address = fed90000
(XEN) [VT-D]drhd->address = fed90000 iommu->reg = ffff82c000a00000
(XEN) [VT-D] endpoint: 0000:00:02.0
(XEN) [VT-D]found ACPI_DMAR_RMRR:
(XEN) [VT-D] endpoint: 0000:00:14.0
(XEN) [VT-D]  RMRR region: base_addr ab80a000 end_address ab81dfff
(XEN) [VT-D]found ACPI_DMAR_RMRR:
(XEN) [VT-D] endpoint: 0000:00:1a.0
(XEN) [VT-D] endpoint: 0000:00:1d.0
(XEN) [VT-D]  RMRR region: base_addr e8000 end_address ebfff
"""

LINUX_LOG = """\
[    0.008832] ACPI: DMAR 0x00000000AD7FE000 0000A8 (v01 INTEL  SKL      00000001 INTL 00000001)
[    0.163581] DMAR: Host address width 39
[    0.163589] DMAR: RMRR base: 0x000000ab80a000 end: 0x000000ab81dfff
[    0.163592] DMAR: RMRR base: 0x000000ad000000 end: 0x000000af7fffff
"""


def test_xen_log():
    r = rmrrs_from_log(XEN_LOG, "xl-dmesg.txt")
    assert [(x.base, x.end) for x in r] == [(0xAB80A000, 0xAB81DFFF), (0xE8000, 0xEBFFF)]
    assert r[0].devices == (Sbdf(0, 0, 0x14, 0),)
    assert r[1].devices == (Sbdf(0, 0, 0x1A, 0), Sbdf(0, 0, 0x1D, 0))
    assert r[1].source == "xl-dmesg.txt:12"


def test_newer_xen_log_format():
    log = ("(XEN) [VT-D]found ACPI_DMAR_RMRR:\n"
           "(XEN) [VT-D] endpoint: 0000:00:14.0\n"
           "(XEN) RMRR: [0xab80a000, 0xab81d000] is not (entirely) in reserved memory\n"
           "(XEN) [VT-D]dmar.c:608:  RMRR: [ab80a000,ab81dfff]\n"
           "(XEN) [VT-D]Overlapping RMRRs [ab80a000,ab81dfff] and [ab81d000,ab82ffff]\n")
    r = rmrrs_from_log(log, "x")
    assert [(x.base, x.end, x.devices) for x in r] == [(0xAB80A000, 0xAB81DFFF,
                                                        (Sbdf(0, 0, 0x14, 0),))]


def test_linux_log():
    r = rmrrs_from_log(LINUX_LOG, "dmesg")
    assert [(x.base, x.end, x.devices) for x in r] == [(0xAB80A000, 0xAB81DFFF, ()),
                                                       (0xAD000000, 0xAF7FFFFF, ())]


def test_log_host_order_and_warning():
    from xlrmrr.host.build import build_host
    from xlrmrr.host.model import reserved_device_memory_map

    host = build_host(None, log_rmrrs=rmrrs_from_log(XEN_LOG, "x"))
    assert [r.base for r in host.rmrrs] == [0xE8000, 0xAB80A000]      # reverse table order
    assert reserved_device_memory_map(host) == ((0xE8, 4), (0xAB80A, 0x14))
    linux = build_host(None, log_rmrrs=rmrrs_from_log(LINUX_LOG, "dmesg"))
    assert {f.code for f in linux.findings} == {"log-rmrr-no-devices"}
    # Xen knows the devices Linux does not print: XENMEM_RDM_ALL reports both ranges, in
    # Xen's (reverse table) order; 0xad000000-0xaf7fffff is 0x2800 pages, the xHCI one 0x14
    assert reserved_device_memory_map(linux) == ((0xAD000, 0x2800), (0xAB80A, 0x14))
    assert reserved_device_memory_map(linux, Sbdf(0, 0, 0x14, 0)) == ()
    assert [r.unresolved for r in linux.rmrrs] == [("devices not named in the boot log",)] * 2


def test_rmrr_option():
    r = parse_rmrr_option("rmrr=e8-eb=0000:00:1d.0,00:1a.0;ab80a=00:14.0")
    assert [(u.start_pfn, u.end_pfn, u.devices) for u in r] == [
        (0xE8, 0xEB, (Sbdf(0, 0, 0x1D, 0), Sbdf(0, 0, 0x1A, 0))),
        (0xAB80A, 0xAB80A, (Sbdf(0, 0, 0x14, 0),))]
    for bad in ("e8-eb", "zz=00:1d.0", "e8=00:1d.9"):
        with pytest.raises(InputError):
            parse_rmrr_option(bad)


def test_sysfs_path_in_a_xen_dom0():
    from xlrmrr.acpi.readers import sysfs_dmar_path

    assert sysfs_dmar_path(lambda p: p.endswith("/RMAD")) == "/sys/firmware/acpi/tables/RMAD"
    assert sysfs_dmar_path(lambda p: p.endswith("/XMAR")) == "/sys/firmware/acpi/tables/XMAR"
    assert sysfs_dmar_path(lambda p: True) == "/sys/firmware/acpi/tables/DMAR"
    assert sysfs_dmar_path(lambda p: False) == "/sys/firmware/acpi/tables/DMAR"


def test_xmar_signature_decodes():
    from xlrmrr.acpi.dmar import decode

    raw = bytearray((FIXTURES / "dmar" / "laptop-typical.bin").read_bytes())
    raw[0] = ord("X")
    raw[9] = (raw[9] - (ord("X") - ord("D"))) & 0xFF      # what Xen 4.6 did to the checksum
    d = decode(bytes(raw))
    assert d.signature == b"XMAR" and d.checksum_valid


def test_log_device_out_of_range_names_line():
    # dev 0xff > 0x1f: the regex accepts two hex digits, Sbdf.parse refuses the value
    log = ("(XEN) [VT-D]found ACPI_DMAR_RMRR:\n(XEN) [VT-D] endpoint: 0000:00:ff.0\n"
           "(XEN) [VT-D]  RMRR region: base_addr 1000 end_address 1fff\n")
    with pytest.raises(InputError, match=r"^boot.log:2: PCI address out of range: "
                                         r"'0000:00:ff.0'"):
        rmrrs_from_log(log, "boot.log")


def test_log_rmrr_end_before_base():
    with pytest.raises(InputError, match=r"^b:1: RMRR ends \(0x1000\) before it starts \(0x2000\)"):
        rmrrs_from_log("(XEN) [VT-D]  RMRR region: base_addr 2000 end_address 1000\n", "b")
    with pytest.raises(InputError, match=r"^b:2: RMRR ends"):
        rmrrs_from_log("x\nDMAR: RMRR base: 0x2000 end: 0x1fff\n", "b")
    # base == end is one byte: accepted (Xen's check is base > end)
    assert [(r.base, r.end) for r in rmrrs_from_log("DMAR: RMRR base: 0x2000 end: 0x2000",
                                                    "b")] == [(0x2000, 0x2000)]


@pytest.mark.parametrize("text", ["0xab80a-0xab81d=00:14.0", "ab80a-ab81d=00:14.0",
                                  "rmrr=0XAB80A-ab81d=00:14.0", "ab80a-0xAB81D=00:14.0"])
def test_rmrr_option_hex_prefix(text):
    # Xen: parse_rmrr_param reads start and end with simple_strtoull(s, &s, 16), which skips a
    # leading "0x"/"0X"; all four spell pages 0xab80a..0xab81d (0x14 pages) for 00:14.0.
    (r,) = parse_rmrr_option(text)
    assert (r.start_pfn, r.end_pfn, r.devices) == (0xAB80A, 0xAB81D, (Sbdf(0, 0, 0x14, 0),))


@pytest.mark.parametrize("bad", ["0x=00:14.0", "0xx1=00:14.0", "ab80a-0x=00:14.0"])
def test_rmrr_option_prefix_needs_digits(bad):
    with pytest.raises(InputError, match=r"character 1: .* is not start\[-end\]"):
        parse_rmrr_option(bad)
