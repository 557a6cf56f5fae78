"""Firmware and Xen findings carry the exact texts Xen, Linux and fwts print
(xen/drivers/passthrough/vtd/dmar.c: acpi_parse_dmar, acpi_parse_one_rmrr, register_one_rmrr;
Linux drivers/iommu/intel/dmar.c, iommu.c; fwts src/acpi/dmar/dmar.c), and Xen's reaction
depends on the release modelled."""

from __future__ import annotations

import json

from conftest import FIXTURES

from xlrmrr.acpi.dmar import decode
from xlrmrr.common import XenVersion
from xlrmrr.host.build import build_host
from xlrmrr.host.load import read_host_json
from xlrmrr.host.topology import HostDescription


def host(name: str, version=(4, 22), host_json: str | None = None):
    src = json.loads((FIXTURES / "dmar" / f"{name}.json").read_text())
    hj = host_json or src.get("host")
    desc = read_host_json(str(FIXTURES / "hosts" / f"{hj}.json")) if hj else HostDescription()
    return build_host(decode((FIXTURES / "dmar" / f"{name}.bin").read_bytes()), desc,
                      xen_version=XenVersion(*version))


def messages(h, code: str) -> list[str]:
    return [f.message for f in h.findings if f.code == code]


def test_rmrr_over_ram_depends_on_release():
    new = host("bug-rmrr-over-ram", (4, 19))
    assert not new.vtd_enabled and new.rmrrs == ()
    text = " ".join(messages(new, "rmrr-over-ram"))
    assert '"RMRR: page at 0xad000000 can\'t be converted"' in text
    assert "Failed to parse ACPI DMAR.  Disabling VT-d." in text
    warn = messages(new, "rmrr-not-reserved")
    assert '"RMRR: [0xad000000, 0xaf7ff000] is not (entirely) in reserved memory"' in warn[0]
    mid = host("bug-rmrr-over-ram", (4, 18))
    assert mid.vtd_enabled and len(mid.rmrrs) == 2
    assert (' RMRR [ad000000,af7fffff] not in reserved memory; need "iommu_inclusive_mapping=1"?'
            in " ".join(messages(mid, "rmrr-over-ram")))
    v46 = host("bug-rmrr-over-ram", (4, 6))
    assert ("RMRR address range not in reserved memory base = ad000000 end = af7fffff; "
            "iommu_inclusive_mapping=1 parameter may be needed." in
            " ".join(messages(v46, "rmrr-over-ram")))
    old = host("bug-rmrr-over-ram", (4, 13))
    assert ('  RMRR address range ad000000..af7fffff not in reserved memory; need '
            '"iommu_inclusive_mapping=1"?' in " ".join(messages(old, "rmrr-over-ram")))


def test_rmrr_in_e820_hole():
    h = host("bug-rmrr-not-reserved", (4, 22))
    assert h.vtd_enabled
    assert any("RMRR: [0xb0000000, 0xb00ff000] is not (entirely) in reserved memory" in m
               for m in messages(h, "rmrr-not-reserved"))
    # Linux's arch_rmrr_sanity_check wording, from the firmware checks
    assert any("No firmware reserved region can cover this RMRR "
               "[0x00000000b0000000-0x00000000b00fffff]" in m
               for m in messages(h, "rmrr-not-reserved"))


def test_linux_bad_rmrr_text():
    h = host("bug-rmrr-unaligned")
    assert ('"Your BIOS is broken; bad RMRR [0x00000000ab80a800-0x00000000ab81d7ff]"'
            in messages(h, "bad-rmrr")[0])
    assert h.vtd_enabled and h.rmrrs[1].nr_pages == 0x14


def test_absent_device_ignores_rmrr():
    h = host("bug-scope-absent-device")
    assert '" Non-existent device (0000:00:1d.7) is reported in RMRR [e8000, e8fff]\'s scope!"' \
        in messages(h, "rmrr-device-absent")[0]
    assert '" Ignore RMRR [e8000,e8fff] as no device under its scope is PCI discoverable!"' in \
        messages(h, "rmrr-ignored")[0]
    assert 0xE8000 not in [r.base for r in h.rmrrs]
    # without a topology Xen's presence check cannot be modelled: the RMRR stays
    assert 0xE8000 in [r.base for r in build_host(decode(
        (FIXTURES / "dmar" / "bug-scope-absent-device.bin").read_bytes())).rmrrs]
    # before 4.12 no PCI segment was known while the DMAR was parsed: no presence check
    assert 0xE8000 in [r.base for r in host("bug-scope-absent-device", (4, 11)).rmrrs]


