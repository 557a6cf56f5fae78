"""The libxenguest stage: meminit_hvm's populate_physmap extents, the special pages, firmware
module placement and the hvm_info table (tools/libs/guest/xg_dom_x86.c: meminit_hvm,
alloc_magic_pages_hvm, build_hvm_info; docs/xen/flow.md#libxc-populate_physmap).

Extents are run-length (gfn, order, count) so that a 16 TiB guest costs no more than a 4 GiB
one: nothing here is proportional to guest RAM.
"""

from __future__ import annotations

from xlrmrr.common import FOUR_GB, PAGE_SHIFT, PAGE_SIZE, Finding, hexa, size_str
from xlrmrr.libxl.model import LibxlLayout
from xlrmrr.payloads import HVM_INFO_PFN, RESERVED_MEM_PGSTART, hvm_info_bytes
from xlrmrr.ranges import normalise, overlaps
from xlrmrr.records import record

SUPERPAGE_1GB = 1 << 18          # pages
SUPERPAGE_2MB = 1 << 9
VGA_HOLE_START = 0xA0
VGA_HOLE_END = 0xC0
X86_HVM_END_SPECIAL_REGION = 0xFF000
X86_HVM_NR_SPECIAL_PAGES = 8
SPECIAL_PFN_START = X86_HVM_END_SPECIAL_REGION - X86_HVM_NR_SPECIAL_PAGES      # 0xFEFF8
IOREQ_SERVER_PFN_START = SPECIAL_PFN_START - 8                                 # 0xFEFF0
HVMLOADER_PADDR = 0x100000
HVMLOADER_IMAGE_SIZE = 0x80000   # assumption: hvmloader's loaded image spans < 512 KiB


@record(eq=False)
class Extent:
    """`count` consecutive extents of 2**order pages starting at gfn (one run of populate_physmap)."""

    gfn: int
    order: int
    count: int

    @property
    def pages(self) -> int:
        return self.count << self.order

    @property
    def end_gfn(self) -> int:
        return self.gfn + self.pages

    def to_json(self) -> dict:
        return {"gfn": self.gfn, "order": self.order, "count": self.count}


@record(eq=False)
class Module:
    """A firmware module (acpi_firmware= / smbios_firmware=) as xc_dom_build_image places it."""

    kind: str
    addr: int
    size: int

    @property
    def end(self) -> int:
        return self.addr + self.size


@record(eq=False)
class LibxcResult:
    """What libxc populates for the guest (meminit_hvm) and the hvm_info table it writes."""

    extents: tuple[Extent, ...]             # RAM, in the order meminit_hvm issues them
    special_pages: tuple[Extent, ...]       # ioreq-server and special pfns (order 0)
    populated: tuple[tuple[int, int], ...]  # (start, end_exclusive) bytes holding RAM/special pages
    pages_4k: int                           # as the debug summary counts (starts at 0xC0)
    extents_2m: int
    extents_1g: int
    pod: bool
    modules: tuple[Module, ...]
    hvm_info: bytes
    findings: tuple[Finding, ...]
    failed: bool


def _mmio_overlap(start_pfn: int, pages: int, mmio_start: int, mmio_size: int) -> bool:
    return overlaps(start_pfn << PAGE_SHIFT, (start_pfn + pages) << PAGE_SHIFT,
                    mmio_start, mmio_start + mmio_size)


def _add(out: list, gfn: int, order: int, count: int) -> None:
    if count <= 0:
        return
    if out and out[-1][1] == order and out[-1][0] + (out[-1][2] << order) == gfn:
        out[-1][2] += count
    else:
        out.append([gfn, order, count])


