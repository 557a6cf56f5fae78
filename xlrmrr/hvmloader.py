"""The hvmloader stage: the memory map read back, the dynamic-reserved-range check, pci_setup's
MMIO hole and BAR placement around RDMs, adjust_memory_map, the IGD OpRegion and
build_e820_table: the e820 the guest finally sees (tools/firmware/hvmloader/e820.c, pci.c;
docs/xen/flow.md#hvmloader-memory-map-setup and the hvmloader sections after it).

Values that depend on the firmware build are parameters (bios_base, acpi_end) with the
defaults documented below.
"""

from __future__ import annotations

import bisect

from xlrmrr.common import (
    E820_NAMES,
    E820_NVS,
    E820_RAM,
    E820_RESERVED,
    FOUR_GB,
    MB,
    E820Entry,
    Finding,
    Sbdf,
    XenVersion,
    hexa,
    size_str,
)
from xlrmrr.host.model import Bar, Host
from xlrmrr.ranges import overlapping, overlaps
from xlrmrr.records import record
from xlrmrr.releases import (
    HVMLOADER_ACPI_NVS,
    HVMLOADER_DYNAMIC_START,
    HVMLOADER_FIND_NEXT_RMRR,
    HVMLOADER_HIGHMEM_ENTRY,
    HVMLOADER_HUGE_BARS_HIGH,
)

RESERVED_MEMBASE = 0xFC000000
ACPI_INFO_PHYSICAL_ADDRESS = 0xFC000000
ACPI_MEMORY_DYNAMIC_START = 0xFC001000
RESERVED_MEMORY_DYNAMIC_START = 0xFC100000
# ... before 8efa46516c (4.15.0; 4.12.4, 4.13.2, 4.14.1): releases.HVMLOADER_DYNAMIC_START
RESERVED_MEMORY_DYNAMIC_START_OLD = ACPI_MEMORY_DYNAMIC_START
RESERVED_MEMORY_DYNAMIC_END = 0xFE000000
PCI_MEM_START = 0xF0000000
PCI_MEM_END = 0xFC000000
BAR_RELOC_THRESH = 1 << 30
IGD_OPREGION_PAGES = 3
# mem_hole_alloc hands out pages downwards from RESERVED_MEMORY_DYNAMIC_END; shared_info (from
# get_cpu_mhz) takes the first, so the OpRegion lands just below it: derived from the order of
# the two allocations, not seen in a run (docs/xen/flow.md#hvmloader-igd-opregion).
SHARED_INFO_ADDR = RESERVED_MEMORY_DYNAMIC_END - 0x1000
IGD_OPREGION_ADDR = SHARED_INFO_ADDR - IGD_OPREGION_PAGES * 0x1000
# Defaults for the firmware-dependent parameters:
SEABIOS_BASE_DEFAULT = 0xE0000       # 0x100000 - a 128 KiB SeaBIOS image (192 KiB gives 0xD0000)
OVMF_BASE = 0xF0000
ROMBIOS_BASE = 0xE0000
ROMBIOS_LOWMEM_RESERVED = 0x9E000
ACPI_END_DEFAULT = ACPI_MEMORY_DYNAMIC_START + 9 * 0x1000   # assumption: 9 pages of ACPI tables
E820_SCRATCH_ENTRIES = 16            # SeaBIOS/OVMF pass a 16-entry buffer, not bound-checked

# What hvmloader's layout allows for them: the BIOS image sits between the VGA hole (0xa0000)
# and 1 MiB; the ACPI tables start at ACPI_MEMORY_DYNAMIC_START and cannot pass
# RESERVED_MEMORY_DYNAMIC_START. Both end up as e820 entry bounds, so page-aligned.
BIOS_BASE_RANGE = (0xA0000, 0x100000)                                   # [lo, hi)
ACPI_END_RANGE = (ACPI_MEMORY_DYNAMIC_START, RESERVED_MEMORY_DYNAMIC_START)   # [lo, hi]


