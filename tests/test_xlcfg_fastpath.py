"""The fast path for well-formed xl configs (xlrmrr.xlcfg.fastpath) against the exact bison
driver it falls back to: the same ConfigParse (settings, lines, ops, history, report) on the
edge cases, the corpus, the fixtures and generated configs; it finishes on every file the driver
accepts and gives up on every file the driver rejects, so that libxlu's diagnostics always come
from the driver (checked against libxlutil itself by test_xlcfg_parser.py and
test_xlcfg_fuzz.py, which go through the fast path)."""

from __future__ import annotations

import pytest
from conftest import CORPUS, FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_xlcfg_fuzz import ASSIGN, FRAGMENTS
from test_xlcfg_parser import EDGE_CASES

from xlrmrr.xlcfg import fastpath
from xlrmrr.xlcfg.parser import LIST_ERANGE_AT, CfgParser, _Context

FAST, EXACT = CfgParser(), CfgParser(fast=False)


def value(c) -> tuple:
    return (c.source, c.ok, c.rc, repr(c.settings), repr(c.partial_settings), repr(c.history),
            c.diagnostics, c.likely_python, c.aborted, c.abort_reason)


def finishes(data: bytes) -> bool:
    return fastpath.parse(data.decode("latin-1"), _Context("t.cfg"))


def check(data: bytes, source: str = "t.cfg") -> bool:
    """The same ConfigParse both ways; the fast path never finishes on a file the driver
    rejects. Whether it finished."""
    exact = EXACT.parse(data, source)
    assert value(FAST.parse(data, source)) == value(exact), data
    done = finishes(data)
    assert exact.ok or not done, data
    return done


def _files():
    out = sorted((FIXTURES / "guests").rglob("*.cfg"))
    if (CORPUS / "xlcfg").is_dir():
        out += sorted((CORPUS / "xlcfg").glob("*.cfg"))
    return out


@pytest.mark.parametrize("data", EDGE_CASES, ids=[repr(d)[:40] for d in EDGE_CASES])
def test_edge_cases_parse_as_the_driver_does(data):
    check(data)


def test_files_parse_as_the_driver_does_and_fast_where_accepted():
    files = _files()
    assert files
    for path in files:
        data = path.read_bytes()
        assert check(data, path.name) == EXACT.parse(data, path.name).ok, path


def test_values_and_lines_by_hand():
    # the line of a list is its '['; += concatenates; a trailing ',' and newlines in a list
    r = FAST.parse(b"a = 'x'\nb = [\n 1, [2,\n 'y'],\n]\nc += '1'\nc += '2'; d = \"q\\tr\"\n",
                   "t.cfg")
    assert finishes(b"a = 'x'\n") and r.ok
    got = {k: (s.kind, s.value, s.line, s.op) for k, s in r.settings.items()}
    assert got == {"a": ("string", "x", 1, "="), "b": ("list", ["1", ["2", "y"]], 2, "="),
                   "c": ("string", "12", 7, "+="), "d": ("string", "q\tr", 7, "=")}


@pytest.mark.parametrize("data", [
    b"a = 1\r\n",                   # CR: a lexical error
    b"a = (1)\n",                   # Python punctuation: lexical error and the Python hint
    b"a = '\\x41'\n",               # libxlu refuses every \x escape
    b"a = 'x\x00y'\n",              # libxlu aborts
    b"a = [1]\na += '2'\n",         # list += string
    b"a = [1 2]\n", b"a = [,]\n", b"a = 1 2\n", b"a =\n", b"= 1\n",
    b"a = 1 #",                     # a '#' without its newline: xl accepts it, the driver decides
    b"a = " + b"[" * (fastpath.NEST_LIMIT + 1) + b"]" * (fastpath.NEST_LIMIT + 1) + b"\n",
])
def test_gives_up_where_the_driver_must_decide(data):
    assert not finishes(data)
    check(data)


def test_nesting_up_to_the_limit_is_fast():
    n = fastpath.NEST_LIMIT
    data = b"a = " + b"[" * n + b"]" * n + b"\n"
    assert check(data)


def test_list_length_limit_is_the_drivers():
    assert fastpath.LIST_ERANGE_AT == LIST_ERANGE_AT


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_fragment_soup_parses_as_the_driver_does(parts):
    check(b"".join(parts))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(ASSIGN, max_size=8), st.binary(max_size=3))
def test_structured_configs_parse_as_the_driver_does(assigns, noise):
    check(b"".join(assigns) + noise)
