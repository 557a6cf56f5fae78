"""The DMAR's construct Structs and the table of structure types built on them: sizes as the VT-d
specification gives them, one row per type, and every Struct compiled by construct's own compiler
(Struct.compile(), issue 14's way to decoding speed) parsing and building real tables exactly as
the interpreted Struct does."""

from __future__ import annotations

import pytest
from conftest import CORPUS, FIXTURES

from xlrmrr.acpi import structs as S
from xlrmrr.acpi.dmar import STRUCTURE_TYPES, UNKNOWN_TYPE, Structure, build, decode, kind_of
from xlrmrr.acpi.spec import AtsrFlags, DmarType, DrhdFlags, SatcFlags, flag_names
from xlrmrr.common import InputError

# VT-d specification chapter 8 / ACPICA actbl1.h: each structure's bytes before its device
# scopes (DRHD, RMRR, ATSR, SATC, SIDP), its name (ANDD), or all of it (RHSA, Length 20);
# 4, the Type and Length header, for a reserved type.
SPEC_FIXED = {"DRHD": 16, "RMRR": 24, "ATSR": 8, "RHSA": 20, "ANDD": 8, "SATC": 8, "SIDP": 8,
              "reserved": 4}


def test_one_row_per_type_in_spec_order():
    assert [(k.type, k.name) for k in STRUCTURE_TYPES] == [
        (0, "DRHD"), (1, "RMRR"), (2, "ATSR"), (3, "RHSA"), (4, "ANDD"), (5, "SATC"), (6, "SIDP")]
    assert all(kind_of(k.type) is k for k in STRUCTURE_TYPES)
    assert kind_of(7) is kind_of(0xFFFF) is UNKNOWN_TYPE and UNKNOWN_TYPE.name == "reserved"
    assert {getattr(DmarType, k.name) for k in STRUCTURE_TYPES} == set(range(7))


def test_fixed_sizes_come_from_the_structs_and_match_the_spec():
    assert {k.name: k.fixed for k in (*STRUCTURE_TYPES, UNKNOWN_TYPE)} == SPEC_FIXED
    assert S.DmarTable.sizeof() == 48 and S.AcpiTableHeader.sizeof() == 36


def test_rows_name_fields_the_struct_and_the_record_both_have():
    record_fields = set(Structure.__record_fields__)
    for k in (*STRUCTURE_TYPES, UNKNOWN_TYPE):
        struct_fields = [sc.name for sc in k.struct.subcons]
        assert struct_fields[:2] == ["type", "length"], k.name
        assert struct_fields[2:] == list(k.fields) + ([k.tail] if k.tail else []), k.name
        assert set(k.fields) <= record_fields and (not k.tail or k.tail in record_fields), k.name


def test_flag_names_are_the_specs():
    assert flag_names(DrhdFlags) == ((1, "INCLUDE_PCI_ALL"),)
    assert flag_names(AtsrFlags) == ((1, "ALL_PORTS"),)
    assert flag_names(SatcFlags) == ((1, "ATC_REQUIRED"),)
    assert {k.name: k.flags for k in STRUCTURE_TYPES if k.flags} == {
        "DRHD": DrhdFlags, "ATSR": AtsrFlags, "SATC": SatcFlags}


def test_reserved_flag_bits_survive_a_round_trip():
    """Why the Structs keep Flags as a plain byte, not construct's FlagsEnum: a DRHD whose
    Flags has reserved bits set builds back to the same byte."""
    raw = build(decode((FIXTURES / "dmar" / "laptop-typical.bin").read_bytes()))
    drhd = decode(raw).drhds[0]
    b = bytearray(raw)
    b[drhd.offset + 4] = 0x81
    b[9] = (b[9] - 0x81 + drhd.flags) & 0xFF
    d = decode(bytes(b))
    assert d.drhds[0].flags == 0x81 and build(d) == bytes(b)


def _tables() -> list[tuple[str, bytes]]:
    out = [(p.name, p.read_bytes()) for p in sorted((FIXTURES / "dmar").glob("*.bin"))]
    if (CORPUS / "dmar").is_dir():
        out += [(p.name, p.read_bytes()) for p in sorted((CORPUS / "dmar").glob("*.bin"))[::5]]
    return out


@pytest.fixture(scope="module")
def compiled():
    """Each row's Struct, the scope and the table header compiled once."""
    return {id(st): st.compile() for st in
            [k.struct for k in (*STRUCTURE_TYPES, UNKNOWN_TYPE)] + [S.DeviceScope, S.DmarTable]}


def test_compiled_structs_parse_and_build_as_the_interpreted_ones(compiled):
    seen = set()
    for name, raw in _tables():
        try:
            d = decode(raw, name)
        except InputError:      # the bug-* fixtures a decoder must reject
            continue
        raw = raw[:d.length]
        c = compiled[id(S.DmarTable)]
        assert c.parse(raw) == S.DmarTable.parse(raw), name
        for s in d.structures:
            st = s.kind.struct
            body = raw[s.offset:s.offset + s.length]
            ours, theirs = st.parse(body), compiled[id(st)].parse(body)
            assert theirs == ours, (name, s.describe)
            assert compiled[id(st)].build(ours) == st.build(ours) == body, (name, s.describe)
            seen.add(s.kind.name)
            for sc in s.scopes:
                scope = raw[sc.offset:sc.offset + sc.length]
                assert compiled[id(S.DeviceScope)].parse(scope) == S.DeviceScope.parse(scope)
    assert seen == set(SPEC_FIXED)       # every type, a reserved one too, met in these tables
