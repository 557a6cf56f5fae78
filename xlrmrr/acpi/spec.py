"""The names the Intel VT-d specification (chapter 8, "BIOS Considerations") and ACPICA's actbl1.h
give to DMAR structure types, device scope types and flag bits, and the fixed sizes of the table
headers. No construct here: the stages that only read a decoded table (host/, acpi/checks.py,
the CLI) import these names without loading construct.

The values are plain ints in namespaces (not enum.IntEnum: a record's `type` and `flags` stay
the int read from the table, which JSON prints and `format` renders unchanged, and an enum class
costs start-up on every `xlrmrr create`). `flag_names` lists a flag namespace's bits by name.
"""

from __future__ import annotations

ACPI_HEADER_SIZE = 36        # ACPI_TABLE_HEADER
DMAR_HEADER_SIZE = 48        # ACPI_TABLE_DMAR: the header, Host Address Width, Flags, Reserved
STRUCTURE_HEADER_SIZE = 4    # ACPI_DMAR_HEADER: Type, Length
SCOPE_HEADER_SIZE = 6        # ACPI_DMAR_DEVICE_SCOPE up to its path
PATH_ENTRY_SIZE = 2          # ACPI_DMAR_PCI_PATH: Device, Function

# Xen hides the table from dom0 once it has parsed it: RMAD today, XMAR in older releases.
SIGNATURES = (b"DMAR", b"RMAD", b"XMAR")


class DmarType:
    """Remapping structure types (ACPI_DMAR_TYPE_*); 7 and above are reserved."""

    DRHD = 0     # DMA Remapping Hardware Unit Definition (ACPI_DMAR_TYPE_HARDWARE_UNIT)
    RMRR = 1     # Reserved Memory Region Reporting (ACPI_DMAR_TYPE_RESERVED_MEMORY)
    ATSR = 2     # Root Port ATS Capability Reporting (ACPI_DMAR_TYPE_ROOT_ATS)
    RHSA = 3     # Remapping Hardware Static Affinity (ACPI_DMAR_TYPE_HARDWARE_AFFINITY)
    ANDD = 4     # ACPI Name-space Device Declaration (ACPI_DMAR_TYPE_NAMESPACE)
    SATC = 5     # SoC Integrated Address Translation Cache (ACPI_DMAR_TYPE_SATC, VT-d 3.2)
    SIDP = 6     # SoC Integrated Device Property (ACPI_DMAR_TYPE_SIDP, VT-d 4.x)


class ScopeType:
    """Device scope entry types (ACPI_DMAR_SCOPE_TYPE_*); 0 and 6 and above are reserved."""

    ENDPOINT = 1     # PCI Endpoint Device
    BRIDGE = 2       # PCI Sub-hierarchy: the named device is a bridge, the scope covers its buses
    IOAPIC = 3       # IOAPIC (DRHD only; Enumeration ID = I/O APIC ID)
    HPET = 4         # MSI_CAPABLE_HPET (DRHD only; Enumeration ID = HPET number)
    NAMESPACE = 5    # ACPI_NAMESPACE_DEVICE (DRHD only; Enumeration ID = an ANDD device number)


SCOPE_NAMES = {ScopeType.ENDPOINT: "PCI endpoint", ScopeType.BRIDGE: "PCI sub-hierarchy",
               ScopeType.IOAPIC: "IOAPIC", ScopeType.HPET: "HPET",
               ScopeType.NAMESPACE: "ACPI namespace device"}
# The scope types that name a device by its Enumeration ID (an APIC, HPET or ANDD number).
ENUMERATED_SCOPES = (ScopeType.IOAPIC, ScopeType.HPET, ScopeType.NAMESPACE)
# The scope types that name a PCI function by a path (the spec allows only these in an RMRR).
PCI_SCOPES = (ScopeType.ENDPOINT, ScopeType.BRIDGE)


class DmarFlags:
    """ACPI_TABLE_DMAR Flags; bits 7:3 reserved."""

    INTR_REMAP = 0x1
    X2APIC_OPT_OUT = 0x2
    DMA_CTRL_PLATFORM_OPT_IN = 0x4   # ACPICA still names it ACPI_DMAR_X2APIC_MODE


class DrhdFlags:
    """DRHD Flags; bits 7:1 reserved."""

    INCLUDE_PCI_ALL = 0x1            # ACPI_DMAR_INCLUDE_ALL


class AtsrFlags:
    """ATSR Flags; bits 7:1 reserved."""

    ALL_PORTS = 0x1                  # ACPI_DMAR_ALL_PORTS


class SatcFlags:
    """SATC Flags; bits 7:1 reserved."""

    ATC_REQUIRED = 0x1               # Xen ACPI_SATC_ATC_REQUIRED


def flag_names(flags: type) -> tuple[tuple[int, str], ...]:
    """(bit, name) for each flag of a namespace above, in the order the spec lists them."""
    return tuple((v, k) for k, v in vars(flags).items() if k.isupper())
