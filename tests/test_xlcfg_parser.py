"""The xl config lexer and parser against Xen's own (libxlutil.so.4.17 via tests/libxlu_oracle.py).

Each case compares accept/reject, every setting (kind, value, line, op) and the report text
byte for byte. Hand-written expectations beside some cases come from libxlu_cfg_l.l,
libxlu_cfg_y.y and libxlu_cfg.c at RELEASE-4.17.7, checked against libxlutil.so.4.17.
"""

from __future__ import annotations

import json
import sys

import libxlu_oracle as oracle
import pytest
from conftest import CORPUS, need

from xlrmrr.xlcfg import parse_config
from xlrmrr.xlcfg.settings import PYTHON_WARNING, value_json

XLCFG = CORPUS / "xlcfg"


def ours(data: bytes, source: str = "test.cfg") -> dict:
    r = parse_config(data, source)
    if r.aborted:
        return {"crash": "SIGABRT"}
    view = r.settings if r.ok else r.partial_settings
    return {"ok": r.ok, "rc": r.rc, "report": r.diagnostics,
            "settings" if r.ok else "partial_settings":
                {k: {"kind": s.kind, "value": value_json(s.value), "line": s.line, "op": s.op}
                 for k, s in view.items()}}


def theirs(data: bytes, source: str = "test.cfg") -> dict:
    r = oracle.parse(data, source)
    for key in ("settings", "partial_settings"):
        for v in r.get(key, {}).values():
            v["value"] = (v["value"]["deep_json"] if isinstance(v["value"], dict)
                          else value_json(v["value"]))
    return r


def same_as_xl(data: bytes, source: str = "test.cfg") -> dict:
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    want = theirs(data, source)
    got = ours(data, source)
    assert got == want, data
    return got


EDGE_CASES = [
    b"", b"\n\n", b"# only a comment\n", b"a=1\n", b"a = 1", b"a=1;b=2; c = 3 ;\n", b";;\n",
    b"a = 1 b = 2\n", b"a =\n 1\n", b"a\n= 1\n", b"Name = 1\n", b"_a = 1\n", b".a = 1\n",
    b"c-d = 1\n", b"a1_b.c = 1\n", b"a = 0x1f\n", b"a = 0x1F\n", b"a = 0XAB\n", b"a = 1.5\n",
    b"a = -5\n", b"a = 16mb\n", b"a = 12abc 1fx9 1e5\n", b"a = + = 1\n", b"a += 1\n",
    b"a = '1'\na += '2'\n", b"a = [1]\na += [2, [3]]\n", b"a = [1]\na += '2'\n",
    b"a = '2'\na += [1]\n", b"a = 1\na = [2]\na += [3]\n", b"a = [ ]\n", b"a = []\n",
    b"a = [,]\n", b"a = [1,]\n", b"a = [1,,]\n", b"a = [1 2]\n", b"a = [\n1\n,\n2\n,\n]\n",
    b"a = [ # c\n 1, # d\n ]\n", b"a = [[1, [2]], '3', []]\n", b"a = [1] [2]\n",
    b"a = 'x' 'y'\n", b"a = 1 $ b\n", b"a = 1 $\nb = 2\n", b"a = 1\n$\nb = 2 3\nc = 4 4\n",
    b"a = 1 #", b"# x", b"#", b"a = 1\n# x", b"a = 1 # tail\n", b"a = # c\n 1\n",
    b"a = '#not a comment'\n", b"a = \"it's\"\n", b"a = 'say \"hi\"'\n",
    b"a = '\\\"\\'\\\\\\a\\b\\f\\n\\r\\t\\v'\n", b"a = '\\x41'\n", b"a = '\\x'\n", b"a = 'A\\101B'\n",
    b"a = 'A\\0777C'\n", b"a = 'A\\1B'\n", b"a = 'A\\0'\n", b"a = 'A\\0 12B'\n",
    b"a = 'A\\1-5xB'\n", b"a = '\\8'\n", b"a = '\\q'\n", b"a = 'x\\\n", b"a = 'unterminated\n",
    b"a = 'x\x00y'\n", b"a = 1 $\nb = 'x\x00y'\n", b"a = 1\r\nb = 2\r\n", b"a = 'x\ry'\n",
    b"\xef\xbb\xbfa = 1\n", b"a = '\xc3\xa9\xff'\n", b"\xe9 = 1\n", b"a = 1\x00\n", b"a = 1\x0b\n",
    b"import os\ndef f():\n  pass\nmemory = 512\n", b"a = (1)\nb = 2\n", b"a = 1\nb = 2 :\nc = 3\n",
    b"memory = 512\nmemory += 256\n", b"a = 1 b\nc = 2 d\n", b"a b c\nd = 1\ne f\n",
    b"a = [1\n", b"a = [1\n\n", b"a =", b"a = ", b"x = 1\na = ", b"a", b"a\n", b"[", b"]\n",
    b"a = ]\nb = 1\n", b"= 1\nb = 2\nc\n", b"a = 1\n= 2\nb = 3\n", b"a=[\n", b"a=1;;b",
    b"a = 1\nb = 2 3\nc = 4\nd 5\ne = 6\n", b"a = [1, 2\nb = 3\n", b"a = 1\tb\n",
    b"a = 'x' # c\nb = 'y' 'z' # d\n", b"a.b = 1\na..b = 2\n", b"a = 0\nb = 08\n",
]


