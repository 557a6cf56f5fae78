"""Decode and build ACPI DMAR tables.

decode() walks the table the way Linux and Xen do (structure header, then the structure's own
Length), checks every length against the bytes that are really there before construct sees them,
and stops with an InputError naming the byte offset and the structure when a length is zero,
too short, too long or past the end. build() is the exact inverse: build(decode(x)) == x.

The decoded form is a tree of frozen dataclasses (Dmar, Structure, Scope) whose JSON form
(to_json) uses the field names of a normalised `iasl -d` disassembly; from_json() accepts that
form back (offsets and lengths optional), which is how fixtures are written.
"""

from __future__ import annotations

from dataclasses import field

from xlrmrr.common import InputError
from xlrmrr.records import record

ACPI_HEADER_SIZE = 36
DMAR_HEADER_SIZE = 48
SCOPE_HEADER_SIZE = 6
# Xen hides the table from dom0 once it has parsed it: RMAD today, XMAR in older releases.
SIGNATURES = (b"DMAR", b"RMAD", b"XMAR")

TYPE_NAMES = {0: "DRHD", 1: "RMRR", 2: "ATSR", 3: "RHSA", 4: "ANDD", 5: "SATC", 6: "SIDP"}
FIXED_SIZE = {0: 16, 1: 24, 2: 8, 3: 20, 4: 8, 5: 8, 6: 8}
HAS_SCOPES = {0, 1, 2, 5, 6}
SCOPE_NAMES = {1: "PCI endpoint", 2: "PCI sub-hierarchy", 3: "IOAPIC", 4: "HPET",
               5: "ACPI namespace device"}


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
    """One remapping structure. Fields a type does not have stay at their defaults.

    DRHD: flags, size, segment, register_base, scopes. RMRR: reserved, segment, base, end
    (inclusive), scopes. ATSR/SATC: flags, reserved, segment, scopes. RHSA: reserved,
    register_base, proximity_domain. ANDD: reserved (3 bytes as int), device_number, name (raw,
    NUL terminated, maybe padded). SIDP: reserved, segment, scopes. Unknown types: data.
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
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, "reserved")

    @property
    def length(self) -> int:
        if self.type in HAS_SCOPES:
            return FIXED_SIZE[self.type] + sum(s.length for s in self.scopes)
        if self.type == 4:
            return 8 + len(self.name)
        if self.type == 3:
            return 20
        return 4 + len(self.data)

    @property
    def device_name(self) -> str:
        """ANDD: the ACPI object name up to its NUL."""
        return self.name.split(b"\0", 1)[0].decode("latin-1")

    @property
    def describe(self) -> str:
        return f"structure at offset {self.offset:#x} ({self.type_name})"

    def to_json(self) -> dict:
        out: dict = {"offset": self.offset, "type": self.type, "type_name": self.type_name,
                     "length": self.length}
        t = self.type
        if t == 0:
            out.update(flags=self.flags, size=self.size, segment=self.segment,
                       register_base=self.register_base)
        elif t == 1:
            out.update(segment=self.segment, base=self.base, end=self.end)
        elif t in (2, 5):
            out.update(flags=self.flags, segment=self.segment)
        elif t == 3:
            out.update(register_base=self.register_base, proximity_domain=self.proximity_domain)
        elif t == 4:
            out.update(device_number=self.device_number, device_name=self.device_name)
        elif t == 6:
            out.update(segment=self.segment)
        else:
            out.update(data=self.data.hex())
        if t in HAS_SCOPES:
            out["scopes"] = [s.to_json() for s in self.scopes]
        return out


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
        return self.of_type(0)

    @property
    def rmrrs(self) -> tuple[Structure, ...]:
        return self.of_type(1)

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


def _err(name: str, what: str, msg: str) -> InputError:
    return InputError(f"{name}: {what}: {msg}")


def decode(data: bytes, name: str = "DMAR") -> Dmar:
    """Decode a DMAR table; `name` (file name or "DMAR") prefixes every error message."""
    from xlrmrr.acpi import structs as S

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
    top = S.DmarTable.parse(data)
    hdr = top.header
    structures = []
    off = DMAR_HEADER_SIZE
    while off < length:
        left = length - off
        if left < 4:
            raise _err(name, f"structure at offset {off:#x}",
                       f"only {left} bytes left before the table end ({length:#x}), less than "
                       f"the 4-byte structure header")
        stype = int.from_bytes(data[off:off + 2], "little")
        slen = int.from_bytes(data[off + 2:off + 4], "little")
        what = f"structure at offset {off:#x} ({TYPE_NAMES.get(stype, f'type {stype}')})"
        if slen == 0:
            raise _err(name, what, 'length 0 (Linux: "Invalid 0-length structure"; Xen: '
                                   '"Invalid ACPI DMAR entry length: 0")')
        fixed = FIXED_SIZE.get(stype, 4)
        if slen < fixed:
            raise _err(name, what, f"length {slen:#x} is shorter than the {fixed}-byte fixed part "
                                   f'(Xen: "Invalid ACPI DMAR entry length: {slen:#x}", VT-d '
                                   f"disabled)")
        if off + slen > length:
            raise _err(name, what, f"length {slen:#x} runs past the table end at {length:#x} "
                                   f'(Linux: "Record passes table end")')
        if stype == 3 and slen != 20:
            raise _err(name, what, f"length {slen:#x} is not the 20-byte RHSA size")
        body = data[off:off + slen]
        structures.append(_decode_structure(S, stype, body, off, name, what, fixed))
        off += slen
    checksum_valid = sum(data) & 0xFF == 0
    return Dmar(signature=signature, revision=hdr.revision, checksum=hdr.checksum,
                oem_id=hdr.oem_id, oem_table_id=hdr.oem_table_id, oem_revision=hdr.oem_revision,
                asl_compiler_id=hdr.asl_compiler_id,
                asl_compiler_revision=hdr.asl_compiler_revision,
                host_address_width=top.host_address_width, flags=top.flags,
                reserved=top.reserved, structures=tuple(structures),
                checksum_valid=checksum_valid)


def _check_scopes(body: bytes, start: int, base: int, name: str, what: str) -> None:
    pos = start
    while pos < len(body):
        left = len(body) - pos
        where = f"device scope at offset {base + pos:#x} in {what}"
        if left < 2:
            raise _err(name, where, f"only {left} byte left, less than a scope header")
        slen = body[pos + 1]
        if slen < SCOPE_HEADER_SIZE:
            raise _err(name, where, f"length {slen:#x} is shorter than the 6-byte scope header "
                                    f"(Xen: \"Invalid device scope\")")
        if (slen - SCOPE_HEADER_SIZE) % 2:
            raise _err(name, where, f"length {slen:#x} leaves half a path entry "
                                    f"(6 + 2 bytes per path entry)"
                                    + (' (Xen: "Invalid device scope", VT-d disabled)'
                                       if slen < 8 else ""))
        if pos + slen > len(body):
            raise _err(name, where, f"length {slen:#x} runs past the end of its structure at "
                                    f"{base + len(body):#x}")
        pos += slen


def _scopes(c, base: int, start: int) -> tuple[Scope, ...]:
    out = []
    pos = base + start
    for s in c:
        out.append(Scope(type=s.type, bus=s.bus, path=tuple((p.device, p.function) for p in s.path),
                         enumeration_id=s.enumeration_id, flags=s.flags, reserved=s.reserved,
                         offset=pos))
        pos += s.length
    return tuple(out)


def _decode_structure(S, stype, body, off, name, what, fixed) -> Structure:
    if stype in HAS_SCOPES:
        _check_scopes(body, fixed, off, name, what)
    if stype == 0:
        c = S.DmarHardwareUnit.parse(body)
        return Structure(type=0, offset=off, flags=c.flags, size=c.size, segment=c.segment,
                         register_base=c.register_base, scopes=_scopes(c.scopes, off, fixed))
    if stype == 1:
        c = S.DmarReservedMemory.parse(body)
        return Structure(type=1, offset=off, reserved=c.reserved, segment=c.segment, base=c.base,
                         end=c.end, scopes=_scopes(c.scopes, off, fixed))
    if stype in (2, 5):
        c = (S.DmarAtsr if stype == 2 else S.DmarSatc).parse(body)
        return Structure(type=stype, offset=off, flags=c.flags, reserved=c.reserved,
                         segment=c.segment, scopes=_scopes(c.scopes, off, fixed))
    if stype == 3:
        c = S.DmarRhsa.parse(body)
        return Structure(type=3, offset=off, reserved=c.reserved, register_base=c.register_base,
                         proximity_domain=c.proximity_domain)
    if stype == 4:
        c = S.DmarAndd.parse(body)
        return Structure(type=4, offset=off, reserved=int.from_bytes(c.reserved, "little"),
                         device_number=c.device_number, name=c.device_name)
    if stype == 6:
        c = S.DmarSidp.parse(body)
        return Structure(type=6, offset=off, reserved=c.reserved, segment=c.segment,
                         scopes=_scopes(c.scopes, off, fixed))
    c = S.DmarUnknown.parse(body)
    return Structure(type=stype, offset=off, data=c.data)


def _scope_dicts(scopes) -> list[dict]:
    return [{"type": s.type, "flags": s.flags, "reserved": s.reserved,
             "enumeration_id": s.enumeration_id, "bus": s.bus,
             "path": [{"device": d, "function": f} for d, f in s.path]} for s in scopes]


def _build_structure(S, s: Structure) -> bytes:
    t = s.type
    if t == 0:
        return S.DmarHardwareUnit.build(dict(flags=s.flags, size=s.size, segment=s.segment,
                                             register_base=s.register_base,
                                             scopes=_scope_dicts(s.scopes)))
    if t == 1:
        return S.DmarReservedMemory.build(dict(reserved=s.reserved, segment=s.segment, base=s.base,
                                               end=s.end, scopes=_scope_dicts(s.scopes)))
    if t in (2, 5):
        return (S.DmarAtsr if t == 2 else S.DmarSatc).build(
            dict(flags=s.flags, reserved=s.reserved, segment=s.segment,
                 scopes=_scope_dicts(s.scopes)))
    if t == 3:
        return S.DmarRhsa.build(dict(reserved=s.reserved, register_base=s.register_base,
                                     proximity_domain=s.proximity_domain))
    if t == 4:
        return S.DmarAndd.build(dict(reserved=s.reserved.to_bytes(3, "little"),
                                     device_number=s.device_number, device_name=s.name))
    if t == 6:
        return S.DmarSidp.build(dict(reserved=s.reserved, segment=s.segment,
                                     scopes=_scope_dicts(s.scopes)))
    return S.DmarUnknown.build(dict(type=t, data=s.data))


def build(dmar: Dmar) -> bytes:
    """The table bytes. Lengths come from the content; the checksum from dmar.checksum, or is
    computed when that is None."""
    from construct import ConstructError

    from xlrmrr.acpi import structs as S

    try:
        body = b"".join(_build_structure(S, s) for s in dmar.structures)
    except (ConstructError, ValueError, OverflowError) as e:
        raise InputError(f"DMAR source: a value does not fit its field: {e}") from None
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
        raise InputError(f"DMAR source: a header value does not fit its field: {e}") from None
    if dmar.checksum is None:
        table[9] = (-sum(table)) & 0xFF
    return bytes(table)


def with_offsets(dmar: Dmar) -> Dmar:
    """The same table with every structure and scope offset set to where build() puts it."""
    from dataclasses import replace

    out = []
    off = DMAR_HEADER_SIZE
    for s in dmar.structures:
        pos = off + FIXED_SIZE.get(s.type, 4)
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
        raise InputError(f"DMAR source: {what} {text!r} is longer than {size} bytes")
    return raw + bytes(size - len(raw))


def from_json(obj: dict) -> Dmar:
    """A Dmar from its JSON form (as to_json prints it; offsets, lengths, type_name optional).

    Extra keys understood: `checksum` null or absent (computed), `reserved` per structure,
    `name_padding` (ANDD: NUL bytes after the name's terminating NUL), `data` (hex, unknown
    types). The field names of `xlrmrr dmar --json` (cli.dmar.json_text) are read too:
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
        kw = {k: n(d[k]) for k in ("flags", "size", "segment", "register_base", "base", "end",
                                   "reserved", "proximity_domain", "device_number") if k in d}
        if t == 0 and "size_field" in d:
            kw["size"] = n(d["size_field"])
        if t == 1:      # an RMRR has no size field: `dmar --json` gives its range's size
            kw.pop("size", None)
            kw.update({k: n(d[f"{k}_address"]) for k in ("base", "end") if f"{k}_address" in d})
        if t == 4:
            kw["name"] = (d.get("device_name", "").encode("latin-1") + b"\0"
                          + bytes(d.get("name_padding", 0)))
        if t not in TYPE_NAMES:
            kw["data"] = bytes.fromhex(d.get("data", ""))
        structures.append(Structure(type=t, scopes=tuple(scope(s) for s in d.get("scopes", ())),
                                    **kw))
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
