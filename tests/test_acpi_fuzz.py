"""Fuzzing the DMAR decoder and the host model with truncated and mutated real tables: every
input either decodes (and then builds back to the same bytes and models without error) or is
rejected with an InputError naming a byte offset; nothing hangs (hypothesis deadline)."""

from __future__ import annotations

import pytest
from conftest import CORPUS, FIXTURES, need
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlrmrr.acpi.checks import firmware_findings
from xlrmrr.acpi.dmar import build, decode
from xlrmrr.common import InputError, XenVersion
from xlrmrr.host.build import build_host
from xlrmrr.host.model import reserved_device_memory_map
from xlrmrr.host.query import sharing_groups

FIXTURE_TABLES = [p.read_bytes() for p in sorted((FIXTURES / "dmar").glob("*.bin"))]
CORPUS_TABLES = ([p.read_bytes() for p in sorted((CORPUS / "dmar").glob("*.bin"))[::9]]
                 if (CORPUS / "dmar").is_dir() else [])
SOURCES = pytest.mark.parametrize("source", ["fixtures", "corpus"])


def tables(source: str) -> list[bytes]:
    """The fixtures, or every ninth real table (skipped, or failed under CI, when absent)."""
    if source == "corpus":
        need(bool(CORPUS_TABLES), f"shared corpus not found at {CORPUS / 'dmar'}")
        return CORPUS_TABLES
    return FIXTURE_TABLES


def check(data: bytes) -> None:
    try:
        d = decode(data, "fuzz")
    except InputError as e:
        assert "offset 0x" in str(e), str(e)
        assert "\n" not in str(e)
        # the location as fields too: the offset is one the message names
        assert e.source == "fuzz" and f"offset {e.offset:#x}" in str(e), (str(e), e.offset)
        return
    length = int.from_bytes(data[4:8], "little")
    assert build(d) == data[:length]
    firmware_findings(d)
    for v in (XenVersion(4, 6), XenVersion(4, 18), XenVersion(4, 22)):
        h = build_host(d, xen_version=v)
        reserved_device_memory_map(h)
        sharing_groups(h)


def _set_length(data: bytes) -> bytes:
    b = bytearray(data)
    if len(b) >= 8:
        b[4:8] = len(b).to_bytes(4, "little")
    return bytes(b)


@pytest.mark.parametrize("source, i", [("fixtures", i) for i in range(0, len(FIXTURE_TABLES), 3)]
                         + ([("corpus", i) for i in range(0, len(CORPUS_TABLES), 3)]
                            or [("corpus", 0)]))
def test_every_truncation(source, i):
    raw = tables(source)[i]
    for n in range(len(raw)):
        check(raw[:n])                  # Length lies (larger than the data)
        check(_set_length(raw[:n]))     # Length agrees: the cut lands inside a structure


SETTINGS = settings(max_examples=400, deadline=1000,
                    suppress_health_check=[HealthCheck.too_slow])


@SOURCES
def test_mutations(source):
    _mutations(tables(source))


@SETTINGS
@given(data=st.data(), edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                                      min_size=1, max_size=8))
def _mutations(raws, data, edits):
    b = bytearray(data.draw(st.sampled_from(raws)))
    for pos, val in edits:
        if b:
            b[pos % len(b)] = val
    check(bytes(b))


@SOURCES
def test_length_fields_and_garbage(source):
    _length_fields_and_garbage(tables(source))


@SETTINGS
@given(data=st.data(), length=st.integers(36, 400), tail=st.binary(max_size=64))
def _length_fields_and_garbage(raws, data, length, tail):
    b = bytearray(data.draw(st.sampled_from(raws)) + tail)
    if len(b) >= 8:
        b[4:8] = min(length, len(b)).to_bytes(4, "little")
    check(bytes(b))


@SETTINGS
@given(st.binary(min_size=0, max_size=200))
def test_random_bytes_after_header(body):
    check(b"DMAR" + (48 + len(body)).to_bytes(4, "little") + bytes(40) + body)


_HEX = st.integers(0, (1 << 68) - 1).map(lambda n: f"{n:x}")
_SBDF = st.tuples(st.integers(0, 0x1FFFF), st.integers(0, 0x1FF), st.integers(0, 0xFF),
                  st.integers(0, 9)).map(lambda t: "{:04x}:{:02x}:{:02x}.{}".format(*t))
_BYTES = st.lists(st.integers(0, 0x1FF), max_size=17).map(
    lambda bs: " ".join(f"{b:02X}" for b in bs))
# Whole lines of every format the readers know, with random numbers in them, so that the
# readers' checks are reached (a character alphabet alone never spells "endpoint:").
_LINE = st.one_of(
    st.sampled_from(["(XEN) [VT-D]found ACPI_DMAR_RMRR:", "(XEN) [VT-D]found ACPI_DMAR_DRHD:",
                     "DMAR @ 0x0000000000000000", ""]),
    st.builds("(XEN) [VT-D] {} {}".format,
              st.sampled_from(["endpoint:", "bridge:", "IOAPIC:"]), _SBDF),
    st.builds("(XEN) [VT-D]  RMRR region: base_addr {} end_address {}".format, _HEX, _HEX),
    st.builds("(XEN) [VT-D]dmar.c:608:  RMRR: [{},{}]".format, _HEX, _HEX),
    st.builds("[    0.16] DMAR: RMRR base: 0x{} end: 0x{}".format, _HEX, _HEX),
    st.builds("    {:04X}: {}".format, st.integers(0, 0x40), _BYTES),
    st.builds("{}-{}={},{}".format, _HEX, _HEX, _SBDF, _SBDF))
_XEN_RMRR = st.builds("(XEN) [VT-D]found ACPI_DMAR_RMRR:\n(XEN) [VT-D] endpoint: {}\n"
                      "(XEN) [VT-D]  RMRR region: base_addr {} end_address {}".format,
                      _SBDF, _HEX, _HEX)
TEXT = st.one_of(
    st.text(alphabet=st.sampled_from(list("0123456789abcdefABCDEF:.-=,; @xXDMARS\n ")),
            max_size=120),
    st.lists(st.one_of(_LINE, _XEN_RMRR), max_size=12).map("\n".join),
    st.lists(_LINE, max_size=6).map(";".join))


@SETTINGS
@given(TEXT)
def test_text_readers_reject_cleanly(text):
    from xlrmrr.acpi.readers import dmar_from_acpidump, parse_rmrr_option, rmrrs_from_log

    for reader in (dmar_from_acpidump, parse_rmrr_option, rmrrs_from_log):
        try:
            out = reader(text, "t")
        except InputError as e:
            assert str(e).startswith("t") and "\n" not in str(e), str(e)
            continue
        if reader is rmrrs_from_log:
            assert all(r.base <= r.end < 1 << 64 for r in out)


@SOURCES
def test_acpidump_text_truncated(source):
    _acpidump_text_truncated(tables(source))


@SETTINGS
@given(data=st.data(), cut=st.integers(1, 64))
def _acpidump_text_truncated(raws, data, cut):
    from xlrmrr.acpi.readers import dmar_from_acpidump

    raw = data.draw(st.sampled_from(raws))
    lines = ["DMAR @ 0x0000000000000000"]
    for off in range(0, len(raw), 16):
        chunk = raw[off:off + 16]
        lines.append(f"    {off:04X}: " + " ".join(f"{b:02X}" for b in chunk))
    text = "\n".join(lines[:cut]) + "\n"
    try:
        assert dmar_from_acpidump(text, "t") == raw
    except InputError as e:
        assert str(e).startswith("t:")