def _gb_run(cur: int, end: int, mmio_start: int, mmio_size: int) -> int:
    """How many consecutive 1 GiB extents meminit_hvm issues from cur (1 GiB aligned): each must
    not overlap the MMIO hole. Batched so that a 16 TiB range is one step, not 16384."""
    n = (end - cur) >> 18
    hole_s, hole_e = mmio_start >> PAGE_SHIFT, (mmio_start + mmio_size) >> PAGE_SHIFT
    if hole_e <= cur or hole_s >= hole_e:
        return n
    if hole_s <= cur:
        return 0
    return min(n, (hole_s - cur) >> 18)


def meminit_extents(lowmem_end: int, highmem_end: int, mmio_start: int, mmio_size: int,
                    vga_hole: bool = True) -> list:
    """meminit_hvm without vNUMA: the populate_physmap calls as [gfn, order, count] runs. An HVM
    guest (vga_hole) gets pfns 0-0x9f first and never 0xa0-0xbf; PVH starts at pfn 0."""
    out: list = []
    if vga_hole:
        _add(out, 0, 0, VGA_HOLE_START)
    ranges = [(0, lowmem_end >> PAGE_SHIFT)]
    if highmem_end > FOUR_GB:
        ranges.append((FOUR_GB >> PAGE_SHIFT, highmem_end >> PAGE_SHIFT))
    for start, end in ranges:
        cur = VGA_HOLE_END if start == 0 and vga_hole else start
        while cur < end:
            count = min(end - cur, SUPERPAGE_1GB)
            if cur & (SUPERPAGE_1GB - 1) and count > (-cur & (SUPERPAGE_1GB - 1)):
                count = -cur & (SUPERPAGE_1GB - 1)
            if not (cur | count) & (SUPERPAGE_1GB - 1):
                n = _gb_run(cur, end, mmio_start, mmio_size)
                if n:
                    _add(out, cur, 18, n)
                    cur += n << 18
                    continue
            count = min(count, 4 * SUPERPAGE_2MB)
            if cur & (SUPERPAGE_2MB - 1) and count > (-cur & (SUPERPAGE_2MB - 1)):
                count = -cur & (SUPERPAGE_2MB - 1)
            elif count & (SUPERPAGE_2MB - 1) and count > SUPERPAGE_2MB:
                count &= ~(SUPERPAGE_2MB - 1)
            if not (cur | count) & (SUPERPAGE_2MB - 1):
                _add(out, cur, 9, count >> 9)
            else:
                _add(out, cur, 0, count)
            cur += count
    return out


