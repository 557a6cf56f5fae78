"""construct structures for the ACPI table header and the DMAR table (ACPICA actbl1.h names).

One Struct per table of the VT-d specification. Every structure keeps its reserved fields, so
that building a decoded structure gives back the same bytes. Length fields are recomputed from
the content when building; the decoder (xlrmrr.acpi.dmar) checks every length before handing a
byte range to these structures, so they never see a lying length.
"""

from __future__ import annotations

from construct import (
    Array,
    Bytes,
    Const,
    GreedyBytes,
    GreedyRange,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    Rebuild,
    Struct,
    this,
)

ACPI_HEADER_SIZE = 36
DMAR_HEADER_SIZE = 48
SUBTABLE_HEADER_SIZE = 4
SCOPE_HEADER_SIZE = 6

# ACPI_DMAR_TYPE_*: type -> (short name, fixed size before scopes or name; has scopes)
TYPE_DRHD, TYPE_RMRR, TYPE_ATSR, TYPE_RHSA, TYPE_ANDD, TYPE_SATC, TYPE_SIDP = range(7)
STRUCTURE_TYPES = {
    TYPE_DRHD: ("DRHD", 16, True),
    TYPE_RMRR: ("RMRR", 24, True),
    TYPE_ATSR: ("ATSR", 8, True),
    TYPE_RHSA: ("RHSA", 20, False),
    TYPE_ANDD: ("ANDD", 8, False),
    TYPE_SATC: ("SATC", 8, True),
    TYPE_SIDP: ("SIDP", 8, True),
}

# ACPI_DMAR_SCOPE_TYPE_*
SCOPE_NOT_USED, SCOPE_ENDPOINT, SCOPE_BRIDGE, SCOPE_IOAPIC, SCOPE_HPET, SCOPE_NAMESPACE = range(6)
SCOPE_TYPE_NAMES = {
    SCOPE_NOT_USED: "reserved",
    SCOPE_ENDPOINT: "PCI endpoint",
    SCOPE_BRIDGE: "PCI sub-hierarchy",
    SCOPE_IOAPIC: "IOAPIC",
    SCOPE_HPET: "HPET",
    SCOPE_NAMESPACE: "ACPI namespace device",
}

# DMAR Flags (ACPI_TABLE_DMAR.Flags)
DMAR_INTR_REMAP = 0x1
DMAR_X2APIC_OPT_OUT = 0x2
DMAR_PLATFORM_OPT_IN = 0x4
DRHD_INCLUDE_PCI_ALL = 0x1
ATSR_ALL_PORTS = 0x1
SATC_ATC_REQUIRED = 0x1


def _scopes_length(ctx) -> int:
    return sum(SCOPE_HEADER_SIZE + 2 * len(s["path"]) for s in ctx.scopes)


AcpiTableHeader = Struct(
    "signature" / Bytes(4),
    "length" / Int32ul,
    "revision" / Int8ul,
    "checksum" / Int8ul,
    "oem_id" / Bytes(6),
    "oem_table_id" / Bytes(8),
    "oem_revision" / Int32ul,
    "asl_compiler_id" / Bytes(4),
    "asl_compiler_revision" / Int32ul,
)

DmarTable = Struct(
    "header" / AcpiTableHeader,
    "host_address_width" / Int8ul,
    "flags" / Int8ul,
    "reserved" / Bytes(10),
)

DmarHeader = Struct(
    "type" / Int16ul,
    "length" / Int16ul,
)

DmarPciPath = Struct(
    "device" / Int8ul,
    "function" / Int8ul,
)

DeviceScope = Struct(
    "type" / Int8ul,
    "length" / Rebuild(Int8ul, lambda ctx: SCOPE_HEADER_SIZE + 2 * len(ctx.path)),
    "flags" / Int8ul,
    "reserved" / Int8ul,
    "enumeration_id" / Int8ul,
    "bus" / Int8ul,
    "path" / Array((this.length - SCOPE_HEADER_SIZE) // 2, DmarPciPath),
)

DeviceScopes = GreedyRange(DeviceScope)

DmarHardwareUnit = Struct(
    "type" / Const(TYPE_DRHD, Int16ul),
    "length" / Rebuild(Int16ul, lambda ctx: 16 + _scopes_length(ctx)),
    "flags" / Int8ul,
    "size" / Int8ul,
    "segment" / Int16ul,
    "register_base" / Int64ul,
    "scopes" / DeviceScopes,
)

DmarReservedMemory = Struct(
    "type" / Const(TYPE_RMRR, Int16ul),
    "length" / Rebuild(Int16ul, lambda ctx: 24 + _scopes_length(ctx)),
    "reserved" / Int16ul,
    "segment" / Int16ul,
    "base" / Int64ul,
    "end" / Int64ul,
    "scopes" / DeviceScopes,
)

DmarAtsr = Struct(
    "type" / Const(TYPE_ATSR, Int16ul),
    "length" / Rebuild(Int16ul, lambda ctx: 8 + _scopes_length(ctx)),
    "flags" / Int8ul,
    "reserved" / Int8ul,
    "segment" / Int16ul,
    "scopes" / DeviceScopes,
)

DmarRhsa = Struct(
    "type" / Const(TYPE_RHSA, Int16ul),
    "length" / Const(20, Int16ul),
    "reserved" / Int32ul,
    "register_base" / Int64ul,
    "proximity_domain" / Int32ul,
)

DmarAndd = Struct(
    "type" / Const(TYPE_ANDD, Int16ul),
    "length" / Rebuild(Int16ul, lambda ctx: 8 + len(ctx.device_name)),
    "reserved" / Bytes(3),
    "device_number" / Int8ul,
    "device_name" / GreedyBytes,       # raw: NUL-terminated ASCII, possibly padded
)

DmarSatc = Struct(
    "type" / Const(TYPE_SATC, Int16ul),
    "length" / Rebuild(Int16ul, lambda ctx: 8 + _scopes_length(ctx)),
    "flags" / Int8ul,
    "reserved" / Int8ul,
    "segment" / Int16ul,
    "scopes" / DeviceScopes,
)

DmarSidp = Struct(
    "type" / Const(TYPE_SIDP, Int16ul),
    "length" / Rebuild(Int16ul, lambda ctx: 8 + _scopes_length(ctx)),
    "reserved" / Int16ul,
    "segment" / Int16ul,
    "scopes" / DeviceScopes,
)

DmarUnknown = Struct(
    "type" / Int16ul,
    "length" / Rebuild(Int16ul, lambda ctx: 4 + len(ctx.data)),
    "data" / GreedyBytes,
)

# Aliases under the names the VT-d specification and Xen use.
Drhd, Rmrr, Atsr, Rhsa, Andd, Satc, Sidp = (
    DmarHardwareUnit, DmarReservedMemory, DmarAtsr, DmarRhsa, DmarAndd, DmarSatc, DmarSidp)

STRUCTS = {
    TYPE_DRHD: DmarHardwareUnit,
    TYPE_RMRR: DmarReservedMemory,
    TYPE_ATSR: DmarAtsr,
    TYPE_RHSA: DmarRhsa,
    TYPE_ANDD: DmarAndd,
    TYPE_SATC: DmarSatc,
    TYPE_SIDP: DmarSidp,
}

__all__ = ["AcpiTableHeader", "DmarTable", "DmarHeader", "DeviceScope", "DmarHardwareUnit",
           "DmarReservedMemory", "DmarAtsr", "DmarRhsa", "DmarAndd", "DmarSatc", "DmarSidp",
           "DmarUnknown", "Drhd", "Rmrr", "Atsr", "Rhsa", "Andd", "Satc", "Sidp"]
