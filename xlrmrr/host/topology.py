"""PCI topology and host memory map from a JSON host description (fixtures and snapshots).

host.json layout (every number may be a JSON integer or a hex string such as "0x1a"):

    {
      "xen_version": "4.17",                      optional: the hypervisor the data came from,
                                                  a string X.Y[.Z] in the modelled releases
      "e820": [ {"addr": "0x0", "size": "0x9f000", "type": "RAM"}, ... ],
                                                  type: RAM RESERVED ACPI NVS UNUSABLE or 1..5
      "devices": [
        {"sbdf": "0000:00:14.0",
         "class": "0x0c0330", "vendor": "0x8086", "device": "0xa36d",
         "header_type": 0,                        config 0x0E (bit 7 = multi-function)
         "secondary_bus": 1, "subordinate_bus": 3,    bridges: config 0x19 / 0x1A
         "config": "86806da3...",                 optional: first 64 bytes of config space, hex;
                                                  fills the fields above that are missing
         "bars": [ {"index": 0, "size": "0x10000", "is_64bit": true,
                    "prefetchable": false, "is_io": false} ],
                                                  size: bytes, a power of two up to 2**63
         "reset_method": "flr", "iommu_group": 5}
      ]
    }

A file with only "devices" describes a topology. --host-json requires "devices"; a snapshot's
host.json without it means "topology unknown" (deeper scope paths are then reported unresolved,
not guessed). Other top-level keys are rejected (a snapshot's also has "format" and "notes").
"""

from __future__ import annotations

from xlrmrr.common import E820_NAMES, E820Entry, InputError, Sbdf, XenVersion
from xlrmrr.host.model import Bar, PciFunction
from xlrmrr.records import record

_E820_TYPES = {v: k for k, v in E820_NAMES.items()}


@record
class HostDescription:
    """What a host.json (or a snapshot) says besides the DMAR."""

    devices: tuple[PciFunction, ...] = ()
    topology_known: bool = False
    e820: tuple[E820Entry, ...] = ()
    xen_version: XenVersion | None = None


def _num(value, where: str, lo: int = 0, hi: int = (1 << 64) - 1) -> int:
    """A JSON integer or hex string in [lo, hi]."""
    n = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str):
        try:
            n = int(value, 0)
        except ValueError:
            pass
    if n is None:
        raise InputError(f"{where}: expected a number (integer or hex string), got {value!r}")
    if not lo <= n <= hi:
        raise InputError(f"{where}: {n:#x} is out of range ({lo:#x}..{hi:#x})")
    return n


def _opt(d: dict, key: str, where: str, hi: int = (1 << 64) - 1) -> int | None:
    return None if d.get(key) is None else _num(d[key], f"{where}: {key}", 0, hi)


def _list(obj: dict, key: str, where: str) -> list:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: {key}: must be a JSON list, got {_kind(value)}")
    return value


def _flag(b: dict, key: str, where: str) -> bool:
    value = b.get(key, False)
    if not isinstance(value, bool):
        raise InputError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), f"the number {value!r}")


def function_from_config(sbdf: Sbdf, config: bytes, **fields) -> PciFunction:
    """A PciFunction from the first bytes of its config space (vendor, class, header type,
    and for bridges the secondary/subordinate bus numbers); explicit fields win."""
    def byte(off):
        return config[off] if len(config) > off else None

    def word(off):
        return int.from_bytes(config[off:off + 2], "little") if len(config) >= off + 2 else None

    header_type = byte(0x0E)
    is_bridge = header_type is not None and header_type & 0x7F == 1
    derived = dict(
        vendor=word(0), device=word(2),
        class_code=(int.from_bytes(config[0x09:0x0C], "little") if len(config) >= 0x0C else None),
        header_type=header_type,
        secondary_bus=byte(0x19) if is_bridge else None,
        subordinate_bus=byte(0x1A) if is_bridge else None)
    derived.update({k: v for k, v in fields.items() if v is not None})
    return PciFunction(sbdf=sbdf, config=bytes(config), **derived)


BAR_SIZE_MAX = 1 << 63         # the largest power of two a 64-bit BAR decodes


