"""Byte ranges: overlap, intersection, merge, clip and subtraction, in one place.

Ranges are half-open [start, end) pairs of ints. Xen writes most of its ranges inclusive (an
RMRR's end_address, e820_check's end): a caller passes end + 1. Lists of ranges are sorted and
disjoint, as normalise() returns them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence


def overlaps(start: int, end: int, lo: int, hi: int) -> bool:
    """[start, end) and [lo, hi) share a byte (hvmloader e820.c:check_overlap). Meant for
    non-empty ranges: an empty one strictly inside the other also answers True."""
    return start < hi and lo < end


def intersect(start: int, end: int, lo: int, hi: int) -> tuple[int, int]:
    """The common part of [start, end) and [lo, hi); empty (first >= second) when none."""
    return max(start, lo), min(end, hi)


def normalise(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort and merge half-open ranges; drop empty ones."""
    out: list[list[int]] = []
    for s, e in sorted(r for r in ranges if r[1] > r[0]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return tuple((s, e) for s, e in out)


def clip(ranges: Sequence[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of sorted disjoint ranges inside [start, end), in O(log n + answer)."""
    i = max(bisect.bisect_right(ranges, (start, 1 << 128)) - 1, 0)
    out = []
    while i < len(ranges):
        s, e = ranges[i]
        if s >= end:
            break
        lo, hi = max(s, start), min(e, end)
        if lo < hi:
            out.append((lo, hi))
        i += 1
    return out


def subtract(ranges: Iterable[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of the ranges outside [start, end), in their order."""
    return [r for s, e in ranges for r in ((s, min(e, start)), (max(s, end), e)) if r[1] > r[0]]


def overlapping(items_by_start: Sequence, starts: Sequence[int], lo: int, hi: int) -> list:
    """The items (each with .start and .end, half-open; sorted by start and disjoint, `starts`
    their starts) that overlap [lo, hi), in O(log n + answer)."""
    i = max(0, bisect.bisect_left(starts, lo) - 1)
    out = []
    for r in items_by_start[i:]:
        if r.start >= hi:
            break
        if r.end > lo:
            out.append(r)
    return out


def overlapping_pairs(spans: Iterable[tuple[int, int, object]]) -> Iterator[tuple[object, object]]:
    """For (start, end, item) spans sorted by start, each item that begins inside an earlier
    one, paired with the earlier one reaching furthest: a sweep in O(n)."""
    reach: tuple[int, int, object] | None = None
    for span in spans:
        if reach is not None and span[0] < reach[1]:
            yield reach[2], span[2]
        if reach is None or span[1] > reach[1]:
            reach = span