def firmware_parameter_error(bios_base: int | None, acpi_end: int | None) -> str | None:
    """Why a --bios-base / --acpi-end value cannot describe a hvmloader build, or None."""
    lo, hi = BIOS_BASE_RANGE
    if bios_base is not None and not (lo <= bios_base < hi and bios_base % 0x1000 == 0):
        return (f"--bios-base {hexa(bios_base) if bios_base >= 0 else bios_base}: hvmloader places the "
                f"BIOS image between the VGA hole and 1 MiB: give a 4 KiB-aligned address in "
                f"[{hexa(lo)}, {hexa(hi)}) (SeaBIOS 0x100000 - image size, e.g. 0xe0000; OVMF 0xf0000)")
    lo, hi = ACPI_END_RANGE
    if acpi_end is not None and not (lo <= acpi_end <= hi and acpi_end % 0x1000 == 0):
        return (f"--acpi-end {hexa(acpi_end) if acpi_end >= 0 else acpi_end}: hvmloader's ACPI tables "
                f"start at {hexa(lo)} and end at or before {hexa(hi)} (RESERVED_MEMORY_DYNAMIC_START): "
                f"give a 4 KiB-aligned address in [{hexa(lo)}, {hexa(hi)}]")
    return None



# BARs QEMU's emulated devices bring (qemu-xen), largest memory BARs only; I/O BARs are ignored.
XEN_PLATFORM_BARS = (Bar(1, 16 * MB, prefetchable=True),)
DEFAULT_PASSTHROUGH_BARS = (Bar(0, 16 * MB),)


@record(eq=False, hot=True)
class BarPlacement:
    """Where hvmloader's pci_setup puts one BAR of the guest."""

    device: str               # "xen-platform", "vga", or an SBDF
    index: int
    size: int
    base: int | None          # None: no space
    high: bool = False        # placed above 4 GiB
    assumed: bool = False     # size is a documented default, not from the host


@record(eq=False)
class HvmloaderResult:
    """What hvmloader does to the guest: the MMIO hole, BAR placement and the final e820."""

    memory_map: tuple[E820Entry, ...]     # after adjust_memory_map
    pci_mem_start: int
    mmio_total: int
    bars: tuple[BarPlacement, ...]
    opregion: int | None
    bios_base: int
    acpi_end: int
    e820: tuple[E820Entry, ...]           # the guest's final table, hvmloader's order
    findings: tuple[Finding, ...]
    failed: bool
    low_mem_end: int = 0                  # after pci_setup (moves only when RAM is relocated)
    high_mem_end: int = 0
    # Where hvmloader BUG()s, "" if it does not: BUG_MEMORY_MAP (memory_map_setup: nothing
    # after it runs, so no BARs and no e820) or BUG_E820 (build_e820_table's BUG_ON: the BARs
    # are placed, no e820 exists). e820 is then () and pci_mem_start means nothing for
    # BUG_MEMORY_MAP.
    bug: str = ""

    def dump(self) -> str:
        return dump_e820_table(self.e820)


BUG_MEMORY_MAP = "memory_map_setup"
BUG_E820 = "build_e820_table"


def _f(severity, code, message, *addrs) -> Finding:
    return Finding(severity, code, "hvmloader", message, tuple(addrs))


def dump_e820_table(e820) -> str:
    """hvmloader's dump_e820_table output."""
    lines = ["E820 table:"]
    last_end = 0
    for i, e in enumerate(e820):
        end = e.addr + e.size
        if e.addr < last_end:
            lines.append(" OVERLAP!!")
        elif e.addr > last_end:
            lines.append(f" HOLE: {last_end >> 32:08x}:{last_end & 0xFFFFFFFF:08x} - "
                         f"{e.addr >> 32:08x}:{e.addr & 0xFFFFFFFF:08x}")
        name = E820_NAMES.get(e.type)
        if e.type == 5 or name is None:
            name = f"UNKNOWN ({e.type:08x})"
        lines.append(f" [{i:02d}]: {e.addr >> 32:08x}:{e.addr & 0xFFFFFFFF:08x} - "
                     f"{end >> 32:08x}:{end & 0xFFFFFFFF:08x}: {name}")
        last_end = end
    return "\n".join(lines) + "\n"


