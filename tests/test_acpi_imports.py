"""How the acpi package hangs together: its modules import one another one way only (no cycle,
not even through an import inside a function), each imports on its own, construct loads only
with the modules that decode or build a table, and the code that reads decoded tables names
structure types, scope types and flags instead of comparing them with numbers."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from conftest import REPO

ACPI = REPO / "xlrmrr" / "acpi"
MODULES = sorted(p.stem for p in ACPI.glob("*.py") if p.stem != "__init__")


def _imports(path) -> set[str]:
    """Every xlrmrr module a file imports, at module level or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xlrmrr"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("xlrmrr"))
    return out


def _acpi_graph() -> dict[str, set[str]]:
    return {m: {i.split(".")[2] for i in _imports(ACPI / f"{m}.py")
                if i.startswith("xlrmrr.acpi.") and i.split(".")[2] in MODULES} - {m}
            for m in MODULES}


def test_structs_does_not_import_dmar_or_the_records():
    assert not {"dmar", "model", "checks"} & _acpi_graph()["structs"]
    assert _acpi_graph()["spec"] == set()


def test_no_import_cycle_among_acpi_modules():
    graph = _acpi_graph()
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, " -> ".join(path + (m,))
        if m in done:
            return
        for n in sorted(graph[m]):
            visit(n, path + (m,))
        done.add(m)

    for m in MODULES:
        visit(m, ())
    assert {"dmar", "model", "structs", "spec", "checks", "readers"} <= set(MODULES)


def test_cycle_check_sees_an_import_inside_a_function(tmp_path):
    p = tmp_path / "x.py"
    p.write_text("def f():\n    from xlrmrr.acpi.dmar import build\n")
    assert "xlrmrr.acpi.dmar" in _imports(p)


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone(module):
    code = (f"import sys, xlrmrr.acpi.{module}\n"
            "print(' '.join(m for m in ('construct', 'xlrmrr.acpi.model') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env={"PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    loaded = set(r.stdout.split())
    # construct (and the records, whose table holds the Structs) only for decoding and building
    if module in ("spec", "readers", "gencompiled"):      # gencompiled: a build-time tool
        assert loaded == set(), loaded
    else:
        assert "construct" in loaded, loaded


def test_host_stages_import_without_construct():
    """host/ reads decoded tables; it names types from acpi.spec and imports the records only
    for type checking, so a host built from a boot log or --host-json loads no construct."""
    code = ("import sys, xlrmrr.host.build, xlrmrr.host.resolve, xlrmrr.host.load\n"
            "print(sorted(m for m in sys.modules if m == 'construct' or m.startswith('xlrmrr.acpi.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env={"PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['xlrmrr.acpi.spec']"


def _numbers(n) -> bool:
    if isinstance(n, ast.Constant):
        return type(n.value) is int
    return isinstance(n, (ast.Tuple, ast.List, ast.Set)) and bool(n.elts) and all(
        _numbers(e) for e in n.elts)


def _attr(n, name: str) -> bool:
    return isinstance(n, ast.Attribute) and n.attr == name


def numeric_type_uses(source: str) -> list[str]:
    """`x.type == 1`, `x.type in (1, 2)`, `x.flags & 1`, `d.of_type(4)` in a module's source."""
    out = []
    for n in ast.walk(ast.parse(source)):
        if isinstance(n, ast.Compare):
            sides = [n.left, *n.comparators]
            if any(_attr(s, "type") for s in sides) and any(_numbers(s) for s in sides):
                out.append(ast.unparse(n))
        elif isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitAnd):
            if any(_attr(s, "flags") for s in (n.left, n.right)) and any(
                    _numbers(s) for s in (n.left, n.right)):
                out.append(ast.unparse(n))
        elif isinstance(n, ast.Call) and _attr(n.func, "of_type") and any(map(_numbers, n.args)):
            out.append(ast.unparse(n))
    return out


def test_the_guard_finds_numbers():
    found = numeric_type_uses("a = s.type == 1\nb = sc.type in (1, 2)\nc = s.flags & 1\n"
                              "d = dmar.of_type(4)\ne = s.type == DmarType.RMRR\n")
    assert found == ["s.type == 1", "sc.type in (1, 2)", "s.flags & 1", "dmar.of_type(4)"]


def test_dmar_readers_name_types_and_flags():
    """Where decoded DMAR structures and scopes are read (acpi/, host/, the dmar command and the
    reports), a structure or scope type or a flag is named (xlrmrr.acpi.spec), never a number."""
    pkg = REPO / "xlrmrr"
    files = [*sorted((pkg / "acpi").glob("*.py")), *sorted((pkg / "host").glob("*.py")),
             pkg / "cli" / "dmar.py", *sorted((pkg / "report").glob("*.py"))]
    bad = {str(p.relative_to(REPO)): u for p in files if (u := numeric_type_uses(p.read_text()))}
    assert bad == {}
