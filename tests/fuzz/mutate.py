"""Mutators: generic byte-level ones, and structure-aware ones for DMAR tables, xl configs,
JSON documents and line-oriented text. Each takes (data, rng) and returns new data; all
randomness comes from the rng, so a seed replays a run exactly."""

from __future__ import annotations

import json
import random
import re
import struct

INTERESTING8 = [0, 1, 0x7F, 0x80, 0xFF]
INTERESTING16 = [0, 1, 2, 4, 8, 0x10, 0x18, 0x7FFF, 0x8000, 0xFFFF]
INTERESTING32 = [0, 1, 0x24, 0x30, 0x31, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
SPECIAL = [b"\x00", b"\r", b"\r\n", b"\n", b"\xc3\xa9", b"\xe2\x80\xa8", b"\xed\xa0\x80",
           b"\xef\xbb\xbf", b"\xff\xfe", b"\x1b[31m", b"\t", b"\\", b"'", b'"', b"%s%n",
           b"\xf0\x9f\x92\xa9", b"\xc0\x80"]


# ---- bytes -----------------------------------------------------------------------------

def flip(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    b = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 8])):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def set_byte(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    b[rng.randrange(len(b))] = rng.choice(INTERESTING8 + [rng.randrange(256)])
    return bytes(b)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data) + 1)] if data else data


def delete_chunk(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, min(64, len(data) - i)):]


def insert_special(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice(SPECIAL) * rng.choice([1, 1, 3, 100]) + data[i:]


def duplicate_chunk(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 256))
    return data[:j] + data[i:j] * rng.choice([1, 2, 16]) + data[j:]


