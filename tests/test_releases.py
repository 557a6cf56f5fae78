"""The releases table: every gate in xlrmrr/ is a named change, every change is used, and the
bands shown to users are derived from the table."""

import ast
from pathlib import Path

import pytest
from conftest import REPO

import xlrmrr
from xlrmrr import releases
from xlrmrr.common import NEWEST_XEN, OLDEST_XEN, XenVersion

ROOT = Path(xlrmrr.__file__).parent
SOURCES = sorted(p for p in ROOT.rglob("*.py")
                 if p.name not in ("releases.py", "common.py", "parsetab.py", "lextab.py"))


def _trees():
    return [(p, ast.parse(p.read_text(), str(p))) for p in SOURCES]


def _is_version_literal(node) -> bool:
    """XenVersion(4, N), a (4, N[, P]) tuple, or version.major / .minor (a point release is
    named from .patch in texts; gating on it is at_least's job)."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "XenVersion" and node.args \
            and all(isinstance(a, ast.Constant) for a in node.args):
        return True
    if isinstance(node, ast.Tuple) and len(node.elts) in (2, 3) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, int) for e in node.elts) \
            and node.elts[0].value == 4:
        return True
    return isinstance(node, ast.Attribute) and node.attr in ("major", "minor")


def test_no_gate_bypasses_the_table():
    # A release test written as a comparison (version >= XenVersion(4, 14), (major, minor) >=
    # (4, 15), version.minor < 13), a module constant XenVersion(4, N) that a comparison elsewhere
    # imports, or XenVersion.at_least outside releases.py escapes the table and the bands.
    bad = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Compare) and any(
                    _is_version_literal(x) for x in (node.left, *node.comparators)):
                bad.append(where + " compares a release")
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "XenVersion" \
                    and all(isinstance(a, ast.Constant) for a in node.args) and node.args:
                bad.append(where + " builds a fixed release")
            elif isinstance(node, ast.Attribute) and node.attr == "at_least":
                bad.append(where + " calls at_least")
    assert bad == []


def _used_names() -> set[str]:
    used = set()
    for _path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "xlrmrr.releases":
                used.update(a.name for a in node.names)
            elif isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "releases":
                used.add(node.attr)
    return used


def test_every_change_is_used_and_named_once():
    names = {n for n, v in vars(releases).items() if isinstance(v, releases.Change)}
    assert len(names) == len(releases.CHANGES)
    assert len({c.name for c in releases.CHANGES}) == len(releases.CHANGES)
    used = _used_names()
    # a change that undoes a used one acts through releases.effective (xl's rdm= order fix)
    used |= {n for n in names if getattr(releases, n).reverts is not None
             and getattr(releases, n).reverts.name in {getattr(releases, u).name for u in used
                                                        if u in names}}
    unused = sorted(names - used)
    assert unused == []


def test_every_gate_asks_a_change():
    # in_effect is only ever called on a Change imported from the table
    changes = {n for n, v in vars(releases).items() if isinstance(v, releases.Change)}
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "in_effect":
                target = node.func.value
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
                assert name in changes, f"{path}:{node.lineno}"


def test_table_rows_are_complete():
    for c in releases.CHANGES:
        assert c.component in ("xl", "libxl", "libxc", "xen", "hvmloader"), c
        assert c.kind in (releases.XL, releases.DMAR, releases.STAGE, releases.NOT_MODELLED), c
        assert OLDEST_XEN < c.first <= NEWEST_XEN and c.what, c
        assert (c.kind == releases.NOT_MODELLED) == bool(c.note), c
        assert all((p[0], p[1]) < (c.first.major, c.first.minor) for p in c.points), c


def test_bands_are_derived_from_the_table():
    # every change's first release, and each line a backport reached with the line after it
    lines = {XenVersion(p[0], p[1] + k) for c in releases.CHANGES for p in c.points
             for k in (0, 1)}
    starts = sorted({OLDEST_XEN} | {c.first for c in releases.CHANGES} | lines)
    assert list(releases.BAND_STARTS) == starts
    assert [b for _f, _l, b in releases.VERSION_BANDS] == [
        "4.6", "4.7", "4.8-4.9", "4.10-4.11", "4.12", "4.13", "4.14", "4.15", "4.16", "4.17",
        "4.18", "4.19-4.20", "4.21", "4.22"]
    assert releases.STAGE_BOUNDARIES == tuple(sorted(
        {c.first for c in releases.CHANGES if c.kind == releases.STAGE}))
    from xlrmrr import compare
    assert compare.VERSION_BANDS is releases.VERSION_BANDS


@pytest.mark.parametrize("text,expect", [
    # e45ad0b1b0 reached 4.14.5, 4.15.3, 4.16.1 and 4.17.0 (xl_parse.c parse_config_data at
    # RELEASE-4.14.5 reads rdm= first; RELEASE-4.14.4 pci= first)
    ("4.13", False), ("4.14", False), ("4.14.4", False), ("4.14.5", True), ("4.15.2", False),
    ("4.15.3", True), ("4.16", False), ("4.16.1", True), ("4.17", True), ("4.22", True),
    ("4.12", False),
])
def test_backported_change_per_point_release(text, expect):
    assert releases.XL_RDM_BEFORE_PCI_AGAIN.in_effect(XenVersion.parse(text)) is expect


def test_point_releases_follow_the_backports():
    # 4.14.1: hvmloader's ACPI/dynamic-area change (8efa46516c, de6d188a51); 4.14.3: XSA-378's
    # iommu_identity_mapping (fe6da097d4); 4.14.5: xl's rdm= order, the PoD text and XSA-400's
    # assignment order (e45ad0b1b0, 07449ecfa4, 78a40f8b5d)
    assert [str(v) for v in releases.point_releases(XenVersion(4, 14))] == [
        "4.14.1", "4.14.3", "4.14.5"]
    assert [str(v) for v in releases.point_releases(XenVersion(4, 14, 3))] == ["4.14.5"]
    assert [str(v) for v in releases.point_releases(XenVersion(4, 14, 5))] == []
    assert [str(v) for v in releases.point_releases(XenVersion(4, 12))] == ["4.12.4"]
    # 4.17.4 and 4.18.1: hvmloader's huge-BAR placement (57acad12a0)
    assert [str(v) for v in releases.point_releases(XenVersion(4, 17))] == ["4.17.4"]
    assert [str(v) for v in releases.point_releases(XenVersion(4, 19))] == []


def test_every_backported_line_is_a_band_of_its_own():
    # The comparison plans a line's point releases from the band's last release
    # (compare._line_points): a backport to a line that is not the last of its band would
    # never be planned.
    lasts = {(last.major, last.minor) for _f, last, _b in releases.VERSION_BANDS}
    for c in releases.CHANGES:
        for p in c.points:
            assert (p[0], p[1]) in lasts, (c.name, p)


def test_guard_catches_a_gate_through_a_constant(tmp_path):
    # the regex guard this replaces missed a gate written through an imported constant
    src = "from xlrmrr.common import XenVersion\nV = XenVersion(4, 14)\n"
    tree = ast.parse(src)
    assert any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "XenVersion"
               for n in ast.walk(tree))
    cmp = ast.parse("v.minor >= 14").body[0].value
    assert _is_version_literal(cmp.left)


def _doc_row(c) -> str:
    backports = ", ".join(".".join(map(str, p)) for p in c.points)
    return (f"| `{c.name}` | {c.first} | {backports} | {c.component} | {c.commit or '-'} | "
            f"{c.kind} | {c.what} |")


def test_docs_table_lists_every_change():
    # docs/xen/releases.md is what releases.py's docstring points to: one row per change, in
    # the table's order, with the same release, backports, commit and text.
    doc = (REPO / "docs" / "xen" / "releases.md").read_text()   # the checkout, not site-packages
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    assert rows == [_doc_row(c) for c in releases.CHANGES]
