"""hvmloader's e820.c: memory_map_setup, adjust_memory_map, build_e820_table, and the dump."""

from __future__ import annotations

from xlrmrr.common import (
    E820_NVS,
    E820_RAM,
    E820_RESERVED,
    FOUR_GB,
    MB,
    E820Entry,
    Finding,
    XenVersion,
    hexa,
)
from xlrmrr.hvmloader.model import (
    ACPI_END_DEFAULT,
    ACPI_INFO_PHYSICAL_ADDRESS,
    E820_SCRATCH_ENTRIES,
    IGD_OPREGION_PAGES,
    OVMF_BASE,
    RESERVED_MEMBASE,
    RESERVED_MEMORY_DYNAMIC_END,
    RESERVED_MEMORY_DYNAMIC_START,
    RESERVED_MEMORY_DYNAMIC_START_OLD,
    ROMBIOS_BASE,
    ROMBIOS_LOWMEM_RESERVED,
    SEABIOS_BASE_DEFAULT,
    Xenstore,
)
from xlrmrr.hvmloader.model import hvmloader_finding as _f
from xlrmrr.ranges import overlaps
from xlrmrr.releases import HVMLOADER_ACPI_NVS, HVMLOADER_DYNAMIC_START, HVMLOADER_HIGHMEM_ENTRY


def memory_map_setup(memory_map, version: XenVersion) -> list[Finding]:
    """The memory map read back, each reserved entry checked against hvmloader's dynamic area
    (check_overlap). A non-empty answer is the BUG(): nothing after it runs."""
    dynamic_start = (RESERVED_MEMORY_DYNAMIC_START if HVMLOADER_DYNAMIC_START.in_effect(version)
                     else RESERVED_MEMORY_DYNAMIC_START_OLD)
    for e in memory_map:
        if e.type != E820_RESERVED:
            continue
        # memory_map_setup: check_overlap(alloc_addr, alloc_size, addr, size)
        if overlaps(e.addr, e.end, dynamic_start, RESERVED_MEMORY_DYNAMIC_END):
            return [_f("error", "hvmloader-dynamic-conflict",
                       "Fail to setup memory map due to conflict on dynamic reserved memory range.",
                       e.addr),
                    _f("error", "hvmloader-bug",
                       f"*** HVMLoader bug at e820.c:52 (the RDM [{hexa(e.addr)}, {hexa(e.end - 1)}] "
                       f"overlaps hvmloader's dynamic area [{hexa(dynamic_start)}, "
                       f"{hexa(RESERVED_MEMORY_DYNAMIC_END)}) of Xen {version}; the guest crashes in "
                       f"hvmloader)", e.addr)]
    return []


def adjust_memory_map(memory_map, low_mem_end: int, high_mem_end: int, version: XenVersion
                      ) -> tuple[tuple[E820Entry, ...], list[Finding]]:
    """The RAM entries cut to low_mem_end and grown to high_mem_end after pci_setup."""
    findings = []
    adjusted = []
    have_high = False
    for e in memory_map:
        if e.type == E820_RAM and e.addr < low_mem_end < e.end:
            e = E820Entry(e.addr, low_mem_end - e.addr, E820_RAM)
        if e.type == E820_RAM and e.addr == FOUR_GB:
            have_high = True
            if high_mem_end:
                e = E820Entry(FOUR_GB, high_mem_end - FOUR_GB, E820_RAM)
        adjusted.append(e)
    if high_mem_end and not have_high and HVMLOADER_HIGHMEM_ENTRY.in_effect(version):
        adjusted.append(E820Entry(FOUR_GB, max(0, high_mem_end - FOUR_GB), E820_RAM))
        if high_mem_end == FOUR_GB:
            findings.append(_f("info", "zero-size-highmem",
                               "high_mem_pgend is 0x100000 (libxl forced highmem_end to 4 GiB, "
                               "Xen 4.7-4.13): "
                               "adjust_memory_map appends a zero-size RAM entry at 4 GiB"))
    return tuple(adjusted), findings


