"""Decode and build ACPI DMAR tables.

decode() walks the table the way Linux and Xen do (structure header, then the structure's own
Length), checks every length against the bytes that are really there before construct sees them,
and stops with an InputError naming the byte offset and the structure when a length is zero,
too short, too long or past the end. build() is the exact inverse: build(decode(x)) == x. Both
go by the structure's row of STRUCTURE_TYPES (xlrmrr.acpi.model): its Struct, fixed size, fields
and tail. decode() parses with construct's compiled form of those Structs (xlrmrr.acpi.compiled,
generated from them at build time), build() with the Structs themselves.

The records and their JSON form live in xlrmrr.acpi.model; they are importable from here too.
"""

from __future__ import annotations

from io import BytesIO
from struct import Struct as _Layout

from xlrmrr.acpi import compiled as C
from xlrmrr.acpi import structs as S
from xlrmrr.acpi.model import (
    STRUCTURE_TYPES,
    UNKNOWN_TYPE,
    Dmar,
    Scope,
    Structure,
    StructureType,
    from_json,
    kind_of,
    with_offsets,
)
from xlrmrr.acpi.spec import ACPI_HEADER_SIZE, DMAR_HEADER_SIZE, SCOPE_HEADER_SIZE, SIGNATURES
from xlrmrr.common import InputError

__all__ = ["ACPI_HEADER_SIZE", "DMAR_HEADER_SIZE", "SCOPE_HEADER_SIZE", "SIGNATURES",
           "STRUCTURE_TYPES", "UNKNOWN_TYPE", "Dmar", "Scope", "Structure", "StructureType",
           "build", "decode", "from_json", "kind_of", "with_offsets"]


def _err(name: str, what: str, msg: str, at: int) -> InputError:
    """A structure or scope that cannot be decoded: `what` names it and its offset `at`, which
    the error also carries as its `offset` field."""
    return InputError(f"{name}: {what}: {msg}", source=name, offset=at)


def decode(data: bytes, name: str = "DMAR") -> Dmar:
    """Decode a DMAR table; `name` (file name or "DMAR") prefixes every error message."""
    data = bytes(data)
    if len(data) < ACPI_HEADER_SIZE:
        raise InputError(f"{name}: table ends at offset {len(data):#x}, inside the 36-byte ACPI "
                         f"table header (truncated table)", source=name, offset=len(data))
    signature = data[0:4]
    if signature not in SIGNATURES:
        raise InputError(f"{name}: signature {signature!r} at offset 0x0 is not DMAR (nor RMAD "
                         f"or XMAR, as Xen leaves it after parsing)", source=name, offset=0)
    length = int.from_bytes(data[4:8], "little")
    if length > len(data):
        raise InputError(f"{name}: table Length {length:#x} at offset 0x4 is larger than the "
                         f"{len(data):#x} bytes available (truncated table, or the Length lies)",
                         source=name, offset=4)
    if length < DMAR_HEADER_SIZE:
        raise InputError(f"{name}: table Length {length:#x} at offset 0x4 is shorter than the "
                         f"48-byte DMAR header", source=name, offset=4)
    data = data[:length]
    ctx = _context()
    top = C.TABLE.parsefunc(BytesIO(data), ctx)
    hdr = top["header"]
    structures = []
    off = DMAR_HEADER_SIZE
    while off < length:
        left = length - off
        if left < 4:
            raise _err(name, f"structure at offset {off:#x}",
                       f"only {left} bytes left before the table end ({length:#x}), less than "
                       f"the 4-byte structure header", at=off)
        stype, slen = _TYPE_LENGTH(data, off)
        kind = kind_of(stype)
        if slen == 0:
            raise _err(name, _what(off, kind, stype), 'length 0 (Linux: "Invalid 0-length structure"; Xen: '
                                   '"Invalid ACPI DMAR entry length: 0")', at=off)
        fixed = kind.fixed
        if slen < fixed:
            raise _err(name, _what(off, kind, stype),
                       f"length {slen:#x} is shorter than the {fixed}-byte fixed part "
                       f'(Xen: "Invalid ACPI DMAR entry length: {slen:#x}", VT-d disabled)',
                       at=off)
        if off + slen > length:
            raise _err(name, _what(off, kind, stype),
                       f"length {slen:#x} runs past the table end at {length:#x} "
                       f'(Linux: "Record passes table end")', at=off)
        if not kind.tail and slen != fixed:
            raise _err(name, _what(off, kind, stype),
                       f"length {slen:#x} is not the {fixed}-byte {kind.name} size", at=off)
        body = data[off:off + slen]
        structures.append(_decode_structure(kind, stype, body, off, name, ctx))
        off += slen
    checksum_valid = sum(data) & 0xFF == 0
    return Dmar(signature=signature, revision=hdr.revision, checksum=hdr.checksum,
                oem_id=hdr.oem_id, oem_table_id=hdr.oem_table_id, oem_revision=hdr.oem_revision,
                asl_compiler_id=hdr.asl_compiler_id,
                asl_compiler_revision=hdr.asl_compiler_revision,
                host_address_width=top.host_address_width, flags=top.flags,
                reserved=top.reserved, structures=tuple(structures),
                checksum_valid=checksum_valid)


