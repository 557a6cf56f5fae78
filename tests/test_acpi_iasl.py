"""Differential test: xlrmrr's DMAR decoding equals ACPICA's `iasl -d`, field by field."""

from __future__ import annotations

import pytest
from conftest import CORPUS, FIXTURES, need
from iasl_oracle import IASL, comparable, iasl_decode_many, reserved_fields

from xlrmrr.acpi.dmar import build, decode, from_json
from xlrmrr.acpi.spec import DmarType
from xlrmrr.common import InputError


def _tables() -> dict[str, bytes]:
    out = {f"corpus/{p.name}": p.read_bytes() for p in sorted((CORPUS / "dmar").glob("*.bin"))}
    out.update({f"fixtures/{p.name}": p.read_bytes()
                for p in sorted((FIXTURES / "dmar").glob("*.bin"))})
    return out


@pytest.fixture(scope="module")
def iasl_results():
    need(IASL is not None, "iasl (acpica-tools) is not installed")
    need((CORPUS / "dmar").is_dir(), f"shared corpus not found at {CORPUS}")
    tables = _tables()
    return tables, iasl_decode_many(tables, workers=2)


def test_every_field_equals_iasl(iasl_results):
    tables, results = iasl_results
    corpus = [n for n in tables if n.startswith("corpus/")]
    assert len(corpus) == 340
    compared = 0
    for name, raw in tables.items():
        theirs = results[name]
        try:
            ours = decode(raw, name).to_json()
        except InputError:
            assert theirs["stopped"] or not theirs["structures"], name
            continue
        a, b = comparable(ours, theirs)
        assert a == b, name
        d = decode(raw, name)
        mine: list = [d.reserved]
        for st in d.structures[:len(theirs["structures"])]:
            if st.type != DmarType.DRHD:
                mine.append((st.offset, st.reserved))
            mine.extend((sc.offset, sc.reserved) for sc in st.scopes)
        assert mine == reserved_fields(theirs), name
        compared += len(b["structures"])
        if theirs["stopped"]:
            # Debian's iasl 20200925 knows no SATC (5), SIDP (6) or reserved types: it must
            # stop exactly there.
            assert ours["structures"][len(theirs["structures"])]["type"] >= 5, name
        else:
            assert len(theirs["structures"]) == len(ours["structures"]), name
    assert compared >= 1346      # structures iasl decoded in the corpus alone


def test_iasl_stops_only_at_satc(iasl_results):
    tables, results = iasl_results
    stopped = sorted(n for n in tables if n.startswith("corpus/") and results[n]["stopped"])
    assert len(stopped) == 7          # counted when the corpus was gathered: 333/340 clean with 20200925
    assert all("type 0x5" in results[n]["stopped"] for n in stopped)


def test_checksum_agrees_with_iasl(tmp_path):
    need(IASL is not None, "iasl (acpica-tools) is not installed")
    good = build(from_json({"structures": [
        {"type": 0, "flags": 1, "register_base": 0xFED90000, "scopes": []},
        {"type": 1, "base": 0xE8000, "end": 0xE8FFF,
         "scopes": [{"type": 1, "bus": 0, "path": [[0x1D, 0]]}]}]}))
    bad = bytearray(good)
    bad[9] = (bad[9] + 0x11) & 0xFF
    res = iasl_decode_many({"bad": bytes(bad), "good": good}, workers=1)
    assert res["good"]["checksum_should_be"] is None
    assert res["bad"]["checksum_should_be"] == good[9]
    from xlrmrr.acpi.checks import firmware_findings
    msg = [f.message for f in firmware_findings(decode(bytes(bad))) if f.code == "bad-checksum"][0]
    assert f"should be 0x{good[9]:02X}" in msg and f"- 0x{bad[9]:02X}" in msg


NEW_IASL = """\
[000h 0000 004h]                   Signature : "DMAR"    [DMA Remapping Table]
[004h 0004 004h]                Table Length : 00000050
[008h 0008 001h]                    Revision : 01
[009h 0009 001h]                    Checksum : 5A
[00Ah 0010 006h]                      Oem ID : "INTEL "
[010h 0016 008h]                Oem Table ID : "SKL "
[018h 0024 004h]                Oem Revision : 00000001
[01Ch 0028 004h]             Asl Compiler ID : "INTL"
[020h 0032 004h]       Asl Compiler Revision : 00000001
[024h 0036 001h]          Host Address Width : 26
[025h 0037 001h]                       Flags : 05
[026h 0038 00Ah]                    Reserved : 00 00 00 00 00 00 00 00 00 00
[030h 0048 002h]               Subtable Type : 0000 [Hardware Unit Definition]
[032h 0050 002h]                      Length : 0020
[034h 0052 001h]                       Flags : 01
[035h 0053 001h]        Size (decoded below) : 04
                           Size (pages, log2) : 4
[036h 0054 002h]          PCI Segment Number : 0000
[038h 0056 008h]       Register Base Address : 00000000FED91000
[040h 0064 001h]           Device Scope Type : 03 [IOAPIC Device]
[041h 0065 001h]                Entry Length : 08
[042h 0066 001h]                       Flags : 00
[043h 0067 001h]                    Reserved : 00
[044h 0068 001h]              Enumeration ID : 02
[045h 0069 001h]              PCI Bus Number : F0
[046h 0070 002h]                    PCI Path : 1F,00
"""


def test_oracle_reads_newer_iasl_format():
    from iasl_oracle import parse_dsl

    j = parse_dsl(NEW_IASL)
    assert (j["oem_table_id"], j["host_address_width"], j["flags"]) == ("SKL ", 0x26, 5)
    (drhd,) = j["structures"]
    assert (drhd["offset"], drhd["length"], drhd["flags"], drhd["size"],
            drhd["register_base"]) == (0x30, 0x20, 1, 4, 0xFED91000)
    assert drhd["scopes"] == [{"offset": 0x40, "type": 3, "flags": 0, "path": [[0x1F, 0]],
                               "length": 8, "reserved": 0, "enumeration_id": 2, "bus": 0xF0}]
