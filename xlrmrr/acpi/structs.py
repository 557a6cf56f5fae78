"""construct structures for the ACPI table header and the DMAR table: one Struct per table of the
Intel VT-d specification (chapter 8), named as the specification names it, with ACPICA's
(actbl1.h) field names.

Every structure keeps its reserved fields, so that building a decoded structure gives back the
same bytes, and every field is a plain integer or byte string: flags stay the byte the table
holds, reserved bits included (construct's FlagsEnum would keep only the named bits, and
build(decode(x)) == x must hold for any table); their names are in xlrmrr.acpi.spec.

A remapping structure's Length is built from the value given (the decoder's records compute it:
the fixed part, sizeof() of the Struct without its variable tail, plus the tail); a device
scope's Length is rebuilt from its path. The decoder (xlrmrr.acpi.dmar) checks every length
before handing a byte range to these structures, so they never see a lying length.

No field is computed by a Python function (construct's compiler cannot emit one): every Struct
can be compiled with Struct.compile(), which tests/test_acpi_structs.py checks against the
interpreted parse.
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
    Int24ul,
    Int32ul,
    Int64ul,
    Rebuild,
    SizeofError,
    Struct,
    len_,
    this,
)

from xlrmrr.acpi.spec import PATH_ENTRY_SIZE, SCOPE_HEADER_SIZE, DmarType

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
    "host_address_width" / Int8ul,      # N means N+1 address bits
    "flags" / Int8ul,                   # spec.DmarFlags
    "reserved" / Bytes(10),
)

DmarPciPath = Struct(
    "device" / Int8ul,
    "function" / Int8ul,
)

DeviceScope = Struct(
    "type" / Int8ul,                    # spec.ScopeType
    "length" / Rebuild(Int8ul, SCOPE_HEADER_SIZE + PATH_ENTRY_SIZE * len_(this.path)),
    "flags" / Int8ul,
    "reserved" / Int8ul,
    "enumeration_id" / Int8ul,
    "bus" / Int8ul,                     # Start Bus Number
    "path" / Array((this.length - SCOPE_HEADER_SIZE) // PATH_ENTRY_SIZE, DmarPciPath),
)

DeviceScopes = GreedyRange(DeviceScope)


def _header(type_: int | None) -> tuple:
    """ACPI_DMAR_HEADER: Type (a constant for a known type) and Length."""
    return ("type" / (Int16ul if type_ is None else Const(type_, Int16ul)),
            "length" / Int16ul)


DRHD = Struct(
    *_header(DmarType.DRHD),
    "flags" / Int8ul,                   # spec.DrhdFlags
    "size" / Int8ul,                    # bits 3:0: the register set is 2^N 4 KiB pages
    "segment" / Int16ul,
    "register_base" / Int64ul,
    "scopes" / DeviceScopes,
)

RMRR = Struct(
    *_header(DmarType.RMRR),
    "reserved" / Int16ul,
    "segment" / Int16ul,
    "base" / Int64ul,
    "end" / Int64ul,                    # inclusive
    "scopes" / DeviceScopes,
)

ATSR = Struct(
    *_header(DmarType.ATSR),
    "flags" / Int8ul,                   # spec.AtsrFlags
    "reserved" / Int8ul,
    "segment" / Int16ul,
    "scopes" / DeviceScopes,
)

RHSA = Struct(
    *_header(DmarType.RHSA),
    "reserved" / Int32ul,
    "register_base" / Int64ul,
    "proximity_domain" / Int32ul,
)

ANDD = Struct(
    *_header(DmarType.ANDD),
    "reserved" / Int24ul,
    "device_number" / Int8ul,
    "name" / GreedyBytes,               # DeviceName: raw, NUL-terminated ASCII, possibly padded
)

SATC = Struct(
    *_header(DmarType.SATC),
    "flags" / Int8ul,                   # spec.SatcFlags
    "reserved" / Int8ul,
    "segment" / Int16ul,
    "scopes" / DeviceScopes,
)

SIDP = Struct(
    *_header(DmarType.SIDP),
    "reserved" / Int16ul,
    "segment" / Int16ul,
    "scopes" / DeviceScopes,
)

# A reserved type (7 and above): Linux and Xen skip it by its Length; kept as raw bytes.
Unknown = Struct(
    *_header(None),
    "data" / GreedyBytes,
)


def fixed_size(struct: Struct) -> int:
    """The bytes of a structure before its variable tail (its scopes, ANDD's name, an unknown
    type's data): sizeof() of the Struct without its last field, or of all of it (RHSA)."""
    try:
        return struct.sizeof()
    except SizeofError:                 # a greedy tail has no size
        return Struct(*struct.subcons[:-1]).sizeof()


__all__ = ["AcpiTableHeader", "DmarTable", "DmarPciPath", "DeviceScope", "DeviceScopes", "DRHD",
           "RMRR", "ATSR", "RHSA", "ANDD", "SATC", "SIDP", "Unknown", "fixed_size"]