def long_line(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice([b"A", b"0", b"f", b" ", b"[", b"'"]) * rng.choice(
        [1000, 20000, 200000]) + data[i:]


def huge_number(data: bytes, rng: random.Random) -> bytes:
    """A run of digits replaced by a very long one (or a hex number by a very wide one)."""
    runs = [m.span() for m in re.finditer(rb"[0-9a-fA-F]+", data)]
    big = rng.choice([b"9" * rng.choice([20, 400, 5000]), b"0x" + b"f" * rng.choice([17, 300]),
                      b"18446744073709551616", b"-1", b"1e999", b"0" * 500 + b"1"])
    if not runs:
        return data + big
    a, b = rng.choice(runs)
    return data[:a] + big + data[b:]


def splice(data: bytes, other: bytes, rng: random.Random) -> bytes:
    if not data or not other:
        return data + other
    return data[:rng.randrange(len(data) + 1)] + other[rng.randrange(len(other)):]


def length_lie(data: bytes, rng: random.Random) -> bytes:
    """A little-endian u16 or u32 somewhere set to a boundary value (a length field lying)."""
    if len(data) < 4:
        return flip(data, rng)
    b = bytearray(data)
    if rng.random() < 0.5:
        i = rng.randrange(len(b) - 1)
        # the input's own length where a u16 holds it (inputs of over 64 KiB occur)
        struct.pack_into("<H", b, i, rng.choice(INTERESTING16 + [len(b) & 0xFFFF,
                                                                 (len(b) + 1) & 0xFFFF]))
    else:
        i = rng.randrange(len(b) - 3)
        struct.pack_into("<I", b, i, rng.choice(INTERESTING32 + [len(b), len(b) - 1, 1 << 24]))
    return bytes(b)


BYTE_MUTATORS = [flip, flip, set_byte, truncate, delete_chunk, insert_special, duplicate_chunk,
                 long_line, huge_number, length_lie]


def mutate_bytes(data: bytes, rng: random.Random, others=(), rounds: int | None = None) -> bytes:
    for _ in range(rounds or rng.choice([1, 1, 1, 2, 3])):
        if others and rng.random() < 0.1:
            data = splice(data, rng.choice(others), rng)
        else:
            data = rng.choice(BYTE_MUTATORS)(data, rng)
    return data


# ---- DMAR (structure-aware) ----------------------------------------------------------------

def dmar_structures(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of the remapping structures a well-formed walk finds."""
    out, off = [], 48
    end = min(len(data), int.from_bytes(data[4:8], "little")) if len(data) >= 8 else 0
    while off + 4 <= end:
        typ, length = struct.unpack_from("<HH", data, off)
        if length < 4:
            break
        out.append((off, typ, length))
        off += length
    return out


_SCOPES_AT = {0: 16, 1: 24, 2: 8, 4: 16, 5: 8}


def _scopes(data: bytes, s_off: int, typ: int, length: int) -> list[tuple[int, int]]:
    first = _SCOPES_AT.get(typ)
    out = []
    if first is None:
        return out
    off, end = s_off + first, min(len(data), s_off + length)
    while off + 2 <= end:
        slen = data[off + 1]
        if slen < 2:
            break
        out.append((off, slen))
        off += slen
    return out


def fix_checksum(data: bytes) -> bytes:
    if len(data) < 10:
        return data
    b = bytearray(data)
    b[9] = 0
    n = min(len(b), int.from_bytes(b[4:8], "little"))
    b[9] = (-sum(b[:n])) & 0xFF
    return bytes(b)


def _set_table_length(b: bytearray) -> None:
    if len(b) >= 8:
        struct.pack_into("<I", b, 4, len(b))


def dmar_mutate(data: bytes, rng: random.Random, others=()) -> bytes:
    """A structure-aware DMAR mutation: lengths of the table, structures and scopes, scope
    paths, structure counts; then, usually, the table length and checksum made consistent so
    the decoder goes past its first checks."""
    b = bytearray(data)
    structs = dmar_structures(data)
    op = rng.randrange(10)
    if op == 0 and len(b) >= 8:                         # the table's own length
        struct.pack_into("<I", b, 4, rng.choice(INTERESTING32 + [len(b) + rng.randint(-8, 8)]))
        return bytes(b)                                 # length kept as the lie
    if op == 1 and structs:                             # a structure's length
        off, _, length = rng.choice(structs)
        struct.pack_into("<H", b, off + 2, rng.choice(
            INTERESTING16 + [(length + d) & 0xFFFF for d in (-4, -2, -1, 1, 2, 8)] + [0, 1, 3]))
    elif op == 2 and structs:                           # a structure's type
        off, _, _ = rng.choice(structs)
        struct.pack_into("<H", b, off, rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 0x80, 0xFFFF]))
    elif op in (3, 4) and structs:                      # a scope's length or path
        off, typ, length = rng.choice(structs)
        scopes = _scopes(data, off, typ, length)
        if scopes:
            s, slen = rng.choice(scopes)
            if op == 3:
                b[s + 1] = rng.choice([0, 1, 2, 5, 6, 7, 8, 9, (slen + 2) & 0xFF, 0xFF])
            else:                                       # scope type, bus, path entries
                field_ = rng.choice([0, 4, 5] + list(range(6, slen)))
                if field_ < len(b) - s:
                    b[s + field_] = rng.choice(INTERESTING8 + [0x1F, 0x20, 7, 8])
    elif op == 5 and structs:                           # a scope with a very deep path
        off, typ, length = rng.choice(structs)
        scopes = _scopes(data, off, typ, length)
        if scopes:
            s, slen = rng.choice(scopes)
            depth = rng.choice([8, 64, 120])
            path = bytes(rng.choice([(0x1C, 0), (1, 0), (0x1F, 7)])) * depth
            new = bytes([b[s], min(6 + 2 * depth, 0xFF)]) + bytes(b[s + 2:s + 6]) + path
            new = new[:0xFF]
            b[s:s + slen] = new
            struct.pack_into("<H", b, off + 2, max(0, min(0xFFFF, length - slen + len(new))))
    elif op == 6 and structs:                           # many copies of one structure
        off, _, length = rng.choice(structs)
        b[off:off] = bytes(b[off:off + length]) * rng.choice([2, 10, 200, 2000])
    elif op == 7 and structs:                           # drop one structure
        off, _, length = rng.choice(structs)
        del b[off:off + length]
    elif op == 8 and structs:                           # RMRR base/end at the edges
        rmrrs = [s for s in structs if s[1] == 1 and s[2] >= 24 and s[0] + 24 <= len(b)]
        if rmrrs:
            off, _, _ = rng.choice(rmrrs)
            base = rng.choice([0, 0xFFF, 0x1000, 1 << 32, (1 << 64) - 0x1000, (1 << 64) - 1])
            end = rng.choice([base - 1, base, base + 0xFFF, (1 << 64) - 1, 0])
            struct.pack_into("<QQ", b, off + 8, base % (1 << 64), end % (1 << 64))
    else:
        b = bytearray(mutate_bytes(bytes(b), rng, others))
    if rng.random() < 0.8:
        _set_table_length(b)
    if rng.random() < 0.7:
        b = bytearray(fix_checksum(bytes(b)))
    return bytes(b)


# ---- xl configs (structure-aware) --------------------------------------------------------

_CFG_TOKEN = re.compile(rb"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|#[^\n]*|\+=|[\[\],;=\n]"
                        rb"|[A-Za-z_][\w.]*|0[xX][0-9a-fA-F]+|\d+|[ \t]+|.", re.S)
_CFG_PIECES = [b"'", b'"', b"[", b"]", b",", b";", b"=", b"+=", b"\n", b"#", b" ", b"\\",
               b"'\\x", b"'\\0", b"''", b'""', b"[]", b"[[", b"]]", b",,", b"==", b";;",
               b"pci", b"memory", b"rdm", b"name", b"'00:14.0'", b"'strategy=host'",
               b"0x", b"-1", b"99999999999999999999", b"\r\n", b"\x00", b"\xff"]


def cfg_mutate(data: bytes, rng: random.Random, others=()) -> bytes:
    """A token-level mutation of an xl config: quotes, brackets and separators deleted,
    doubled or swapped, values replaced, lists nested deep, lines duplicated."""
    toks = _CFG_TOKEN.findall(data) or [data]
    op = rng.randrange(9)
    i = rng.randrange(len(toks))
    if op == 0:
        del toks[i]
    elif op == 1:
        toks.insert(i, rng.choice(_CFG_PIECES))
    elif op == 2:
        toks[i] = toks[i] * rng.choice([2, 3])
    elif op == 3 and toks[i][:1] in (b"'", b'"'):       # change the quote style or break it
        t = toks[i]
        toks[i] = rng.choice([b'"' + t[1:-1] + b'"', b"'" + t[1:-1] + b"'", t[:-1], t[1:],
                              t[:-1] + b"\\" + t[-1:]])
    elif op == 4:                                       # deep nesting
        depth = rng.choice([50, 1000, 30000])
        toks.insert(i, b"x = " + b"[" * depth + b"1" + b"]" * rng.choice([0, depth]) + b"\n")
    elif op == 5:                                       # a long list
        n = rng.choice([100, 5000, 50000])
        toks.insert(i, b"pci = [" + b"'00:14.0'," * n + b"]\n")
    elif op == 6:                                       # duplicate lines
        lines = b"".join(toks).split(b"\n")
        j = rng.randrange(len(lines))
        lines[j:j] = [lines[j]] * rng.choice([2, 100, 10000])
        return b"\n".join(lines)
    elif op == 7:
        toks[i] = rng.choice(_CFG_PIECES)
    else:
        return mutate_bytes(data, rng, others)
    return b"".join(toks)


# ---- JSON (structure-aware) ---------------------------------------------------------------

_JSON_VALUES = [None, True, False, 0, -1, 1 << 64, (1 << 64) - 1, 1.5, 1e308, "", "x", "0x",
                "0xfffffffffffffffff", "00:14.0", "zz:zz.z", [], {}, [[]], {"a": 1}, "\x00",
                "\ud800", 10 ** 400, "4.17", "99.99", "4.17." + "9" * 500]


def _paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, path + (i,))


def _set(obj, path, value):
    if not path:
        return value
    parent = obj
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return obj


def json_mutate(data: bytes, rng: random.Random, others=()) -> bytes:
    """Values replaced by wrong types and edge numbers, keys dropped or added, deep nesting,
    and raw byte mutations of the text."""
    try:
        obj = json.loads(data)
    except ValueError:
        return mutate_bytes(data, rng, others)
    op = rng.randrange(7)
    paths = list(_paths(obj))
    path = rng.choice(paths)
    if op == 0:
        obj = _set(obj, path, rng.choice(_JSON_VALUES))
    elif op == 1 and path:
        parent = obj
        for p in path[:-1]:
            parent = parent[p]
        del parent[path[-1]]
    elif op == 2:
        target = obj
        for p in path:
            target = target[p]
        if isinstance(target, dict):
            target[rng.choice(["extra", "sbdf", "size", "bars", "index", "type"])] = rng.choice(
                _JSON_VALUES)
        elif isinstance(target, list):
            target.extend([target[0] if target else 1] * rng.choice([1, 100, 10000]))
    elif op == 3:                                       # deep nesting, as text
        depth = rng.choice([100, 5000, 100000])
        text = json.dumps(obj)
        i = rng.randrange(len(text) + 1)
        return (text[:i] + "[" * depth + "]" * rng.choice([0, depth]) + text[i:]).encode()
    elif op == 4:
        deep = 1
        for _ in range(rng.choice([50, 900, 3000])):
            deep = [deep]
        obj = _set(obj, path, deep)
    else:
        return mutate_bytes(json.dumps(obj, indent=rng.choice([None, 1])).encode(), rng, others)
    try:
        return json.dumps(obj, indent=rng.choice([None, 1])).encode("utf-8", "surrogatepass")
    except (RecursionError, ValueError):
        return data


# ---- line-oriented text (boot logs, acpidump) ----------------------------------------------

def lines_mutate(data: bytes, rng: random.Random, others=()) -> bytes:
    lines = data.split(b"\n")
    op = rng.randrange(7)
    i = rng.randrange(len(lines))
    if op == 0:
        del lines[i]
    elif op == 1:
        lines[i:i] = [lines[i]] * rng.choice([2, 50, 20000])
    elif op == 2:
        lines[i] = lines[i].replace(b" ", rng.choice([b"", b"  ", b"\t", b"\r"]), 1)
    elif op == 3:
        lines[i] = huge_number(lines[i], rng)
    elif op == 4 and others:
        lines.insert(i, rng.choice(rng.choice(others).split(b"\n")))
    elif op == 5:
        lines[i] = lines[i] + rng.choice([b"\r", b" " * 5000, b"\x00", b"\xff" * 3])
    else:
        return mutate_bytes(data, rng, others)
    return b"\n".join(lines)


def xml_mutate(data: bytes, rng: random.Random, others=()) -> bytes:
    """A libvirt domain XML changed where its reader decides: a text or attribute value
    replaced (numbers huge, negative, hex, empty, another unit), an element duplicated or
    dropped, deep nesting, entities and a DOCTYPE, or a line-level change."""
    values = [mt.span(1) for mt in re.finditer(rb">([^<>]*)<", data)] + \
             [mt.span(1) for mt in re.finditer(rb"=['\"]([^'\"]*)['\"]", data)]
    op = rng.randrange(6)
    if op == 0 and values:
        a, b = rng.choice(values)
        new = rng.choice([b"9" * rng.choice([21, 400, 5000]), b"-1", b"0", b"", b"0x" + b"f" * 17,
                          b"18446744073709551616", b"  12  ", b"1e3", b"\xff\xfe", b"&amp;",
                          b"0" * 300 + b"7", data[a:b] * rng.choice([2, 1000])])
        return data[:a] + new + data[b:]
    if op == 1:
        elems = [mt.span() for mt in re.finditer(rb"<(\w+)[^<>]*/>|<(\w+)[^<>]*>[^<>]*</\w+>", data)]
        if elems:
            a, b = rng.choice(elems)
            return data[:a] + (data[a:b] * rng.choice([0, 2, 3, 5000])) + data[b:]
    if op == 2:
        depth = rng.choice([100, 5000, 100000])
        i = data.rfind(b"</domain>")
        i = len(data) if i < 0 else i
        return data[:i] + b"<x>" * depth + b"</x>" * depth + data[i:]
    if op == 3:
        return data.replace(b"<domain", b'<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]>\n<domain', 1)
    if op == 4 and others:
        return splice(data, rng.choice(others), rng)
    return lines_mutate(data, rng, others)