def _huge64(b: Bar) -> bool:
    """64-bit BARs above BAR_RELOC_THRESH always go above 4 GiB and are not counted in mmio_total."""
    return b.is_64bit and b.size > BAR_RELOC_THRESH


def exchange_sort(entries) -> tuple[E820Entry, ...]:
    """build_e820_table's sort: by addr, exchange sort (not stable), no merging or clipping."""
    e = list(entries)
    n = len(e)
    for i in range(n - 1):
        for j in range(i + 1, n):
            if e[j].addr < e[i].addr:
                e[i], e[j] = e[j], e[i]
    return tuple(e)


def _guest_devices(domain, host: Host):
    """(name, bars, assumed, is_igd) for every device hvmloader's pci_setup sizes."""
    devs = []
    vram = (domain.video_memkb or 0) * 1024
    if domain.gfx_passthru:
        pass        # assumption: with gfx_passthru QEMU emulates no VGA; the IGD is the VGA
    elif domain.vga == "cirrus":
        devs.append(("vga", (Bar(0, 32 * MB, prefetchable=True), Bar(1, 0x1000)), True, False))
    elif domain.vga == "stdvga":
        size = 16 * MB
        while size < vram:
            size <<= 1
        devs.append(("vga", (Bar(0, size, prefetchable=True), Bar(2, 0x1000)), True, False))
    elif domain.vga == "qxl":
        devs.append(("vga", (Bar(0, 64 * MB), Bar(1, 64 * MB), Bar(2, 0x2000)), True, False))
    devs.append(("xen-platform", XEN_PLATFORM_BARS, True, False))
    for dev in domain.pci:
        sbdf = dev.sbdf
        pf = host.device(sbdf) if sbdf is not None else None
        is_igd = bool(pf and pf.class_code is not None and (pf.class_code >> 8) == 0x0300
                      and pf.vendor == 0x8086)
        if pf is None and domain.gfx_passthru in ("igd", "default") and sbdf == Sbdf(0, 0, 2, 0):
            is_igd = True
        if pf is not None and pf.bars:
            devs.append((str(sbdf), tuple(b for b in pf.bars if not b.is_io), False, is_igd))
        else:
            devs.append((str(sbdf) if sbdf else dev.spec, DEFAULT_PASSTHROUGH_BARS, True, is_igd))
    return devs