# A structure's Type and Length (ACPI_DMAR_HEADER), read before its Struct may see the bytes
_TYPE_LENGTH = _Layout("<HH").unpack_from
# The compiled parser of each row of STRUCTURE_TYPES (and UNKNOWN_TYPE), by row name
_PARSERS: dict = {}


def _context():
    """The context construct's parse() gives a compiled parser (Construct.parse_stream), made
    once per process instead of once per structure and scope (the parsers never write to it).
    It is also the `_root` of every structure parsed with it (no Struct of xlrmrr.acpi.structs
    refers to `this._root`): a structure's own context would otherwise be its root, a reference
    cycle per structure and scope that the program, running with the cycle collector off, would
    never free (14 MB for a 10,000-RMRR table)."""
    global _CTX
    if _CTX is None:
        from construct import Container

        _CTX = Container(_parsing=True, _building=False, _sizing=False)
        _CTX._params = _CTX._root = _CTX
    return _CTX


_CTX = None


def _what(off: int, kind: StructureType, stype: int) -> str:
    """How an error names the structure at `off` (made only for an error)."""
    return f"structure at offset {off:#x} ({kind.name if kind is not UNKNOWN_TYPE else f'type {stype}'})"


def _check_scopes(body: bytes, start: int, base: int, name: str, kind: StructureType,
                  stype: int) -> None:
    pos = start
    while pos < len(body):
        left = len(body) - pos
        slen = body[pos + 1] if left >= 2 else 0
        if left >= 2 and slen >= SCOPE_HEADER_SIZE and not (slen - SCOPE_HEADER_SIZE) % 2 \
                and pos + slen <= len(body):
            pos += slen
            continue
        at = base + pos
        where = f"device scope at offset {at:#x} in {_what(base, kind, stype)}"
        if left < 2:
            raise _err(name, where, f"only {left} byte left, less than a scope header", at=at)
        slen = body[pos + 1]
        if slen < SCOPE_HEADER_SIZE:
            raise _err(name, where, f"length {slen:#x} is shorter than the 6-byte scope header "
                                    f"(Xen: \"Invalid device scope\")", at=at)
        if (slen - SCOPE_HEADER_SIZE) % 2:
            raise _err(name, where, f"length {slen:#x} leaves half a path entry "
                                    f"(6 + 2 bytes per path entry)"
                                    + (' (Xen: "Invalid device scope", VT-d disabled)'
                                       if slen < 8 else ""), at=at)
        if pos + slen > len(body):
            raise _err(name, where, f"length {slen:#x} runs past the end of its structure at "
                                    f"{base + len(body):#x}", at=at)
        pos += slen


