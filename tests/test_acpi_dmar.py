"""The DMAR decoder and builder: known values, byte-exact round trip, errors with offsets."""

from __future__ import annotations

import pytest

from xlrmrr.acpi.dmar import Dmar, Scope, Structure, build, decode, from_json
from xlrmrr.common import InputError

# Acer Aspire A315-51 (corpus): values read by hand from `iasl -d` (see the test below for iasl).
ACER = "acer-aspire-a315-51-271fad3c73ad.bin"


def corpus_tables(corpus):
    return sorted((corpus / "dmar").glob("*.bin"))


def test_known_table(corpus):
    d = decode((corpus / "dmar" / ACER).read_bytes())
    assert d.signature == b"DMAR" and d.length == 0xCC and d.checksum == 0x13
    assert d.checksum_valid and d.host_address_width == 0x26 and d.flags == 1
    assert d.oem_id == b"ACRSYS" and d.oem_table_id == b"ACRPRDCT"
    assert [s.type_name for s in d.structures] == ["DRHD", "DRHD", "RMRR", "RMRR", "ANDD"]
    drhd = d.structures[1]
    assert (drhd.offset, drhd.flags, drhd.register_base) == (0x48, 1, 0xFED91000)
    assert [(s.offset, s.type, s.enumeration_id, s.bus, s.path) for s in drhd.scopes] == [
        (0x58, 3, 2, 0xF0, ((0x1F, 0),)), (0x60, 4, 0, 0, ((0x1F, 0),)),
        (0x68, 5, 1, 0, ((0x15, 0),))]
    r1, r2 = d.rmrrs
    assert (r1.offset, r1.base, r1.end, r1.scopes[0].path) == (0x70, 0x8A785000, 0x8A7A4FFF,
                                                              ((0x14, 0),))
    assert (r2.base, r2.end, r2.scopes[0].path) == (0x8B800000, 0x8FFFFFFF, ((2, 0),))
    andd = d.structures[4]
    assert (andd.offset, andd.length, andd.device_number, andd.device_name) == (
        0xB0, 0x1C, 1, "\\_SB.PCI0.I2C0")
    j = d.to_json()
    assert j["structures"][2] == {
        "offset": 0x70, "type": 1, "type_name": "RMRR", "length": 0x20, "segment": 0,
        "base": 0x8A785000, "end": 0x8A7A4FFF,
        "scopes": [{"offset": 0x88, "type": 1, "length": 8, "flags": 0, "enumeration_id": 0,
                    "bus": 0, "path": [[0x14, 0]]}]}


def test_round_trip_every_corpus_table(corpus):
    tables = corpus_tables(corpus)
    assert len(tables) == 340
    for path in tables:
        raw = path.read_bytes()
        d = decode(raw, path.name)
        assert build(d) == raw, path.name
        assert d.length == len(raw)


def test_multi_entry_paths(corpus):
    d = decode((corpus / "dmar" / "hp-proliant-dl360-g7-60dcee46526a.bin").read_bytes())
    deep = [s for r in d.rmrrs for s in r.scopes if len(s.path) > 1]
    assert len(deep) == 10
    assert deep[0].path == ((0x1C, 4), (0, 0)) and deep[0].offset == 0xA8 and deep[0].length == 10


def _minimal(**kw) -> bytes:
    return build(from_json({"structures": [
        {"type": 0, "flags": 1, "register_base": 0xFED90000,
         "scopes": [{"type": 3, "enumeration_id": 2, "bus": 0xF0, "path": [[0x1F, 0]]}]},
        {"type": 1, "base": 0xAD000000, "end": 0xAF7FFFFF,
         "scopes": [{"type": 1, "bus": 0, "path": [[2, 0]]}]}], **kw}))


def test_builder_computes_lengths_and_checksum():
    raw = _minimal()
    assert len(raw) == 48 + 24 + 32
    assert int.from_bytes(raw[4:8], "little") == len(raw)
    assert sum(raw) & 0xFF == 0
    assert raw[0x48:0x4C] == bytes([1, 0, 32, 0])           # RMRR type 1, length 0x20
    bad = _minimal(checksum=0x42)
    assert bad[9] == 0x42 and not decode(bad).checksum_valid


def _rhsa() -> bytes:
    return build(from_json({"structures": [{"type": 3, "register_base": 0xFED90000}]}))


def _patch(raw: bytes, off: int, value: bytes) -> bytes:
    b = bytearray(raw)
    b[off:off + len(value)] = value
    return bytes(b)