@pytest.mark.parametrize("data", EDGE_CASES, ids=[repr(d)[:40] for d in EDGE_CASES])
def test_edge_cases_match_libxlu(data):
    same_as_xl(data)


@pytest.mark.parametrize("data", EDGE_CASES + [b"a = [1]\na += [2]\na = 'x'\na += 'y'\na += 'z'\n"],
                         ids=[repr(d)[:40] for d in EDGE_CASES] + ["history"])
def test_history_of_shadowed_settings_matches_libxlu(data):
    """Every stored assignment, shadowed ones included (a list moved by += becomes [])."""
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    want = oracle.parse(data, "test.cfg", history=True)
    if "crash" in want:
        return
    got = parse_config(data, "test.cfg")
    assert [(n, s.kind, s.value, s.line, s.op) for n, s in got.history] == \
        [(h["name"], h["kind"], h["value"], h["line"], h["op"]) for h in want["history"]]


@pytest.mark.parametrize("depth", [1, 100, 2000, 4996, 4997, 4998, 6000])
def test_deep_nesting_matches_libxlu_stack_limit(depth):
    data = b"a = " + b"[" * depth + b"]" * depth + b"\n"
    got = same_as_xl(data)
    assert got["ok"] == (depth <= 4996)        # bison's YYMAXDEPTH = 10000 states


def test_deep_nesting_100000_is_fast_and_fails_like_xl():
    r = parse_config(b"a = " + b"[" * 100000 + b"]" * 100000 + b"\n", "deep.cfg")
    assert not r.ok
    assert r.diagnostics == "deep.cfg:1: config parsing error near `[': memory exhausted\n"


def test_source_name_is_used_verbatim():
    same_as_xl(b"a = 1 b\n", "/etc/xen/guest one.cfg")


def _corpus_files():
    """The corpus files, or one None that makes the test go through need(): an empty parameter
    set would be skipped by pytest itself, even under CI."""
    return sorted(XLCFG.glob("*.cfg")) if XLCFG.is_dir() else [None]


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.name if p else "no-corpus")
def test_corpus_file_matches_libxlu(path):
    need(path is not None, f"shared corpus not found at {XLCFG}")
    same_as_xl(path.read_bytes(), path.name)


def test_corpus_listing_needs_the_corpus(monkeypatch, tmp_path):
    """Under CI a missing corpus fails the corpus test instead of leaving it with no cases."""
    monkeypatch.setattr(sys.modules[__name__], "XLCFG", tmp_path / "absent")
    assert _corpus_files() == [None]
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI but absent"):
        test_corpus_file_matches_libxlu(None)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        test_corpus_file_matches_libxlu(None)


def test_corpus_matches_shipped_oracle_verdicts():
    need(XLCFG.is_dir(), f"shared corpus not found at {XLCFG}")
    lines = (XLCFG / "ORACLE.jsonl").read_text().splitlines()
    assert len(lines) == 62
    for line in lines:
        entry = json.loads(line)
        want = entry["result"]
        got = parse_config((XLCFG / entry["file"]).read_bytes(), entry["file"])
        assert got.ok == want["ok"], entry["file"]
        assert got.diagnostics == want["report"], entry["file"]
        assert got.likely_python == want["likely_python"], entry["file"]
        view = got.settings if got.ok else got.partial_settings
        key = "settings" if want["ok"] else "partial_settings"
        assert {k: (s.kind, s.value, s.line, s.op) for k, s in view.items()} == \
            {k: (v["kind"], v["value"], v["line"], v["op"]) for k, v in want[key].items()}


def test_known_facts_without_oracle():
    """Independent of the oracle: facts read in libxlu_cfg.c (xlu__cfg_set_store, xlu_cfg_get_long)
    at RELEASE-4.17.7."""
    r = parse_config(b"maxmem = 010000\nmemory = 512\nmemory += 256\n", "f.cfg")
    assert r.ok and r.settings["memory"].value == "512256" and r.settings["memory"].op == "+="
    assert r.settings["maxmem"].value == "010000"
    r = parse_config(b"a =\n 1\n", "f.cfg")
    assert r.diagnostics == ("f.cfg:0: config parsing error near <newline>: syntax error, "
                             "unexpected NEWLINE, expecting STRING or NUMBER or '['\n")
    r = parse_config(b"memory = 1.5\n", "f.cfg")
    assert not r.ok and r.partial_settings["memory"].value == "1" and r.likely_python
    assert r.diagnostics.endswith(PYTHON_WARNING)
    r = parse_config(b"a = 'x\x00'\n", "f.cfg")
    assert r.aborted and not r.ok
    r = parse_config(b"a = [1]\na += [2]\n", "f.cfg")
    assert [s.value for _, s in r.history] == [[], ["1", "2"]]


def test_value_json_equals_json_dumps_on_shallow_values():
    from hypothesis import given
    from hypothesis import strategies as st

    values = st.recursive(st.text(max_size=5), lambda inner: st.lists(inner, max_size=4),
                          max_leaves=20)

    @given(values)
    def check(v):
        assert value_json(v) == json.dumps(v)
    check()
