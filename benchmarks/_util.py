"""Helpers shared by the benchmarks (run as `python benchmarks/<name>.py`, so this directory is
on sys.path)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def best(fn, repeat=3, number=1) -> float:
    """Seconds per call of fn: the fastest of `repeat` rounds of `number` calls each, the round
    least disturbed by the other load on a shared machine."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return min(times)


def cold(argvs, pycache: str, n=15) -> list[list[float]]:
    """Process wall times of each command, interleaved so that load on the shared machine hits
    all alike; byte code cached for every side (as after `pip install`, which compiles it: this
    machine sets PYTHONDONTWRITEBYTECODE, so without a cache every run would compile xlrmrr's
    sources while construct and ply load their installed byte code)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONPYCACHEPREFIX=pycache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for argv in argvs:
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    out: list[list[float]] = [[] for _ in argvs]
    for _ in range(n):
        for times, argv in zip(out, argvs):
            t = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times.append(time.perf_counter() - t)
    return out