def build_e820_table(memory_map, low_mem_end: int, keys: Xenstore, opregion: int | None,
                     version: XenVersion, bios_base: int | None = None,
                     acpi_end: int | None = None):
    """The fixed low entries, the ACPI and reserved area up to 4 GiB (with the OpRegion), then
    the memory map, exchange-sorted. Returns (e820 or None at the BUG_ON, the BIOS base, the
    ACPI end, findings, whether the firmware's buffer overflows)."""
    findings = []
    if keys.bios == "ovmf":
        lowmem_reserved_base, bbase = 0, OVMF_BASE
    elif keys.bios == "rombios":
        lowmem_reserved_base, bbase = ROMBIOS_LOWMEM_RESERVED, ROMBIOS_BASE
    else:
        lowmem_reserved_base, bbase = 0, SEABIOS_BASE_DEFAULT
    if bios_base is not None:
        bbase = bios_base
    if not lowmem_reserved_base:
        lowmem_reserved_base = 0xA0000
    e820 = [E820Entry(0, lowmem_reserved_base, E820_RAM)]
    if lowmem_reserved_base < 0xA0000:
        e820.append(E820Entry(lowmem_reserved_base, 0xA0000 - lowmem_reserved_base, E820_RESERVED))
    e820.append(E820Entry(bbase, 0x100000 - bbase, E820_RESERVED))
    if HVMLOADER_ACPI_NVS.in_effect(version) and keys.acpi:
        aend = acpi_end if acpi_end is not None else ACPI_END_DEFAULT
        e820.append(E820Entry(ACPI_INFO_PHYSICAL_ADDRESS, aend - ACPI_INFO_PHYSICAL_ADDRESS, E820_NVS))
    else:
        aend = RESERVED_MEMBASE
    if opregion is None:
        e820.append(E820Entry(aend, FOUR_GB - aend, E820_RESERVED))
    else:
        end_op = opregion + IGD_OPREGION_PAGES * 0x1000
        e820.append(E820Entry(aend, opregion - aend, E820_RESERVED))
        e820.append(E820Entry(opregion, end_op - opregion, E820_NVS))
        e820.append(E820Entry(end_op, FOUR_GB - end_op, E820_RESERVED))
    if low_mem_end < 2 * MB:
        findings.append(_f("error", "hvmloader-bug",
                           f"*** HVMLoader bug: BUG_ON(low_mem_end < 2 MiB) in build_e820_table "
                           f"(low_mem_end {hexa(low_mem_end)}): the guest stops in hvmloader "
                           f"before its e820 exists", low_mem_end))
        # The BARs are placed (pci_setup ran before), the table is not: nothing after the
        # BUG_ON copies the memory map, sorts, or hands an e820 to the BIOS.
        return None, bbase, aend, findings, False
    fixed = len(e820)
    e820.extend(memory_map)
    overflow = keys.bios in ("seabios", "ovmf") and len(e820) > E820_SCRATCH_ENTRIES
    if overflow:
        findings.append(_f("error", "e820-overflow",
                           f"build_e820_table writes {len(e820)} entries into {keys.bios}'s "
                           f"{E820_SCRATCH_ENTRIES}-entry buffer without a bound check: memory corruption "
                           f"in the guest firmware (at most {E820_SCRATCH_ENTRIES - fixed} "
                           f"memory map entries fit)"))
    return exchange_sort(e820), bbase, aend, findings, overflow


def exchange_sort(entries) -> tuple[E820Entry, ...]:
    """build_e820_table's sort: by addr, exchange sort (not stable), no merging or clipping."""
    e = list(entries)
    n = len(e)
    for i in range(n - 1):
        for j in range(i + 1, n):
            if e[j].addr < e[i].addr:
                e[i], e[j] = e[j], e[i]
    return tuple(e)
