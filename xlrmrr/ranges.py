"""Byte ranges as Python slices: sorted, disjoint, half-open [start, end) pairs.

The one home for merging and clipping intervals (guest RAM, identity maps, RMRRs)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence


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
