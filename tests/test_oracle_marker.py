"""The `oracle` marker (tests/conftest.py): set on exactly the tests that reach a real parser,
directly or through a helper of their module, so `pytest -m "not oracle"` needs no Debian
package and the full run still covers them."""

import ast

from conftest import REPO, _oracle_functions

T = REPO / "tests"


def test_direct_and_indirect_oracle_use_is_marked():
    wrapper = _oracle_functions(str(T / "test_xl_wrapper.py"))
    assert "test_forcecheck_translation_parses_in_libxlu_as_planned" in wrapper   # direct
    assert "_oracle_reads" in wrapper                                             # the helper
    tree = ast.parse((T / "test_xl_wrapper.py").read_text())
    callers = [f.name for f in tree.body if isinstance(f, ast.FunctionDef) and f.name.startswith(
        "test") and "_oracle_reads(" in ast.unparse(f) and "oracle." not in ast.unparse(f)]
    assert callers and all(c in wrapper for c in callers)       # reached only through the helper
    iasl = _oracle_functions(str(T / "test_acpi_iasl.py"))
    tests = [line.split("(")[0][4:] for line in (T / "test_acpi_iasl.py").read_text().splitlines()
             if line.startswith("def test")]
    assert tests and set(tests) <= iasl


def test_tests_without_an_oracle_are_not_marked():
    assert not {n for n in _oracle_functions(str(T / "test_cli_basics.py")) if n.startswith("test")}
    wrapper = _oracle_functions(str(T / "test_xl_wrapper.py"))
    first = next(line.split("(")[0][4:] for line in (T / "test_xl_wrapper.py").read_text().splitlines()
                 if line.startswith("def test"))
    assert first not in wrapper, first


def test_marker_is_registered():
    assert "oracle: compares with a real parser" in (REPO / "tox.ini").read_text()
