"""The decoded DMAR table: frozen records (Dmar, Structure, Scope), the table of remapping
structure types that drives decoding, building, length checks and the JSON form, and that JSON
form both ways.

STRUCTURE_TYPES has one row per structure type of the VT-d specification: its construct Struct
(xlrmrr.acpi.structs), the fields it shares with Structure, its variable tail, the keys to_json
prints and the names of its flags. Every type shares the one Structure record (a record class per
type would cost start-up on every `xlrmrr create` for no behaviour); the row says which of its
fields a type has. to_json uses the field names of a normalised `iasl -d` disassembly;
from_json() accepts that form back (offsets and lengths optional), which is how fixtures are
written.
"""

from __future__ import annotations

from dataclasses import field

from xlrmrr.acpi import structs as S
from xlrmrr.acpi.spec import (
    DMAR_HEADER_SIZE,
    SCOPE_HEADER_SIZE,
    SCOPE_NAMES,
    AtsrFlags,
    DmarType,
    DrhdFlags,
    SatcFlags,
)
from xlrmrr.common import InputError
from xlrmrr.records import record


@record(hot=True)
class Scope:
    """ACPI_DMAR_DEVICE_SCOPE: one device scope entry; offset is from the start of the table."""

    type: int
    bus: int
    path: tuple[tuple[int, int], ...]
    enumeration_id: int = 0
    flags: int = 0
    reserved: int = 0
    offset: int = 0

    @property
    def length(self) -> int:
        return SCOPE_HEADER_SIZE + 2 * len(self.path)

    @property
    def type_name(self) -> str:
        return SCOPE_NAMES.get(self.type, f"reserved type {self.type}")

    def path_str(self) -> str:
        """The path as `bus:dev.fn/dev.fn...`, the way a reader follows it from the start bus."""
        return f"{self.bus:02x}:" + "/".join(f"{d:02x}.{f:x}" for d, f in self.path)

    def to_json(self) -> dict:
        return {"offset": self.offset, "type": self.type, "length": self.length,
                "flags": self.flags, "enumeration_id": self.enumeration_id, "bus": self.bus,
                "path": [[d, f] for d, f in self.path]}


@record(hot=True)
class Structure:
    """One remapping structure. Every type shares this record; the fields a type has are those
    its row of STRUCTURE_TYPES names, the others stay at their defaults.

    DRHD: flags, size, segment, register_base, scopes. RMRR: reserved, segment, base, end
    (inclusive), scopes. ATSR/SATC: flags, reserved, segment, scopes. RHSA: reserved,
    register_base, proximity_domain. ANDD: reserved (3 bytes as int), device_number, name (raw,
    NUL terminated, maybe padded). SIDP: reserved, segment, scopes. Reserved types: data.
    """

    type: int
    offset: int = 0
    flags: int = 0
    size: int = 0
    segment: int = 0
    register_base: int = 0
    base: int = 0
    end: int = 0
    reserved: int = 0
    proximity_domain: int = 0
    device_number: int = 0
    name: bytes = b""
    scopes: tuple[Scope, ...] = ()
    data: bytes = b""

    @property
    def kind(self) -> StructureType:
        return _BY_TYPE.get(self.type, UNKNOWN_TYPE)

    @property
    def type_name(self) -> str:
        return self.kind.name

    @property
    def length(self) -> int:
        kind = self.kind
        if kind.tail == "scopes":
            return kind.fixed + sum(s.length for s in self.scopes)
        return kind.fixed + (len(getattr(self, kind.tail)) if kind.tail else 0)

    @property
    def device_name(self) -> str:
        """ANDD: the ACPI object name up to its NUL."""
        return self.name.split(b"\0", 1)[0].decode("latin-1")

    @property
    def describe(self) -> str:
        return f"structure at offset {self.offset:#x} ({self.type_name})"

    def to_json(self) -> dict:
        kind = self.kind
        out: dict = {"offset": self.offset, "type": self.type, "type_name": kind.name,
                     "length": self.length}
        for key in kind.json:
            value = getattr(self, key)
            out[key] = value.hex() if isinstance(value, bytes) else value
        if kind.tail == "scopes":
            out["scopes"] = [s.to_json() for s in self.scopes]
        return out


