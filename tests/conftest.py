"""Shared test helpers: where the shared corpus is, and the real oracles (libxlutil, iasl).

Outside CI a missing oracle or corpus skips the tests that need it; with CI set it fails them,
because .ci/run installs both and a silent skip there would hide a broken install.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
FIXTURES = REPO / "fixtures"


def need(condition: bool, why: str) -> None:
    """Skip (or, under CI, fail) when an external oracle or the shared corpus is absent."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required in CI but absent: {why}")
    pytest.skip(why)


@pytest.fixture
def corpus() -> Path:
    need(CORPUS.is_dir(), f"shared corpus not found at {CORPUS}")
    return CORPUS


def _release(text: str) -> tuple[int, int, int | None]:
    parts = [int(x) for x in text.split(".")]
    return (parts[0], parts[1], parts[2] if len(parts) > 2 else None)


def _covers(item: str, release: str) -> bool:
    """Whether one item of a comparison row's name ("4.10-4.11", "4.13", "4.14.0-4.14.4",
    "4.14.5 and later 4.14.x") covers the release X.Y or X.Y.Z (X.Y read as X.Y.0)."""
    major, minor, patch = _release(release)
    patch = patch or 0
    if " and later " in item:
        a, b, p = _release(item.split(" and later ")[0])
        return (major, minor) == (a, b) and patch >= p
    first, _, last = item.partition("-")
    lo, hi = _release(first), _release(last or first)
    if lo[2] is None and hi[2] is None:
        return lo[:2] <= (major, minor) <= hi[:2]
    return lo[:2] == (major, minor) and (lo[2] or 0) <= patch <= (hi[2] or 0)


def row_for(rows, release: str):
    """The row of a release comparison (dicts with "versions", or VersionDelta with .band)
    whose name covers `release`, or None (that release behaves like the one planned)."""
    found = [r for r in rows
             if any(_covers(i.strip(), release)
                    for i in (r["versions"] if isinstance(r, dict) else r.band).split(","))]
    assert len(found) <= 1, found
    return found[0] if found else None