def place_modules(firmware_sizes, hvmloader_size: int | None) -> tuple[Module, ...]:
    """Firmware modules follow the hvmloader image, page aligned, in modules_init's order (system
    firmware, ACPI, SMBIOS; xc_dom_alloc_segment hands out the next free guest address). The
    hvmloader image size depends on the build: a documented parameter. A separately loaded
    system firmware module (OVMF) is not modelled: pass its size first to account for it."""
    addr = HVMLOADER_PADDR + (hvmloader_size if hvmloader_size is not None else HVMLOADER_IMAGE_SIZE)
    out = []
    for kind, size in firmware_sizes:
        addr = (addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        out.append(Module(kind, addr, size))
        addr += size
    return tuple(out)


def build(layout: LibxlLayout, nr_vcpus: int, vcpus_online: int, apic: bool = True,
          firmware_sizes=(), hvmloader_size: int | None = None) -> LibxcResult:
    """meminit_hvm, alloc_magic_pages_hvm, module placement and the final hvm_info bytes."""
    findings: list[Finding] = []
    failed = False
    lowmem_end, highmem_end = layout.lowmem_end, layout.highmem_end
    ram_pages = (lowmem_end >> PAGE_SHIFT) + (
        (highmem_end - FOUR_GB) >> PAGE_SHIFT if highmem_end > FOUR_GB else 0)
    if ram_pages != layout.total_pages:
        findings.append(Finding("error", "vnuma-mismatch", "libxc",
                                f"vNUMA memory pages mismatch (0x{ram_pages:x} != 0x{layout.total_pages:x})"))
        failed = True
    hvm = layout.guest_type == "hvm"
    runs = meminit_extents(lowmem_end, highmem_end, layout.mmio_start, layout.mmio_size, vga_hole=hvm)
    extents = tuple(Extent(g, o, c) for g, o, c in runs)
    special = (Extent(IOREQ_SERVER_PFN_START, 0, 8), Extent(SPECIAL_PFN_START, 0, X86_HVM_NR_SPECIAL_PAGES))
    pages_4k = sum(e.count for e in extents if e.order == 0) + (VGA_HOLE_END - VGA_HOLE_START if hvm else 0)
    n2m = sum(e.count for e in extents if e.order == 9)
    n1g = sum(e.count for e in extents if e.order == 18)
    populated = normalise(
        [(e.gfn << PAGE_SHIFT, e.end_gfn << PAGE_SHIFT) for e in extents + special])
    if layout.pod:
        findings.append(Finding(
            "info", "pod", "libxc",
            f"memory < maxmem: populate-on-demand; the extents are issued with "
            f"XENMEMF_populate_on_demand and the PoD target is {hexa(layout.target_pages - 0x20)} pages"))

    modules = place_modules(firmware_sizes, hvmloader_size)
    names = {"acpi_firmware": "ACPI module", "smbios_firmware": "SMBIOS module"}
    for m in modules:
        if m.addr > layout.mmio_start or m.end > layout.mmio_start:
            findings.append(Finding(
                "error", "module-above-4g", "libxc",
                f"module_init_one: Module {names.get(m.kind, m.kind)} would be loaded abrove 4GB "
                f"(sic; [{hexa(m.addr)}, {hexa(m.end - 1)}] reaches the MMIO hole at "
                f"{hexa(layout.mmio_start)})",
                (m.addr,)))
            failed = True
        elif m.end > lowmem_end:
            findings.append(Finding(
                "error", "module-beyond-lowmem", "libxc",
                f"{m.kind} module [{hexa(m.addr)}, {hexa(m.end - 1)}] does not fit below lowmem_end "
                f"{hexa(lowmem_end)}", (m.addr,)))
            failed = True
        for r in layout.rdms:
            if overlaps(m.addr, m.end, r.start, r.end):
                findings.append(Finding(
                    "error" if r.exposed else "warning", "module-over-rdm", "libxc",
                    f"{m.kind} module [{hexa(m.addr)}, {hexa(m.end - 1)}] ({size_str(m.size)}) lies on the "
                    f"RDM at {hexa(r.start)}: the firmware is loaded into memory a device may DMA to",
                    (m.addr, r.start)))
    if (lowmem_end >> PAGE_SHIFT) > RESERVED_MEM_PGSTART:
        findings.append(Finding("error", "lowmem-over-special", "libxc",
                                f"lowmem_end {hexa(lowmem_end)} covers the special pages at "
                                f"{hexa(RESERVED_MEM_PGSTART << PAGE_SHIFT)}"))
        failed = True
    high_pgend = highmem_end >> PAGE_SHIFT
    if high_pgend > 0xFFFFFFFF:
        findings.append(Finding(
            "error", "hvm-info-truncated", "libxc",
            f"highmem_end {hexa(highmem_end)} does not fit hvm_info's 32-bit high_mem_pgend: build_hvm_info "
            f"stores {hexa(high_pgend & 0xFFFFFFFF)} and hvmloader sees a wrong memory size "
            f"(HVM guests end below 16 TiB)", (highmem_end,)))
        failed = True
    info = hvm_info_bytes(lowmem_end >> PAGE_SHIFT, high_pgend & 0xFFFFFFFF, nr_vcpus, vcpus_online, apic)
    return LibxcResult(extents, special, populated, pages_4k, n2m, n1g, layout.pod, modules, info,
                       tuple(findings), failed)


__all__ = ["Extent", "LibxcResult", "Module", "build", "meminit_extents", "HVM_INFO_PFN"]