def build(layout, domain, host: Host, version: XenVersion, bios_base: int | None = None,
          acpi_end: int | None = None) -> HvmloaderResult:
    """What hvmloader does with the map libxl set, up to the e820 it hands the BIOS."""
    findings: list[Finding] = []
    failed = False
    memory_map = list(layout.memory_map)
    low_mem_end = layout.lowmem_end
    high_mem_end = layout.highmem_end
    reserved = [e for e in memory_map if e.type == E820_RESERVED]

    dynamic_start = (RESERVED_MEMORY_DYNAMIC_START if HVMLOADER_DYNAMIC_START.in_effect(version)
                     else RESERVED_MEMORY_DYNAMIC_START_OLD)
    for e in reserved:
        # memory_map_setup: check_overlap(alloc_addr, alloc_size, addr, size)
        if overlaps(e.addr, e.end, dynamic_start, RESERVED_MEMORY_DYNAMIC_END):
            findings.append(_f(
                "error", "hvmloader-dynamic-conflict",
                "Fail to setup memory map due to conflict on dynamic reserved memory range.", e.addr))
            findings.append(_f(
                "error", "hvmloader-bug",
                f"*** HVMLoader bug at e820.c:52 (the RDM [{hexa(e.addr)}, {hexa(e.end - 1)}] overlaps "
                f"hvmloader's dynamic area [{hexa(dynamic_start)}, "
                f"{hexa(RESERVED_MEMORY_DYNAMIC_END)}) of Xen {version}; the guest crashes in "
                f"hvmloader)", e.addr))
            # hvmloader.c:main: memory_map_setup is the first thing it does; after the BUG()
            # nothing runs: no pci_setup, no adjust_memory_map, no e820.
            return HvmloaderResult(tuple(memory_map), PCI_MEM_START, 0, (), None, 0, 0, (),
                                   tuple(findings), True, low_mem_end, high_mem_end,
                                   BUG_MEMORY_MAP)

    allow_relocate = domain.device_model_version == "qemu-xen-traditional"
    # pci_setup: size the BARs (largest first; equal sizes keep devfn order), choose pci_mem_start.
    devs = _guest_devices(domain, host)
    bars = sorted(((name, b, assumed) for name, bl, assumed, _igd in devs for b in bl),
                  key=lambda x: -x[1].size)
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
    if layout.mmio_hole_xenstore:
        pci_mem_start = FOUR_GB - layout.mmio_hole_xenstore
        findings.append(_f("info", "mmio-hole-size",
                           f"pci_mem_start={hexa(pci_mem_start)} (was {hexa(PCI_MEM_START)}) for "
                           f"mmio_hole_size={hexa(layout.mmio_hole_xenstore)}"))
    else:
        # libxl writes allow-memory-relocate = 0 for qemu-xen: the hole grows only down to
        # low_mem_end. qemu-xen-traditional gets hvmloader's default (1): RAM moves above 4 GiB.
        while (mmio_total > PCI_MEM_END - pci_mem_start and (pci_mem_start << 1) & 0xFFFFFFFF
               and (allow_relocate or ((pci_mem_start << 1) & 0xFFFFFFFF) >= low_mem_end)):
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

    if allow_relocate and pci_mem_start < low_mem_end:
        moved = low_mem_end - pci_mem_start
        old_high = high_mem_end or FOUR_GB
        high_mem_end = old_high + moved
        findings.append(_f("info", "ram-relocated",
                           f"Relocating 0x{moved >> 12:x} pages from {hexa(pci_mem_start)} to "
                           f"{hexa(old_high)} for lowmem MMIO hole (in chunks of at most 0xffff pages; "
                           f"qemu-xen-traditional allows hvmloader to move RAM)", pci_mem_start))
        for r in layout.rdms:
            if overlaps(r.start, r.end, old_high, high_mem_end):
                findings.append(_f("warning", "ram-relocated-over-rdm",
                                   f"hvmloader moves guest RAM to [{hexa(old_high)}, {hexa(high_mem_end)}), "
                                   f"over the RDM at {hexa(r.start)} that libxl did not check against it",
                                   r.start))
        low_mem_end = pci_mem_start

    placements: list[BarPlacement] = []
    base_cursor = pci_mem_start
    high_cursor = max(high_mem_end, FOUR_GB)
    below_4g = sorted((e for e in reserved if e.end <= FOUR_GB), key=lambda e: e.end)
    ends = [e.end for e in below_4g]
    rdm_index = sorted(layout.rdms, key=lambda r: r.start)
    rdm_starts = [r.start for r in rdm_index]
    fixed_next_rmrr = HVMLOADER_FIND_NEXT_RMRR.in_effect(version)
    for name, b, assumed in bars:
        using_64bar = b.is_64bit and bar64_relocate and (
            mmio_total > PCI_MEM_END - base_cursor or huge(b))
        if not huge(b):
            mmio_total -= b.size
        if using_64bar:
            base = (high_cursor + b.size - 1) & ~(b.size - 1)
            placements.append(BarPlacement(name, b.index, b.size, base, True, assumed))
            high_cursor = base + b.size
            for r in overlapping(rdm_index, rdm_starts, base, base + b.size):
                findings.append(_f("warning", "bar64-over-rdm",
                                   f"64-bit BAR {name} bar {b.index} at {hexa(base)} overlaps the RDM at "
                                   f"{hexa(r.start)}: hvmloader does not avoid RDMs above 4 GiB",
                                   base, r.start))
            continue
        base = (base_cursor + b.size - 1) & ~(b.size - 1)
        # find_next_rmrr: the reserved entry with the lowest end above base (end <= 4G). Before
        # 4.10 (ecc607b185) the search started from pci_mem_start, so only the first one counted.
        i = bisect.bisect_right(ends, base if fixed_next_rmrr else pci_mem_start)
        while i < len(below_4g) and overlaps(below_4g[i].addr, below_4g[i].end, base, base + b.size):
            base = (below_4g[i].end + b.size - 1) & ~(b.size - 1)
            i = bisect.bisect_right(ends, base if fixed_next_rmrr else pci_mem_start)
        if base + b.size > PCI_MEM_END:
            placements.append(BarPlacement(name, b.index, b.size, None, False, assumed))
            findings.append(_f("warning", "bar-no-space",
                               f"pci dev {name} bar {b.index:02x} size {b.size:x}: no space for resource!"))
            continue
        placements.append(BarPlacement(name, b.index, b.size, base, False, assumed))
        base_cursor = base + b.size
        if not fixed_next_rmrr:
            for e in below_4g:
                if overlaps(e.addr, e.end, base, base_cursor):
                    findings.append(_f(
                        "warning", "bar-over-rdm",
                        f"pci dev {name} bar {b.index:02x} at {hexa(base)} overlaps the RDM at "
                        f"{hexa(e.addr)}: Xen {version} hvmloader avoids only the first RDM above "
                        f"pci_mem_start (fixed in 4.10, ecc607b185)", base, e.addr))

    # adjust_memory_map
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

    # IGD OpRegion
    opregion = None
    if domain.gfx_passthru and any(igd for *_x, igd in devs):
        opregion = IGD_OPREGION_ADDR
        findings.append(_f("info", "igd-opregion",
                           f"IGD OpRegion: {IGD_OPREGION_PAGES} pages at {hexa(opregion)} "
                           f"(mem_hole_alloc below shared_info at {hexa(SHARED_INFO_ADDR)})", opregion))

    # build_e820_table
    if domain.bios == "ovmf":
        lowmem_reserved_base, bbase = 0, OVMF_BASE
    elif domain.bios == "rombios":
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
    if HVMLOADER_ACPI_NVS.in_effect(version) and domain.acpi:
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
        return HvmloaderResult(tuple(adjusted), pci_mem_start, mmio_total, tuple(placements),
                               opregion, bbase, aend, (), tuple(findings), True, low_mem_end,
                               high_mem_end, BUG_E820)
    e820.extend(adjusted)
    if domain.bios in ("seabios", "ovmf") and len(e820) > E820_SCRATCH_ENTRIES:
        findings.append(_f("error", "e820-overflow",
                           f"build_e820_table writes {len(e820)} entries into {domain.bios}'s "
                           f"{E820_SCRATCH_ENTRIES}-entry buffer without a bound check: memory corruption "
                           f"in the guest firmware (at most "
                           f"{E820_SCRATCH_ENTRIES - (len(e820) - len(adjusted))} "
                           f"memory map entries fit)"))
        failed = True
    e820_sorted = exchange_sort(e820)
    for r in layout.rdms:
        if r.exposed and r.start < FOUR_GB and r.end > RESERVED_MEMBASE:
            findings.append(_f("info", "e820-overlap",
                               f"the RDM at {hexa(r.start)} lies in hvmloader's reserved area "
                               f"[{hexa(aend)}, 4G): the e820 has overlapping entries "
                               f"(dump prints OVERLAP!!)",
                               r.start))
    return HvmloaderResult(tuple(adjusted), pci_mem_start, mmio_total, tuple(placements), opregion, bbase,
                           aend, e820_sorted, tuple(findings), failed, low_mem_end, high_mem_end)