@record(eq=False)
class StructureType:
    """One remapping structure type: everything decoding, building, the length checks and the
    JSON form know about it. STRUCTURE_TYPES holds one per type of the VT-d specification;
    UNKNOWN_TYPE stands for the reserved types, which Linux and Xen skip by their Length."""

    type: int | None             # spec.DmarType; None for the reserved types
    name: str                    # the VT-d specification's short name
    struct: object               # its construct Struct (xlrmrr.acpi.structs)
    fixed: int                   # bytes before the variable tail: the shortest valid Length
    fields: tuple[str, ...]      # its fields after Type and Length: the Struct's and Structure's
    json: tuple[str, ...]        # what to_json prints after offset, type, type_name and length
    tail: str = ""               # the variable part: "scopes", or a bytes field of Structure
    tail_from_json: object = None    # the bytes tail from a structure's JSON object
    flags: type | None = None    # the names of its Flags bits (xlrmrr.acpi.spec)


def _row(type_, name, struct, fields, json, tail="", tail_from_json=None, flags=None):
    return StructureType(type_, name, struct, S.fixed_size(struct), fields, json, tail,
                         tail_from_json, flags)


def _andd_name(d: dict) -> bytes:
    """`device_name` and its terminating NUL, then `name_padding` more NUL bytes."""
    return d.get("device_name", "").encode("latin-1") + b"\0" + bytes(d.get("name_padding", 0))


def _data(d: dict) -> bytes:
    return bytes.fromhex(d.get("data", ""))


STRUCTURE_TYPES = (
    _row(DmarType.DRHD, "DRHD", S.DRHD, ("flags", "size", "segment", "register_base"),
         ("flags", "size", "segment", "register_base"), "scopes", flags=DrhdFlags),
    _row(DmarType.RMRR, "RMRR", S.RMRR, ("reserved", "segment", "base", "end"),
         ("segment", "base", "end"), "scopes"),
    _row(DmarType.ATSR, "ATSR", S.ATSR, ("flags", "reserved", "segment"), ("flags", "segment"),
         "scopes", flags=AtsrFlags),
    _row(DmarType.RHSA, "RHSA", S.RHSA, ("reserved", "register_base", "proximity_domain"),
         ("register_base", "proximity_domain")),
    _row(DmarType.ANDD, "ANDD", S.ANDD, ("reserved", "device_number"),
         ("device_number", "device_name"), "name", _andd_name),
    _row(DmarType.SATC, "SATC", S.SATC, ("flags", "reserved", "segment"), ("flags", "segment"),
         "scopes", flags=SatcFlags),
    _row(DmarType.SIDP, "SIDP", S.SIDP, ("reserved", "segment"), ("segment",), "scopes"),
)
UNKNOWN_TYPE = _row(None, "reserved", S.Unknown, (), ("data",), "data", _data)
_BY_TYPE = {k.type: k for k in STRUCTURE_TYPES}


def kind_of(type_: int) -> StructureType:
    """The row of STRUCTURE_TYPES for a structure type number (UNKNOWN_TYPE if reserved)."""
    return _BY_TYPE.get(type_, UNKNOWN_TYPE)


@record
class Dmar:
    """A decoded DMAR table (ACPI_TABLE_DMAR and its remapping structures, in table order)."""

    signature: bytes = b"DMAR"
    revision: int = 1
    checksum: int | None = None            # None: computed by build()
    oem_id: bytes = b"XLRMRR"
    oem_table_id: bytes = b"FIXTURE "
    oem_revision: int = 1
    asl_compiler_id: bytes = b"XLRM"
    asl_compiler_revision: int = 1
    host_address_width: int = 38           # N means N+1 address bits
    flags: int = 1
    reserved: bytes = bytes(10)
    structures: tuple[Structure, ...] = ()
    checksum_valid: bool = field(default=True, compare=False)

    @property
    def length(self) -> int:
        return DMAR_HEADER_SIZE + sum(s.length for s in self.structures)

    def of_type(self, t: int) -> tuple[Structure, ...]:
        return tuple(s for s in self.structures if s.type == t)

    @property
    def drhds(self) -> tuple[Structure, ...]:
        return self.of_type(DmarType.DRHD)

    @property
    def rmrrs(self) -> tuple[Structure, ...]:
        return self.of_type(DmarType.RMRR)

    def to_json(self) -> dict:
        return {
            "signature": self.signature.decode("latin-1"),
            "length": self.length,
            "revision": self.revision,
            "checksum": self.checksum,
            "checksum_valid": self.checksum_valid,
            "oem_id": _text(self.oem_id),
            "oem_table_id": _text(self.oem_table_id),
            "oem_revision": self.oem_revision,
            "asl_compiler_id": _text(self.asl_compiler_id),
            "asl_compiler_revision": self.asl_compiler_revision,
            "host_address_width": self.host_address_width,
            "flags": self.flags,
            "structures": [s.to_json() for s in self.structures],
        }