def _bar(b, i: int, where: str) -> Bar:
    where = f"{where}: bars[{i}]"
    if not isinstance(b, dict):
        raise InputError(f"{where}: a BAR is an object {{index, size, ...}}, got {_kind(b)}")
    index = _num(b.get("index", i), f"{where}.index", 0, 6)
    flags = {k: _flag(b, k, where) for k in ("is_64bit", "prefetchable", "is_io")}
    if b.get("size") is None:
        raise InputError(f"{where}: no \"size\" (bytes): give the BAR's size, or leave an "
                         f"unimplemented BAR out")
    size = _num(b["size"], f"{where}.size", 1, BAR_SIZE_MAX)
    if size & (size - 1):
        raise InputError(f"{where}.size: {size:#x} is not a power of two; a BAR decodes a "
                         f"naturally aligned power-of-two range (its size is what writing all "
                         f"ones reads back), and hvmloader aligns each BAR to its size")
    return Bar(index=index, size=size, **flags)


def parse_device(d: dict, where: str) -> PciFunction:
    if not isinstance(d, dict) or "sbdf" not in d:
        raise InputError(f"{where}: a device is an object with at least an \"sbdf\"")
    try:
        sbdf = Sbdf.parse(str(d["sbdf"]))
    except ValueError as e:
        raise InputError(f"{where}: sbdf: {e}") from None
    where = f"{where} ({sbdf})"
    bars = tuple(_bar(b, i, where) for i, b in enumerate(_list(d, "bars", where)))
    config = b""
    if d.get("config"):
        try:
            config = bytes.fromhex(d["config"])
        except (TypeError, ValueError):
            raise InputError(f"{where}: config is not a hex string") from None
        if len(config) > 4096:
            raise InputError(f"{where}: config has {len(config)} bytes; PCI config space has "
                             f"at most 4096")
    reset = d.get("reset_method")
    if reset is not None and not isinstance(reset, str):
        raise InputError(f"{where}: reset_method must be a string such as \"flr\", got "
                         f"{_kind(reset)}")
    return function_from_config(
        sbdf, config, class_code=_opt(d, "class", where, 0xFFFFFF),
        vendor=_opt(d, "vendor", where, 0xFFFF), device=_opt(d, "device", where, 0xFFFF),
        header_type=_opt(d, "header_type", where, 0xFF),
        secondary_bus=_opt(d, "secondary_bus", where, 0xFF),
        subordinate_bus=_opt(d, "subordinate_bus", where, 0xFF), bars=bars,
        reset_method=reset or None, iommu_group=_opt(d, "iommu_group", where, 0xFFFFFFFF))


def parse_e820_entry(e, where: str) -> E820Entry:
    if isinstance(e, dict):
        addr, size, typ = e.get("addr"), e.get("size"), e.get("type")
    elif isinstance(e, (list, tuple)) and len(e) == 3:
        addr, size, typ = e
    else:
        raise InputError(f"{where}: an e820 entry is {{addr, size, type}}")
    if isinstance(typ, str) and typ.upper() in _E820_TYPES:
        t = _E820_TYPES[typ.upper()]
    else:
        t = _num(typ, f"{where}: type", 1, 0xFFFFFFFF)
    a = _num(addr, f"{where}: addr")
    n = _num(size, f"{where}: size", 0, (1 << 64) - a)
    return E820Entry(a, n, t)


# "format" and "notes" are what a snapshot's host.json adds (xlrmrr/host/snapshot.py).
KNOWN_KEYS = ("xen_version", "e820", "devices", "format", "notes")


MAX_JSON_DEPTH = 64        # a host description nests 4 deep; Python's parser stops near 1,000


def parse_json(raw: bytes, name: str, what: str = "not JSON"):
    """json.loads with one-line errors naming `name`: the parser's own (which give line and
    column), and for text nested deeper than MAX_JSON_DEPTH the line and column where it gets
    too deep (json.loads would raise RecursionError there, or take the interpreter's stack)."""
    import json

    try:
        # as json.loads decodes bytes (UTF-8, or UTF-16/32 by their byte pattern)
        text = raw.decode(json.detect_encoding(raw), "surrogatepass") \
            if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as e:
        raise InputError(f"{name}: {what}: {e}") from None
    deep = _too_deep(text)
    if deep is not None:
        line = text.count("\n", 0, deep) + 1
        column = deep - (text.rfind("\n", 0, deep) + 1) + 1
        raise InputError(source=name, line=line, column=column, offset=deep,
                         message=f"{name}: {what}: nested deeper than {MAX_JSON_DEPTH} levels at line "
                         f"{line} column {column} (char {deep}); a host description nests 4")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{name}: {what}: {e}", source=name, line=e.lineno, column=e.colno,
                         offset=e.pos) from None
    except ValueError as e:
        # Python's int() refuses a number of sys.get_int_max_str_digits() digits or more
        # (4,300), and says so without a position: find the number
        import re
        import sys

        digits = sys.get_int_max_str_digits()
        m = re.search(r"[\[:,]\s*(-?[0-9]{" + str(digits) + ",})", text)
        if m is None:
            raise InputError(f"{name}: {what}: {e}", source=name) from None
        at = m.start(1)
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        raise InputError(source=name, line=line, column=column, offset=at,
                         message=f"{name}: {what}: a number of {len(m[1].lstrip('-'))} digits at "
                         f"line {line} column {column} (char {at}); no address or size has "
                         f"that many") from None


