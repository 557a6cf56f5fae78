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


# The oracles: Debian's libxlutil (libxlu_oracle), iasl and acpidump (acpica-tools), and
# libxenlight's own code (test_explain_sites). A test that reaches one of these names, directly
# or through a helper function of its module, is marked `oracle` at collection, so that
# `pytest -m "not oracle"` is the fast loop that needs no Debian package (README, Development).
ORACLE_MODULES = {"libxlu_oracle", "iasl_oracle"}
ORACLE_NAMES = {"IASL", "ACPIDUMP", "LIBXENLIGHT"}
ORACLE_PROGRAMS = {"iasl", "acpidump"}


def _oracle_functions(path: str) -> frozenset[str]:
    """Names of the module's functions (tests and helpers) that reach an oracle."""
    import ast

    tree = ast.parse(Path(path).read_text())
    direct = set(ORACLE_NAMES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            direct |= {a.asname or a.name for a in node.names if a.name in ORACLE_MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module in ORACLE_MODULES:
            direct |= {a.asname or a.name for a in node.names}
    funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}

    def reaches(fn: ast.FunctionDef, names: set) -> bool:
        for n in ast.walk(fn):
            if isinstance(n, ast.Name) and n.id in names:
                return True
            if isinstance(n, ast.alias) and (n.name in ORACLE_MODULES):
                return True
            if (isinstance(n, ast.ImportFrom) and n.module in ORACLE_MODULES):
                return True
            if isinstance(n, ast.Constant) and n.value in ORACLE_PROGRAMS:
                return True
        return False

    found = {name for name, fn in funcs.items() if reaches(fn, direct)}
    while True:
        more = {name for name, fn in funcs.items() if name not in found and reaches(fn, found)}
        if not more:
            return frozenset(found)
        found |= more


def pytest_collection_modifyitems(config, items):
    cache: dict[str, frozenset[str]] = {}
    for item in items:
        path = str(item.fspath)
        if path not in cache:
            cache[path] = _oracle_functions(path)
        name = getattr(item, "originalname", None) or item.name.split("[")[0]
        fixtures = set(getattr(item, "fixturenames", ()))
        if name in cache[path] or fixtures & cache[path]:
            item.add_marker(pytest.mark.oracle)


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


def bounds(r: dict) -> tuple[int, int]:
    """A JSON range ({start, size}: docs/json.md) as Xen prints an RMRR: [base, end], end
    inclusive; so tests keep the hand-derived numbers in Xen's own form."""
    return r["start"], r["start"] + r["size"] - 1


@pytest.fixture(autouse=True)
def json_schema_check():
    """Every JSON object a command prints during a test (its --json, the error object, --emit's
    plan.json) is validated against its command's shipped schema (xlrmrr/schemas/)."""
    from json_schemas import problems

    from xlrmrr.report import document

    found: list[str] = []
    previous = document.observer
    document.observer = lambda command, text: found.extend(problems(command, text))
    yield
    document.observer = previous
    assert not found, "JSON output does not match xlrmrr/schemas/:\n" + "\n".join(found[:20])
