"""libxl_x86.c: domain_construct_memmap, the XENMEM_set_memory_map entries."""

from __future__ import annotations

from xlrmrr.common import (
    E820_RAM,
    E820_RESERVED,
    FOUR_GB,
    E820Entry,
    hexa,
)
from xlrmrr.libxl.model import E820MAX, HVM_LOWMEM_START, U64_MASK
from xlrmrr.libxl.model import libxl_finding as _finding


def construct_memmap(pvh, lowmem_end, highmem_end, rdms, findings):
    """domain_construct_memmap (docs/xen/flow.md#libxl-the-memory-map): the XENMEM_set_memory_map
    entries, unsorted."""
    exposed = [r for r in rdms if r.exposed]
    highmem_size = highmem_end - FOUR_GB if highmem_end > FOUR_GB else 0
    count = 1 + len(exposed) + (1 if pvh else 0) + (1 if highmem_size else 0)
    if count >= E820MAX:
        findings.append(_finding("error", "memmap-too-many", "Ooops! Too many entries in the memory map!"))
        findings.append(_finding("error", "set-memory-map-failed", "setting domain memory map failed"))
        return (), False
    lowmem_start = 0 if pvh else HVM_LOWMEM_START
    if lowmem_end < lowmem_start:
        findings.append(_finding(
            "error", "lowmem-underflow",
            f"lowmem_end {hexa(lowmem_end)} is below {hexa(lowmem_start)}: the size of libxl's low RAM "
            f"entry wraps around (u64 underflow) and hvmloader will hit BUG_ON(low_mem_end < 2 MiB)",
            lowmem_end))
    out = [E820Entry(lowmem_start, (lowmem_end - lowmem_start) & U64_MASK, E820_RAM)]
    out.extend(E820Entry(r.start, r.size, E820_RESERVED) for r in exposed)
    if pvh:
        out.append(E820Entry(0xFEFF8000, 0x8000, E820_RESERVED))
    if highmem_size:
        out.append(E820Entry(FOUR_GB, highmem_size, E820_RAM))
    return tuple(out), True