def _too_deep(text: str) -> int | None:
    """The offset of the first bracket past MAX_JSON_DEPTH, strings skipped; None if none.
    Only texts with that many opening brackets are scanned character by character."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return None
    import re

    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"?|[\[{]|[\]}]', text):
        c = m.group()[0]
        if c in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return m.start()
        elif c in "]}":
            depth -= 1
    return None


def description_from_json(obj, name: str, require_devices: bool = False) -> HostDescription:
    """Parse a host.json object; `name` prefixes error messages. A key outside KNOWN_KEYS is
    rejected (a file that is not a host description must not pass for "topology unknown");
    `require_devices`: so is a missing "devices" (a --host-json file exists to give them)."""
    if not isinstance(obj, dict):
        raise InputError(f"{name}: a host description is a JSON object, got {_kind(obj)}")
    unknown = [k for k in obj if k not in KNOWN_KEYS]
    if unknown:
        raise InputError(f"{name}: not a host description: unknown top-level key(s) "
                         f"{', '.join(map(repr, unknown))}; the known keys are "
                         f"{', '.join(KNOWN_KEYS)} (format: HOST DESCRIPTION in xlrmrr(1))")
    if require_devices and obj.get("devices") is None:
        raise InputError(f"{name}: no \"devices\": a host description lists the host's PCI "
                         f"functions (\"devices\": [{{\"sbdf\": \"0000:00:14.0\", ...}}]); "
                         f"without --host-json the topology is taken as unknown")
    devices = tuple(sorted((parse_device(d, f"{name}: devices[{i}]")
                            for i, d in enumerate(_list(obj, "devices", name))),
                           key=lambda f: f.sbdf))
    seen = set()
    for f in devices:
        if f.sbdf in seen:
            raise InputError(f"{name}: device {f.sbdf} is listed twice")
        seen.add(f.sbdf)
    e820 = tuple(sorted(parse_e820_entry(e, f"{name}: e820[{i}]")
                        for i, e in enumerate(_list(obj, "e820", name))))
    xv = obj.get("xen_version")
    version = None
    if xv is not None:
        if not isinstance(xv, str):
            raise InputError(f"{name}: xen_version: expected a string such as \"4.17\" or "
                             f"\"4.16.1\", got {_kind(xv)} (a JSON number cannot say 4.10)")
        version = XenVersion.parse(xv, f"{name}: xen_version")
    return HostDescription(devices=devices, topology_known="devices" in obj, e820=e820,
                           xen_version=version)


def description_to_json(desc: HostDescription) -> dict:
    """The inverse of description_from_json (numbers as hex strings, as a human writes them)."""
    def dev(f: PciFunction) -> dict:
        out: dict = {"sbdf": str(f.sbdf)}
        for key, val, width in (("class", f.class_code, 6), ("vendor", f.vendor, 4),
                                ("device", f.device, 4)):
            if val is not None:
                out[key] = f"0x{val:0{width}x}"
        for key in ("header_type", "secondary_bus", "subordinate_bus"):
            if getattr(f, key) is not None:
                out[key] = getattr(f, key)
        if f.bars:
            out["bars"] = [{"index": b.index, "size": hex(b.size), "is_64bit": b.is_64bit,
                            "prefetchable": b.prefetchable, "is_io": b.is_io} for b in f.bars]
        if f.reset_method:
            out["reset_method"] = f.reset_method
        if f.iommu_group is not None:
            out["iommu_group"] = f.iommu_group
        if f.config:
            out["config"] = f.config.hex()
        return out

    out: dict = {}
    if desc.xen_version:
        out["xen_version"] = str(desc.xen_version)
    if desc.e820:
        out["e820"] = [{"addr": hex(e.addr), "size": hex(e.size),
                        "type": E820_NAMES.get(e.type, e.type)} for e in desc.e820]
    if desc.topology_known:
        out["devices"] = [dev(f) for f in desc.devices]
    return out