@pytest.mark.parametrize("mutate, message, offset", [
    (lambda r: r[:30], "table ends at offset 0x1e, inside the 36-byte ACPI table header", 0x1e),
    (lambda r: r[:80], "table Length 0x68 at offset 0x4 is larger than the 0x50 bytes", 0x4),
    (lambda r: _patch(r, 0, b"XSDT"), "signature b'XSDT' at offset 0x0 is not DMAR", 0x0),
    (lambda r: _patch(r, 4, (40).to_bytes(4, "little")), "table Length 0x28 at offset 0x4 is "
                                                          "shorter than the 48-byte DMAR header", 0x4),
    (lambda r: _patch(r, 0x32, b"\0\0"), "structure at offset 0x30 (DRHD): length 0", 0x30),
    (lambda r: _patch(r, 0x4A, b"\x10\0"), "structure at offset 0x48 (RMRR): length 0x10 is shorter "
                                           "than the 24-byte fixed part", 0x48),
    (lambda r: _patch(r, 0x4A, b"\x40\0"), "structure at offset 0x48 (RMRR): length 0x40 runs past "
                                           "the table end at 0x68", 0x48),
    (lambda r: _patch(r, 0x61, b"\0"), "device scope at offset 0x60 in structure at offset 0x48 "
                                       "(RMRR): length 0x0 is shorter than the 6-byte scope header", 0x60),
    (lambda r: _patch(r, 0x61, b"\x07"), "device scope at offset 0x60 in structure at offset 0x48 "
                                         "(RMRR): length 0x7 leaves half a path entry", 0x60),
    (lambda r: _patch(r, 0x61, b"\x0a"), "device scope at offset 0x60 in structure at offset 0x48 "
                                         "(RMRR): length 0xa runs past the end of its structure", 0x60),
    (lambda r: _patch(r, 4, (0x66).to_bytes(4, "little")), "structure at offset 0x48 (RMRR): "
                                                           "length 0x20 runs past the table end", 0x48),
    (lambda r: _patch(r[:0x4A], 4, (0x4A).to_bytes(4, "little")),
     "structure at offset 0x48: only 2 bytes left before the table end (0x4a)", 0x48),
    (lambda r: _patch(_patch(r + b"\0", 4, (0x69).to_bytes(4, "little")), 0x4A, b"\x21\0"),
     "device scope at offset 0x68 in structure at offset 0x48 (RMRR): only 1 byte left", 0x68),
    (lambda r: _patch(_patch(_rhsa() + bytes(4), 4, (0x48).to_bytes(4, "little")), 0x32, b"\x18\0"),
     "structure at offset 0x30 (RHSA): length 0x18 is not the 20-byte RHSA size", 0x30),
])
def test_bad_lengths_name_offset_and_structure(mutate, message, offset):
    with pytest.raises(InputError) as e:
        decode(mutate(_minimal()), "t.bin")
    assert str(e.value).startswith("t.bin: ")
    assert message in str(e.value)
    # the location as fields too: the file, and the byte offset the message names
    assert (e.value.source, e.value.offset, e.value.line) == ("t.bin", offset, None)


def test_unknown_types_kept_raw_and_rmad_accepted():
    d = Dmar(signature=b"RMAD", structures=(
        Structure(type=9, data=b"\1\2\3\4"),
        Structure(type=6, segment=0, scopes=(Scope(type=1, bus=0, path=((0x1F, 0),), flags=0x1F),)),
    ))
    raw = build(d)
    back = decode(raw)
    assert back.signature == b"RMAD" and back.structures[0].data == b"\1\2\3\4"
    assert back.structures[0].type_name == "reserved" and back.structures[0].length == 8
    assert back.structures[1].scopes[0].flags == 0x1F
    assert build(back) == raw


def test_corpus_statistics_match_the_fact_sheet(corpus):
    """Counted independently when the corpus was gathered (pristine tables; docs/dmar.md#the-corpus)."""
    from collections import Counter

    per_table, shared, most, repeated, devices = Counter(), 0, 0, 0, Counter()
    for path in corpus_tables(corpus):
        if path.name.startswith("modified-"):
            continue
        d = decode(path.read_bytes())
        per_table[len(d.rmrrs)] += 1
        shared += any(len(r.scopes) > 1 for r in d.rmrrs)
        most = max([most] + [len(r.scopes) for r in d.rmrrs])
        seen = Counter((sc.bus, sc.path) for r in d.rmrrs for sc in r.scopes)
        repeated += any(n > 1 for n in seen.values())
        devices.update((sc.bus, *sc.path[0]) for r in d.rmrrs for sc in r.scopes
                       if len(sc.path) == 1)
    assert dict(per_table) == {0: 11, 1: 139, 2: 169, 3: 16, 8: 2}
    assert sum(k * v for k, v in per_table.items()) == 541
    assert (shared, most, repeated) == (77, 8, 6)
    assert (devices[(0, 2, 0)], devices[(0, 0x14, 0)], devices[(0, 0x1D, 0)],
            devices[(0, 0x1A, 0)], devices[(0, 0x16, 7)]) == (264, 204, 78, 68, 13)


def test_builder_rejects_values_that_do_not_fit():
    """One line naming where the value is, also as the error's json_path field."""
    for bad, path, text in (
            ({"structures": [{"type": 1, "base": -1, "end": 0}]}, "structures[0]",
             "structures[0] (RMRR): base: "),
            ({"structures": [{"type": 0}, {"type": 1, "base": 0, "end": 1 << 64}]},
             "structures[1]", "structures[1] (RMRR): end: "),
            ({"host_address_width": 256}, "host_address_width", "host_address_width: "),
            ({"structures": [{"type": 1, "scopes": [{"type": 1, "path": [[300, 0]]}]}]},
             "structures[0]", "structures[0] (RMRR): scopes -> path -> device: "),
            ({"structures": [{"type": 4, "reserved": 1 << 24}]}, "structures[0]",
             "structures[0] (ANDD): reserved: "),
            ({"oem_id": "TOOLONGID"}, "oem_id", "oem_id 'TOOLONGID' is longer than 6 bytes")):
        with pytest.raises(InputError, match="DMAR source") as e:
            build(from_json(bad))
        assert str(e.value).startswith(f"DMAR source: {text}") and "\n" not in str(e.value)
        assert e.value.json_path == path
