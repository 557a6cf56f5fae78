"""xlrmrr.ranges: the one interval module (half-open byte ranges). The answers are worked out
by hand below, and checked byte by byte against sets of addresses for random ranges."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from xlrmrr.ranges import (
    clip,
    intersect,
    normalise,
    overlapping,
    overlapping_pairs,
    overlaps,
    subtract,
)


def test_overlaps_is_half_open():
    assert overlaps(0x1000, 0x2000, 0x1FFF, 0x3000)       # share the byte 0x1fff
    assert not overlaps(0x1000, 0x2000, 0x2000, 0x3000)   # touch: [.., 0x2000) and [0x2000, ..)
    # an empty range strictly inside the other counts (the inline tests it replaced did so)
    assert overlaps(0x1000, 0x1000, 0x0, 0x3000)
    # an inclusive range (an RMRR's end_address) is passed as end + 1
    assert overlaps(0xAB000, 0xABFFF + 1, 0xABFFF, 0xAC000)


def test_intersect_and_subtract():
    assert intersect(0x1000, 0x5000, 0x3000, 0x8000) == (0x3000, 0x5000)
    lo, hi = intersect(0x1000, 0x2000, 0x3000, 0x4000)
    assert lo >= hi                                        # no common part
    # a hole punched in the middle of one range and off the end of another
    assert subtract([(0, 0x4000), (0x6000, 0x9000)], 0x1000, 0x7000) == [
        (0, 0x1000), (0x7000, 0x9000)]
    assert subtract([(0x1000, 0x2000)], 0x1000, 0x2000) == []


def test_normalise_and_clip():
    assert normalise([(5, 9), (0, 2), (2, 3), (8, 12), (20, 20)]) == ((0, 3), (5, 12))
    rs = normalise([(0, 0x1000), (0x3000, 0x5000), (0x8000, 0x9000)])
    assert clip(rs, 0x800, 0x4000) == [(0x800, 0x1000), (0x3000, 0x4000)]
    assert clip(rs, 0x5000, 0x8000) == []
    # a TiB-sized guest costs one interval, not 2^28 pages
    assert clip(normalise([(0, 1 << 40)]), 0xE8000, 0xF4000) == [(0xE8000, 0xF4000)]


def test_overlapping_finds_the_entry_that_starts_before_the_query():
    rdms = [SimpleNamespace(start=s, end=e) for s, e in ((0x1000, 0x3000), (0x5000, 0x6000),
                                                         (0x9000, 0xA000))]
    starts = [r.start for r in rdms]
    # [0x2000, 0x5800) starts inside the first entry and ends inside the second
    assert overlapping(rdms, starts, 0x2000, 0x5800) == rdms[:2]
    assert overlapping(rdms, starts, 0x3000, 0x5000) == []
    assert overlapping(rdms, starts, 0x9FFF, 0x10000) == rdms[2:]


def test_overlapping_pairs_names_the_furthest_reaching_earlier_span():
    # a = [0, 0x10), b = [0x2, 0x4) inside a, c = [0x8, 0x9) inside a only (b ended), d touches
    # a's end and overlaps nothing.
    spans = [(0x0, 0x10, "a"), (0x2, 0x4, "b"), (0x8, 0x9, "c"), (0x10, 0x12, "d")]
    assert list(overlapping_pairs(spans)) == [("a", "b"), ("a", "c")]


_range = st.tuples(st.integers(0, 64), st.integers(0, 64))


def _bytes(ranges) -> set[int]:
    return {x for s, e in ranges for x in range(s, e)}


@given(st.lists(_range, max_size=8), _range)
def test_set_semantics(ranges, cut):
    start, end = cut
    merged = normalise(ranges)
    assert _bytes(merged) == _bytes(ranges)
    assert all(e1 < s2 for (_, e1), (s2, _) in zip(merged, merged[1:]))   # disjoint, not touching
    inside = set(range(start, end))
    assert _bytes(clip(merged, start, end)) == _bytes(merged) & inside
    assert _bytes(subtract(merged, start, end)) == _bytes(merged) - inside
    for s, e in ranges:
        if s >= e or start >= end:
            continue                     # overlaps() is defined for non-empty ranges
        assert overlaps(s, e, start, end) == bool(set(range(s, e)) & inside)
