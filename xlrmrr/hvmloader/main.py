"""hvmloader.c:main as far as the memory layout goes: memory_map_setup, pci_setup,
adjust_memory_map, build_e820_table, fed only what hvmloader sees (xlrmrr.hvmloader.model),
then held against libxl's RDMs, which hvmloader never sees: what it lands over an RDM."""

from __future__ import annotations

from collections.abc import Sequence

from xlrmrr.common import FOUR_GB, E820Entry, XenVersion, hexa
from xlrmrr.host.model import Host
from xlrmrr.hvmloader.bus import guest_pci_bus, hvm_info, xenstore_keys
from xlrmrr.hvmloader.e820 import adjust_memory_map, build_e820_table, memory_map_setup
from xlrmrr.hvmloader.model import (
    BUG_E820,
    BUG_MEMORY_MAP,
    IGD_OPREGION_PAGES,
    PCI_MEM_START,
    RESERVED_MEMBASE,
    SHARED_INFO_ADDR,
    GuestPciDevice,
    HvmInfo,
    HvmloaderResult,
    RdmOverlap,
    Xenstore,
)
from xlrmrr.hvmloader.model import hvmloader_finding as _f
from xlrmrr.hvmloader.pci import pci_setup
from xlrmrr.ranges import overlapping, overlaps


def build(layout, domain, host: Host, version: XenVersion, bios_base: int | None = None,
          acpi_end: int | None = None) -> HvmloaderResult:
    """What hvmloader does with what libxl and libxc hand it, up to the e820 it hands the BIOS.
    Values that depend on the firmware build are parameters (bios_base, acpi_end; defaults in
    xlrmrr.hvmloader.model)."""
    return run(hvm_info(layout), layout.memory_map, xenstore_keys(layout, domain),
               guest_pci_bus(domain, host, layout.video_memkb), version, bios_base, acpi_end,
               layout.rdms)


def run(info: HvmInfo, memory_map: Sequence[E820Entry], keys: Xenstore,
        bus: Sequence[GuestPciDevice], version: XenVersion, bios_base: int | None = None,
        acpi_end: int | None = None, rdms=()) -> HvmloaderResult:
    """hvmloader's steps in main's order. rdms: libxl's RDM entries (start, end, exposed), for
    the findings about what hvmloader puts over them; hvmloader itself does not see them."""
    bug = memory_map_setup(memory_map, version)
    if bug:
        # memory_map_setup is the first thing main does; after the BUG() nothing runs: no
        # pci_setup, no adjust_memory_map, no e820.
        return HvmloaderResult(tuple(memory_map), PCI_MEM_START, 0, (), None, 0, 0, (),
                               tuple(bug), True, info.low_mem_end, info.high_mem_end,
                               BUG_MEMORY_MAP)
    pci = pci_setup(bus, memory_map, info, keys, version)
    findings = list(pci.findings)
    rdm_overlaps = []
    if pci.relocated is not None:
        old_high, new_high = pci.relocated
        for r in rdms:
            if overlaps(r.start, r.end, old_high, new_high):
                findings.append(_f("warning", "ram-relocated-over-rdm",
                                   f"hvmloader moves guest RAM to [{hexa(old_high)}, {hexa(new_high)}), "
                                   f"over the RDM at {hexa(r.start)} that libxl did not check against it",
                                   r.start))
                rdm_overlaps.append(RdmOverlap("ram-relocated-over-rdm", r.start, (r.start,),
                                               findings[-1]))
    rdm_index = sorted(rdms, key=lambda r: r.start)
    rdm_starts = [r.start for r in rdm_index]
    for b, said, over in zip(pci.bars, pci.bar_findings, pci.bar_overlaps):
        if b.high:
            for r in overlapping(rdm_index, rdm_starts, b.base, b.base + b.size):
                findings.append(_f("warning", "bar64-over-rdm",
                                   f"64-bit BAR {b.device} bar {b.index} at {hexa(b.base)} overlaps the "
                                   f"RDM at {hexa(r.start)}: hvmloader does not avoid RDMs above 4 GiB",
                                   b.base, r.start))
                rdm_overlaps.append(RdmOverlap("bar64-over-rdm", r.start, (b.base, r.start),
                                               findings[-1]))
        findings.extend(said)
        rdm_overlaps.extend(over)

    adjusted, said = adjust_memory_map(memory_map, pci.low_mem_end, pci.high_mem_end, version)
    findings.extend(said)
    if pci.opregion is not None:
        findings.append(_f("info", "igd-opregion",
                           f"IGD OpRegion: {IGD_OPREGION_PAGES} pages at {hexa(pci.opregion)} "
                           f"(mem_hole_alloc below shared_info at {hexa(SHARED_INFO_ADDR)})",
                           pci.opregion))
    e820, bbase, aend, said, overflow = build_e820_table(
        adjusted, pci.low_mem_end, keys, pci.opregion, version, bios_base, acpi_end)
    findings.extend(said)
    if e820 is None:
        return HvmloaderResult(adjusted, pci.pci_mem_start, pci.mmio_total, pci.bars, pci.opregion,
                               bbase, aend, (), tuple(findings), True, pci.low_mem_end,
                               pci.high_mem_end, BUG_E820, tuple(rdm_overlaps))
    for r in rdms:
        if r.exposed and r.start < FOUR_GB and r.end > RESERVED_MEMBASE:
            findings.append(_f("info", "e820-overlap",
                               f"the RDM at {hexa(r.start)} lies in hvmloader's reserved area "
                               f"[{hexa(aend)}, 4G): the e820 has overlapping entries "
                               f"(dump prints OVERLAP!!)",
                               r.start))
    return HvmloaderResult(adjusted, pci.pci_mem_start, pci.mmio_total, pci.bars, pci.opregion,
                           bbase, aend, e820, tuple(findings), overflow, pci.low_mem_end,
                           pci.high_mem_end, "", tuple(rdm_overlaps))
