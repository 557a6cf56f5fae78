"""hvmloader's pci.c: pci_setup sizes the guest's BARs, chooses pci_mem_start (the MMIO hole),
relocates RAM where allowed and places the BARs around the reserved entries (find_next_rmrr)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from xlrmrr.common import E820_RESERVED, FOUR_GB, E820Entry, Finding, XenVersion, hexa, size_str
from xlrmrr.host.model import Bar
from xlrmrr.hvmloader.bus import DEFAULT_PASSTHROUGH_BARS
from xlrmrr.hvmloader.model import (
    BAR_RELOC_THRESH,
    IGD_OPREGION_ADDR,
    PCI_MEM_END,
    PCI_MEM_START,
    BarPlacement,
    GuestPciDevice,
    HvmInfo,
    RdmOverlap,
    Xenstore,
)
from xlrmrr.hvmloader.model import hvmloader_finding as _f
from xlrmrr.ranges import overlaps
from xlrmrr.records import record
from xlrmrr.releases import HVMLOADER_FIND_NEXT_RMRR, HVMLOADER_HUGE_BARS_HIGH


@record(eq=False)
class PciSetup:
    """What pci_setup leaves: the hole, the placements (each with the findings said while it
    was placed) and where RAM moved."""

    pci_mem_start: int
    mmio_total: int               # what is left after the placements
    low_mem_end: int
    high_mem_end: int
    bars: tuple[BarPlacement, ...]
    bar_findings: tuple[tuple[Finding, ...], ...]   # one tuple per placement
    bar_overlaps: tuple[tuple[RdmOverlap, ...], ...]  # one tuple per placement
    findings: tuple[Finding, ...]                   # said before the first BAR is placed
    relocated: tuple[int, int] | None               # [old high_mem_end, new) when RAM moved
    opregion: int | None                            # the IGD OpRegion mem_hole_alloc gave


def _huge64(b: Bar) -> bool:
    """64-bit BARs above BAR_RELOC_THRESH always go above 4 GiB and are not counted in mmio_total."""
    return b.is_64bit and b.size > BAR_RELOC_THRESH


def find_next_rmrr(ends: Sequence[int], base: int) -> int:
    """The reserved entry with the lowest end above base (entries ending at or below 4 GiB,
    sorted by end, `ends` their ends): the index, len(ends) when there is none."""
    return bisect.bisect_right(ends, base)


def pci_setup(bus: Sequence[GuestPciDevice], memory_map: Sequence[E820Entry], info: HvmInfo,
              keys: Xenstore, version: XenVersion) -> PciSetup:
    findings: list[Finding] = []
    low_mem_end, high_mem_end = info.low_mem_end, info.high_mem_end
    reserved = [e for e in memory_map if e.type == E820_RESERVED]
    # size the BARs (largest first; equal sizes keep devfn order), choose pci_mem_start.
    bars = sorted(((d.name, b, d.assumed) for d in bus for b in d.bars), key=lambda x: -x[1].size)
    # From 57acad12a0 (4.19; 4.17.4, 4.18.1) a 64-bit BAR over BAR_RELOC_THRESH goes high
    # unconditionally and does not count in mmio_total; before, it counts like any other.
    huge_high = HVMLOADER_HUGE_BARS_HIGH.in_effect(version)

    def huge(b: Bar) -> bool:
        return huge_high and _huge64(b)

    mmio_total = sum(b.size for _n, b, _a in bars if not huge(b))
    bar64_relocate = any(huge(b) for _n, b, _a in bars)
    if any(a for n, _b, a in bars if n not in ("xen-platform", "vga")):
        findings.append(_f("info", "bar-size-assumed",
                           f"BAR sizes of passthrough devices without host PCI data are assumed "
                           f"({size_str(DEFAULT_PASSTHROUGH_BARS[0].size)} each); "
                           f"pass --snapshot for real sizes"))
    pci_mem_start = PCI_MEM_START
    if keys.mmio_hole_size:
        pci_mem_start = FOUR_GB - keys.mmio_hole_size
        findings.append(_f("info", "mmio-hole-size",
                           f"pci_mem_start={hexa(pci_mem_start)} (was {hexa(PCI_MEM_START)}) for "
                           f"mmio_hole_size={hexa(keys.mmio_hole_size)}"))
    else:
        # without allow-memory-relocate the hole grows only down to low_mem_end
        while (mmio_total > PCI_MEM_END - pci_mem_start and (pci_mem_start << 1) & 0xFFFFFFFF
               and (keys.allow_memory_relocate
                    or ((pci_mem_start << 1) & 0xFFFFFFFF) >= low_mem_end)):
            pci_mem_start = (pci_mem_start << 1) & 0xFFFFFFFF
        if pci_mem_start > low_mem_end and any(
                overlaps(e.addr, e.end, pci_mem_start, PCI_MEM_END) for e in reserved):
            findings.append(_f(
                "info", "pci-mem-start-rmrr",
                f"an RDM lies in the MMIO hole [{hexa(pci_mem_start)}, {hexa(PCI_MEM_END)}): pci_setup "
                f"lowers pci_mem_start to low_mem_end {hexa(low_mem_end)} and places BARs around it"))
            pci_mem_start = low_mem_end
    if mmio_total <= PCI_MEM_END - pci_mem_start and bar64_relocate:
        findings.append(_f("info", "bars-to-64bit",
                           f"Low MMIO hole not large enough for all devices, relocating some BARs "
                           f"to 64-bit (Xen {version} hvmloader prints this whenever a 64-bit BAR "
                           f"is over 1 GiB: it places such BARs above 4 GiB unconditionally)"))
    elif mmio_total > PCI_MEM_END - pci_mem_start:
        findings.append(_f("warning", "bars-to-64bit",
                           "Low MMIO hole not large enough for all devices, relocating some BARs to "
                           "64-bit (hvmloader does not move guest RAM to grow the hole: libxl writes "
                           "hvmloader/allow-memory-relocate = 0, \"Relocating guest memory for lowmem "
                           "MMIO space disabled\"; a larger mmio_hole= makes room)"))
        bar64_relocate = True

    relocated = None
    if keys.allow_memory_relocate and pci_mem_start < low_mem_end:
        moved = low_mem_end - pci_mem_start
        old_high = high_mem_end or FOUR_GB
        high_mem_end = old_high + moved
        relocated = (old_high, high_mem_end)
        findings.append(_f("info", "ram-relocated",
                           f"Relocating 0x{moved >> 12:x} pages from {hexa(pci_mem_start)} to "
                           f"{hexa(old_high)} for lowmem MMIO hole (in chunks of at most 0xffff pages; "
                           f"qemu-xen-traditional allows hvmloader to move RAM)", pci_mem_start))
        low_mem_end = pci_mem_start

    placements: list[BarPlacement] = []
    bar_findings: list[tuple[Finding, ...]] = []
    bar_overlaps: list[tuple[RdmOverlap, ...]] = []
    base_cursor = pci_mem_start
    high_cursor = max(high_mem_end, FOUR_GB)
    below_4g = sorted((e for e in reserved if e.end <= FOUR_GB), key=lambda e: e.end)
    ends = [e.end for e in below_4g]
    fixed_next_rmrr = HVMLOADER_FIND_NEXT_RMRR.in_effect(version)
    for name, b, assumed in bars:
        using_64bar = b.is_64bit and bar64_relocate and (
            mmio_total > PCI_MEM_END - base_cursor or huge(b))
        if not huge(b):
            mmio_total -= b.size
        if using_64bar:
            base = (high_cursor + b.size - 1) & ~(b.size - 1)
            placements.append(BarPlacement(name, b.index, b.size, base, True, assumed))
            bar_findings.append(())
            bar_overlaps.append(())
            high_cursor = base + b.size
            continue
        base = (base_cursor + b.size - 1) & ~(b.size - 1)
        # Before 4.10 (ecc607b185) the search started from pci_mem_start, so only the first
        # reserved entry counted.
        i = find_next_rmrr(ends, base if fixed_next_rmrr else pci_mem_start)
        while i < len(below_4g) and overlaps(below_4g[i].addr, below_4g[i].end, base, base + b.size):
            base = (below_4g[i].end + b.size - 1) & ~(b.size - 1)
            i = find_next_rmrr(ends, base if fixed_next_rmrr else pci_mem_start)
        if base + b.size > PCI_MEM_END:
            placements.append(BarPlacement(name, b.index, b.size, None, False, assumed))
            bar_findings.append((_f("warning", "bar-no-space",
                                    f"pci dev {name} bar {b.index:02x} size {b.size:x}: no space "
                                    f"for resource!"),))
            bar_overlaps.append(())
            continue
        placements.append(BarPlacement(name, b.index, b.size, base, False, assumed))
        base_cursor = base + b.size
        said = []
        over = []
        if not fixed_next_rmrr:
            for e in below_4g:
                if overlaps(e.addr, e.end, base, base_cursor):
                    said.append(_f(
                        "warning", "bar-over-rdm",
                        f"pci dev {name} bar {b.index:02x} at {hexa(base)} overlaps the RDM at "
                        f"{hexa(e.addr)}: Xen {version} hvmloader avoids only the first RDM above "
                        f"pci_mem_start (fixed in 4.10, ecc607b185)", base, e.addr))
                    over.append(RdmOverlap("bar-over-rdm", e.addr, (base, e.addr), said[-1]))
        bar_findings.append(tuple(said))
        bar_overlaps.append(tuple(over))

    opregion = IGD_OPREGION_ADDR if any(d.igd for d in bus) else None
    return PciSetup(pci_mem_start, mmio_total, low_mem_end, high_mem_end, tuple(placements),
                    tuple(bar_findings), tuple(bar_overlaps), tuple(findings), relocated, opregion)