def _text(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("latin-1")


def with_offsets(dmar: Dmar) -> Dmar:
    """The same table with every structure and scope offset set to where build() puts it."""
    from dataclasses import replace

    out = []
    off = DMAR_HEADER_SIZE
    for s in dmar.structures:
        pos = off + s.kind.fixed
        scopes = []
        for sc in s.scopes:
            scopes.append(replace(sc, offset=pos))
            pos += sc.length
        out.append(replace(s, offset=off, scopes=tuple(scopes)))
        off += s.length
    return replace(dmar, structures=tuple(out))


def _padded(text, size: int, what: str) -> bytes:
    raw = text.encode("latin-1") if isinstance(text, str) else bytes(text)
    if len(raw) > size:
        raise InputError(f"DMAR source: {what} {text!r} is longer than {size} bytes",
                         json_path=what)
    return raw + bytes(size - len(raw))


def from_json(obj: dict) -> Dmar:
    """A Dmar from its JSON form (as to_json prints it; offsets, lengths, type_name optional).

    Extra keys understood: `checksum` null or absent (computed), `reserved` per structure,
    `name_padding` (ANDD: NUL bytes after the name's terminating NUL), `data` (hex, unknown
    types). The field names of `xlrmrr dmar --json` (report.dmar.json_text) are read too:
    host_address_width_field, a DRHD's size_field, an RMRR's base_address and end_address; its
    other keys (an RMRR's start and size, findings, ...) are ignored.
    """
    def n(v) -> int:
        return int(v, 0) if isinstance(v, str) else int(v)

    def scope(d: dict) -> Scope:
        return Scope(type=n(d["type"]), bus=n(d.get("bus", 0)),
                     path=tuple((n(p[0]), n(p[1])) for p in d.get("path", ())),
                     enumeration_id=n(d.get("enumeration_id", 0)), flags=n(d.get("flags", 0)),
                     reserved=n(d.get("reserved", 0)))

    structures = []
    for d in obj.get("structures", ()):
        t = n(d["type"])
        kind = kind_of(t)
        kw = {k: n(d[k]) for k in kind.fields if k in d}
        if t == DmarType.DRHD and "size_field" in d:
            kw["size"] = n(d["size_field"])
        elif t == DmarType.RMRR:        # its Base Address and End Address (limit) fields
            kw.update({k: n(d[f"{k}_address"]) for k in ("base", "end") if f"{k}_address" in d})
        if kind.tail == "scopes":
            kw["scopes"] = tuple(scope(s) for s in d.get("scopes", ()))
        elif kind.tail:
            kw[kind.tail] = kind.tail_from_json(d)
        structures.append(Structure(type=t, **kw))
    checksum = obj.get("checksum")
    dmar = Dmar(signature=obj.get("signature", "DMAR").encode("latin-1"),
                revision=obj.get("revision", 1), checksum=None if checksum is None else n(checksum),
                oem_id=_padded(obj.get("oem_id", "XLRMRR"), 6, "oem_id"),
                oem_table_id=_padded(obj.get("oem_table_id", "FIXTURE "), 8, "oem_table_id"),
                oem_revision=n(obj.get("oem_revision", 1)),
                asl_compiler_id=_padded(obj.get("asl_compiler_id", "XLRM"), 4, "asl_compiler_id"),
                asl_compiler_revision=n(obj.get("asl_compiler_revision", 1)),
                host_address_width=n(obj.get("host_address_width",
                                             obj.get("host_address_width_field", 38))),
                flags=n(obj.get("flags", 1)),
                structures=tuple(structures))
    return with_offsets(dmar)
