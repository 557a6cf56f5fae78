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

from xlrmrr.acpi.dmar import SCOPE_HEADER_SIZE

# ACPI_DMAR_TYPE_*
TYPE_DRHD, TYPE_RMRR, TYPE_ATSR, TYPE_RHSA, TYPE_ANDD, TYPE_SATC, TYPE_SIDP = range(7)


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


def _with_scopes(type_: int, fixed: int, *fields) -> Struct:
    """A structure that ends in device scopes (DRHD, RMRR, ATSR, SATC, SIDP): Type, Length (the
    `fixed` bytes up to the first scope plus the scopes, recomputed when building), its own
    fields, then the scopes."""
    return Struct(
        "type" / Const(type_, Int16ul),
        "length" / Rebuild(Int16ul, lambda ctx: fixed + _scopes_length(ctx)),
        *fields,
        "scopes" / DeviceScopes,
    )


DmarHardwareUnit = _with_scopes(
    TYPE_DRHD, 16,
    "flags" / Int8ul,
    "size" / Int8ul,
    "segment" / Int16ul,
    "register_base" / Int64ul,
)

DmarReservedMemory = _with_scopes(
    TYPE_RMRR, 24,
    "reserved" / Int16ul,
    "segment" / Int16ul,
    "base" / Int64ul,
    "end" / Int64ul,
)

DmarAtsr = _with_scopes(
    TYPE_ATSR, 8,
    "flags" / Int8ul,
    "reserved" / Int8ul,
    "segment" / Int16ul,
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

DmarSatc = _with_scopes(
    TYPE_SATC, 8,
    "flags" / Int8ul,
    "reserved" / Int8ul,
    "segment" / Int16ul,
)

DmarSidp = _with_scopes(
    TYPE_SIDP, 8,
    "reserved" / Int16ul,
    "segment" / Int16ul,
)

DmarUnknown = Struct(
    "type" / Int16ul,
    "length" / Rebuild(Int16ul, lambda ctx: 4 + len(ctx.data)),
    "data" / GreedyBytes,
)

# Aliases under the names the VT-d specification and Xen use.
Drhd, Rmrr, Atsr, Rhsa, Andd, Satc, Sidp = (
    DmarHardwareUnit, DmarReservedMemory, DmarAtsr, DmarRhsa, DmarAndd, DmarSatc, DmarSidp)

__all__ = ["AcpiTableHeader", "DmarTable", "DmarHeader", "DeviceScope", "DmarHardwareUnit",
           "DmarReservedMemory", "DmarAtsr", "DmarRhsa", "DmarAndd", "DmarSatc", "DmarSidp",
           "DmarUnknown", "Drhd", "Rmrr", "Atsr", "Rhsa", "Andd", "Satc", "Sidp"]
