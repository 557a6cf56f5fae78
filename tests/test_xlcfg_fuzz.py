"""Differential fuzzing: hypothesis-generated configs through our parser and libxlutil.so.4.17."""

from __future__ import annotations

import libxlu_oracle as oracle
from conftest import need
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_xlcfg_parser import ours, theirs

FRAGMENTS = [
    b"a", b"memory", b"pci", b"x.y_1", b"Name", b"0", b"12", b"0x1f", b"010", b"1e5", b"0X1",
    b"=", b"+=", b"+", b" = ", b";", b",", b"[", b"]", b"[ ", b" ]", b"\n", b"\n\n", b" ", b"\t",
    b"# comment\n", b"#", b"'s'", b'"d"', b"'a\\nb'", b"'\\x41'", b"'\\101'", b"'\\1'", b"'\\q'",
    b"'\\''", b"'#'", b"'", b'"', b"\\", b"$", b".", b"(", b")", b":", b"-", b"\r", b"\r\n",
    b"\xc3\xa9", b"\xff", b"'\xe9'", b"\x00", b"'\x00'", b"{{", b"import os\n", b"a = 1\n",
    b"a = [1, 2]\n", b"a += '3'\n", b"a += [4]\n", b"b = 'x' 'y'\n", b"c = [1 2]\n",
]


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_fragment_soup_matches_libxlu(parts):
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    data = b"".join(parts)
    assert ours(data) == theirs(data), data


ASSIGN = st.builds(
    lambda k, op, v, end: k + op + v + end,
    st.sampled_from([b"a", b"b", b"memory", b"pci"]),
    st.sampled_from([b" = ", b"=", b" += "]),
    st.recursive(st.sampled_from([b"1", b"'x'", b'"y"', b"0x10", b"''"]),
                 lambda inner: st.lists(inner, max_size=4).map(
                     lambda xs: b"[" + b", ".join(xs) + b"]"), max_leaves=8),
    st.sampled_from([b"\n", b";", b" # c\n", b"", b"\n\n"]))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(ASSIGN, max_size=8), st.binary(max_size=3))
def test_structured_configs_match_libxlu(assigns, noise):
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    data = b"".join(assigns) + noise
    assert ours(data) == theirs(data), data
