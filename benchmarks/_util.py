"""Helpers shared by the benchmarks (run as `python benchmarks/<name>.py`, so this directory is
on sys.path)."""

from __future__ import annotations

import time


def best(fn, repeat=3) -> float:
    """The fastest of `repeat` timed calls of fn, in seconds: the least disturbed by the other
    load on a shared machine."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