def _decode_structure(kind: StructureType, stype: int, body: bytes, off: int, name: str,
                      ctx) -> Structure:
    """One structure whose Length has been checked: the compiled form of its Struct parses the
    bytes (for a type with device scopes, the part before them, then each scope, whose lengths
    _check_scopes has checked), its row says which of the parsed fields are Structure's."""
    io = BytesIO(body)
    parse = _PARSERS.get(kind.name)
    if parse is None:
        parse = _PARSERS[kind.name] = getattr(C, kind.name.upper()).parsefunc
    c = parse(io, ctx)
    kw = {f: c[f] for f in kind.fields}
    if kind.tail == "scopes":
        _check_scopes(body, kind.fixed, off, name, kind, stype)
        scope = C.SCOPE.parsefunc
        out = []
        pos, end = kind.fixed, len(body)
        while pos < end:
            s = scope(io, ctx)
            out.append(Scope(type=s["type"], bus=s["bus"],
                             path=tuple([(p["device"], p["function"]) for p in s["path"]]),
                             enumeration_id=s["enumeration_id"], flags=s["flags"],
                             reserved=s["reserved"], offset=off + pos))
            pos += s["length"]
        kw["scopes"] = tuple(out)
    elif kind.tail:
        kw[kind.tail] = c[kind.tail]
    return Structure(type=stype, offset=off, **kw)


def _scope_dicts(scopes) -> list[dict]:
    return [{"type": s.type, "flags": s.flags, "reserved": s.reserved,
             "enumeration_id": s.enumeration_id, "bus": s.bus,
             "path": [{"device": d, "function": f} for d, f in s.path]} for s in scopes]


def _build_structure(s: Structure) -> bytes:
    kind = s.kind
    obj = {f: getattr(s, f) for f in kind.fields}
    obj["type"], obj["length"] = s.type, s.length
    if kind.tail == "scopes":
        obj["scopes"] = _scope_dicts(s.scopes)
    elif kind.tail:
        obj[kind.tail] = getattr(s, kind.tail)
    return kind.struct.build(obj)


def _unfit(e: Exception, structure: str = "", what: str = "") -> InputError:
    """A value of a Dmar (from its JSON form) that its field cannot hold, in one line naming
    where it is: the structure's JSON path and construct's path to the field in it, or, for the
    table header, the field's JSON key (either is the error's json_path field)."""
    reason = str(e).split("\n")[-1]
    fields = [p.strip() for p in (getattr(e, "path", None) or "").split("->")[1:]]
    if structure:
        where = f"{structure} ({what})" + (f": {' -> '.join(fields)}" if fields else "")
        json_path = structure
    else:
        where = json_path = fields[-1] if fields else "header"
    return InputError(f"DMAR source: {where}: the value does not fit its field ({reason})",
                      json_path=json_path)


def build(dmar: Dmar) -> bytes:
    """The table bytes. Lengths come from the content; the checksum from dmar.checksum, or is
    computed when that is None."""
    from construct import ConstructError

    parts = []
    for i, s in enumerate(dmar.structures):
        try:
            parts.append(_build_structure(s))
        except (ConstructError, ValueError, OverflowError) as e:
            raise _unfit(e, f"structures[{i}]", s.type_name) from None
    body = b"".join(parts)
    length = DMAR_HEADER_SIZE + len(body)
    if length > 0xFFFFFFFF:
        raise InputError(f"DMAR: {length:#x} bytes do not fit the 32-bit table Length")
    header = dict(signature=dmar.signature, length=length, revision=dmar.revision,
                  checksum=dmar.checksum or 0, oem_id=dmar.oem_id, oem_table_id=dmar.oem_table_id,
                  oem_revision=dmar.oem_revision, asl_compiler_id=dmar.asl_compiler_id,
                  asl_compiler_revision=dmar.asl_compiler_revision)
    try:
        table = bytearray(S.DmarTable.build(dict(header=header,
                                                 host_address_width=dmar.host_address_width,
                                                 flags=dmar.flags, reserved=dmar.reserved)) + body)
    except (ConstructError, ValueError, OverflowError) as e:
        raise _unfit(e) from None
    if dmar.checksum is None:
        table[9] = (-sum(table)) & 0xFF
    return bytes(table)
