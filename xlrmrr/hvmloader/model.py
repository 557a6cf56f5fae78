"""What hvmloader is handed and what it leaves: hvm_info, xenstore keys, the guest PCI bus,
BAR placements and the final e820. Addresses from hvmloader's config.h."""

from __future__ import annotations

from xlrmrr.common import E820_NAMES, E820Entry, Finding, hexa
from xlrmrr.host.model import Bar
from xlrmrr.records import record

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

# Where hvmloader BUG()s (HvmloaderResult.bug).
BUG_MEMORY_MAP = "memory_map_setup"
BUG_E820 = "build_e820_table"


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


def hvmloader_finding(severity, code, message, *addrs) -> Finding:
    return Finding(severity, code, "hvmloader", message, tuple(addrs))


@record(eq=False)
class HvmInfo:
    """What hvmloader reads of hvm_info_table: low_mem_pgend and high_mem_pgend, as bytes."""

    low_mem_end: int
    high_mem_end: int


@record(eq=False)
class Xenstore:
    """The xenstore keys libxl writes for hvmloader (libxl_dm.c, libxl_create.c)."""

    allow_memory_relocate: bool   # hvmloader/allow-memory-relocate (0 for qemu-xen; unset: 1)
    mmio_hole_size: int           # platform/mmio_hole_size, 0 when not written
    bios: str                     # hvmloader/bios: seabios, ovmf or rombios
    acpi: bool                    # platform/acpi


@record(eq=False)
class GuestPciDevice:
    """A function on the guest's PCI bus, as pci_setup finds it."""

    name: str                     # "xen-platform", "vga", or an SBDF
    bars: tuple[Bar, ...]         # memory BARs only
    assumed: bool                 # the sizes are documented defaults, not from the host
    igd: bool = False             # an Intel VGA-class device: pci_setup allocates the OpRegion


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
class RdmOverlap:
    """Something hvmloader puts over an RDM: a BAR (bar-over-rdm, bar64-over-rdm) or relocated
    guest RAM (ram-relocated-over-rdm), with the finding that says it. addrs: the finding's
    addresses (the BAR base, the RDM)."""

    code: str
    rdm_start: int
    addrs: tuple[int, ...]
    finding: Finding


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
    rdm_overlaps: tuple[RdmOverlap, ...] = ()    # in the order of their findings

    def dump(self) -> str:
        return dump_e820_table(self.e820)


def dump_e820_table(e820) -> str:
    """hvmloader's dump_e820_table output (e820.c), beside the result it prints."""
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