def test_drhd_scope_device_absent_only_warns():
    laptop = read_host_json(str(FIXTURES / "hosts" / "laptop.json"))
    no_igd = HostDescription(devices=tuple(f for f in laptop.devices
                                           if str(f.sbdf) != "0000:00:02.0"),
                             topology_known=True)
    raw = (FIXTURES / "dmar" / "laptop-typical.bin").read_bytes()
    h = build_host(decode(raw), no_igd)
    assert h.vtd_enabled
    assert '" Non-existent device (0000:00:02.0) in this DRHD\'s scope!"' in \
        messages(h, "drhd-device-absent")[0]
    # the IGD's RMRR has no present device either: Xen ignores it, the xHCI one stays
    assert [r.base for r in h.rmrrs] == [0xAB80A000]


def test_zero_haw_drhd_zero_end_before_base():
    assert '"Zero: Invalid DMAR width"' in messages(host("bug-zero-haw"), "zero-haw")[0]
    assert "Your BIOS is broken; DMAR reported at address 0!" in \
        messages(host("bug-drhd-base-zero"), "drhd-base-zero")[0]
    assert '" RMRR [ab81e000,ab809fff] is incorrect!"' in \
        messages(host("bug-rmrr-end-before-base"), "rmrr-end-before-base")[0]


def test_namespace_and_unknown_structures():
    h = host("namespace-scopes")
    assert h.namespace_devices == ((1, "\\_SB.PCI0.I2C0", (0x48,)), (2, "\\_SB.PCI0.UA00", (0x48,)))
    assert not messages(h, "namespace-scope-no-andd")
    ns = messages(h, "namespace-device")
    assert len(ns) == 2 and "\\_SB.PCI0.I2C0" in ns[0] and "is in a DRHD's scope" in ns[0]
    assert '"Ignore unknown DMAR structure type (0x4)"' in messages(h, "unknown-structure")[0]


def test_bridge_scope_warns_devices_below_get_nothing():
    h = host("sub-hierarchy")
    m = messages(h, "rmrr-bridge-scope")[0]
    assert "0000:02:00.0, 0000:03:01.0, 0000:03:01.1" in m


def test_firmware_check_rmrr_wholly_in_ram():
    """Linux's arch_rmrr_sanity_check wants the RMRR inside one E820_RESERVED (or NVS) entry.
    Here the laptop's IGD RMRR [0xad000000, 0xaf7fffff] lies inside a single RAM entry
    [0x100000, 0xb0000000): Linux complains and the range is host RAM; the xHCI RMRR
    [0xab80a000, 0xab81dfff] too. An e820 that reserves both keeps the check quiet."""
    from xlrmrr.acpi.checks import firmware_findings
    from xlrmrr.common import E820_RAM, E820_RESERVED, E820Entry

    dmar = decode((FIXTURES / "dmar" / "laptop-typical.bin").read_bytes())
    ram = (E820Entry(0, 0x9F000, E820_RAM), E820Entry(0x100000, 0xAFF00000, E820_RAM))
    found = [f for f in firmware_findings(dmar, e820=ram) if f.code.startswith("rmrr-")]
    assert [(f.code, f.severity, f.component, f.addrs) for f in found] == [
        ("rmrr-over-ram", "error", "firmware", (0xAB80A000, 0xAB81DFFF)),
        ("rmrr-over-ram", "error", "firmware", (0xAD000000, 0xAF7FFFFF))]
    assert ("[0xad000000, 0xaf7fffff] is host RAM. Linux: \"No firmware reserved region "
            "can cover this RMRR [0x00000000ad000000-0x00000000af7fffff], contact BIOS vendor "
            "for fixes\"." in found[1].message)
    reserved = ram[:1] + (E820Entry(0x100000, 0xAB700000, E820_RAM),
                          E820Entry(0xAB800000, 0x4000000, E820_RESERVED))
    assert not [f for f in firmware_findings(dmar, e820=reserved) if f.code.startswith("rmrr-")]
