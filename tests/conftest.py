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
