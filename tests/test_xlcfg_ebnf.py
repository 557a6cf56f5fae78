"""grammar/pcispec.ebnf and grammar/rdmspec.ebnf against the Python parsers.

A small reader turns each EBNF file into a tree, which gives two things: random sentences
(respecting the `<= 0x..` limits written beside the number rules and the side rule "exactly one
of bdf and name"), which the parser must accept; and a regular expression (neither grammar is
recursive), which every string the parser accepts must match. So the grammar files cannot
drift from pcispec.py without a test failing.
"""

from __future__ import annotations

import random
import re

import libxlu_oracle as oracle
import pytest
from conftest import REPO, need

from xlrmrr.xlcfg.pcispec import libxlu_undefined, parse_spec_string, rdm_parse

GRAMMAR = REPO / "grammar"
HEXDIGITS = "0123456789abcdefABCDEF"
TOKEN = re.compile(r'\s*(?:(\(\*.*?\*\))|("[^"]*")|([A-Za-z_]\w*)|([=,|\[\]{}();]))', re.S)


class Ebnf:
    """The rules of one grammar file: name -> tree of ("alt"|"seq", [..]), ("opt"|"rep", node),
    ("lit", text), ("ref", name), ("HEX",), ("except", chars, no_hex)."""

    def __init__(self, text: str):
        self.limits = {name: int(v, 0) for name, v in re.findall(
            r"^(\w+)\s*=[^;]*;\s*\(\*\s*<=\s*(0x[0-9a-fA-F]+|\d+)", text, flags=re.M)}
        self.nocase = set(re.findall(r"^(\w+)\s*=[^;]*;\s*\(\*\s*case-insensitive\s*\*\)", text,
                                     flags=re.M))
        self.toks = []
        pos = 0
        while pos < len(text.rstrip()):
            m = TOKEN.match(text, pos)
            assert m, text[pos:pos + 40]
            pos = m.end()
            if not m.group(1):
                self.toks.append(m.group(m.lastindex))
        self.i = 0
        self.rules = {}
        while self.i < len(self.toks):
            name = self._next()
            assert self._next() == "="
            self.rules[name] = self._alt()
            assert self._next() == ";", name

    def _next(self) -> str:
        self.i += 1
        return self.toks[self.i - 1]

    def _peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _alt(self):
        alts = [self._seq()]
        while self._peek() == "|":
            self._next()
            alts.append(self._seq())
        return ("alt", alts)

    def _seq(self):
        terms = [self._term()]
        while self._peek() == ",":
            self._next()
            terms.append(self._term())
        return ("seq", terms)

    def _term(self):
        t = self._next()
        if t in ("[", "{", "("):
            node = self._alt()
            assert self._next() == {"[": "]", "{": "}", "(": ")"}[t]
            return {"[": ("opt", node), "{": ("rep", node), "(": node}[t]
        if t.startswith('"'):
            return ("lit", t[1:-1])
        if t == "HEX":
            return ("HEX",)
        if t == "any":
            assert (self._next(), self._next()) == ("char", "except")
            chars, no_hex = "", False
            while True:
                item = self._next()
                if item == "HEX":
                    no_hex = True
                else:
                    chars += item[1:-1]
                if self._peek() != "or":
                    return ("except", chars, no_hex)
                self._next()
        return ("ref", t)

    def regex(self, name: str) -> str:
        return self._re(self.rules[name])

    def _re(self, node) -> str:
        kind = node[0]
        if kind == "alt":
            return "(?:" + "|".join(self._re(n) for n in node[1]) + ")"
        if kind == "seq":
            return "".join(self._re(n) for n in node[1])
        if kind == "opt":
            return f"(?:{self._re(node[1])})?"
        if kind == "rep":
            return f"(?:{self._re(node[1])})*"
        if kind == "lit":
            return re.escape(node[1])
        if kind == "HEX":
            return "[0-9a-fA-F]"
        if kind == "except":
            return "[^" + re.escape(node[1]) + ("0-9a-fA-F" if node[2] else "") + "]"
        inner = self._re(self.rules[node[1]])
        return f"(?i:{inner})" if node[1] in self.nocase else inner

    def sentence(self, name: str, rnd: random.Random) -> str:
        return self._gen(self.rules[name], rnd, self.limits.get(name))

    def _gen(self, node, rnd: random.Random, limit: int | None) -> str:
        kind = node[0]
        if kind == "alt":
            return self._gen(rnd.choice(node[1]), rnd, limit)
        if kind == "seq":
            return "".join(self._gen(n, rnd, limit) for n in node[1])
        if kind == "opt":
            return self._gen(node[1], rnd, limit) if rnd.random() < 0.5 else ""
        if kind == "rep":
            return "".join(self._gen(node[1], rnd, limit) for _ in range(rnd.choice((0, 1, 2))))
        if kind == "lit":
            return node[1]
        if kind == "HEX":
            return rnd.choice(HEXDIGITS)
        if kind == "except":
            pool = [c for c in "az=: .@*-_xX09AF+" if c not in node[1]
                    and not (node[2] and c in HEXDIGITS)]
            return rnd.choice(pool)
        name = node[1]
        if name == "hex" and limit is not None:
            digits = f"{rnd.randint(0, limit):x}"
            digits = "0" * rnd.choice((0, 0, 1, 3)) + digits
            return digits.upper() if rnd.random() < 0.3 else digits
        out = self._gen(self.rules[name], rnd, self.limits.get(name, limit))
        if name in self.nocase:
            out = "".join(c.upper() if rnd.random() < 0.3 else c for c in out)
        return out


PCI = Ebnf((GRAMMAR / "pcispec.ebnf").read_text())
RDM = Ebnf((GRAMMAR / "rdmspec.ebnf").read_text())


def one_of_bdf_and_name(spec: str) -> bool:
    """The side rule written under the pcispec grammar: exactly one of bdf and name=."""
    fields = spec.split(",")
    bdf = (fields[0] != "" and "=" not in fields[0]) or any(f.startswith("bdf=") for f in fields)
    name = any(f.startswith("name=") for f in fields)
    return bdf != name


def test_reader_reads_the_rules_and_limits():
    assert {"spec", "options", "option", "bdf", "bdfarg", "hex", "trailer", "stop"} <= \
        set(PCI.rules)
    assert PCI.limits == {"domain": 0xFFFF, "bus": 0xFF, "dev": 0x1F, "fnum": 7, "vslot": 0x1F}
    assert PCI.nocase == {"policy"} and RDM.nocase == set()
    assert set(RDM.rules) == {"rdm", "item", "strategy", "policy"}
    assert re.fullmatch(RDM.regex("rdm"), "strategy=host,policy=relaxed")
    assert not re.fullmatch(RDM.regex("rdm"), "strategy=host, policy=relaxed")
    assert re.fullmatch(PCI.regex("spec"), "0000:01:00.*@1f,bdf=2:3.4q,name=,bdf=1:2.*3")
    assert not re.fullmatch(PCI.regex("spec"), "01:00.0,bdf=2:3.4x")


def _pci_sentences(n: int, seed: int = 15) -> list[str]:
    rnd = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        s = PCI.sentence("spec", rnd)
        if one_of_bdf_and_name(s):
            out.append(s)
    return out


def test_pci_sentences_from_the_grammar_are_accepted():
    sentences = _pci_sentences(3000)
    assert len({s.split("=")[0] for s in sentences}) > 5       # the walk reaches every form
    for s in sentences:
        assert not libxlu_undefined(s), s
        assert parse_spec_string(s).rc == 0, s


def test_pci_strings_the_parser_accepts_match_the_grammar():
    """Random strings over the grammar's pieces (no blank, sign or `x`, the sscanf quirks the
    grammar leaves out): whatever the parser accepts, the grammar and the side rule allow."""
    pieces = ["01:00.0", "0001:02:1f.*", "1:2.7", ",", ",", "01", "0", "1f", "20", "ffff",
              "10000", ":", ".", "*", "@", ",", "=", "bdf=",
              "vslot=", "name=", "permissive=", "seize=", "rdm_policy=", "strict", "relaxed",
              "invalid", "STRICT", "Relaxed", "q", "7", "8", "bogus="]
    rnd = random.Random(7)
    pattern = re.compile(PCI.regex("spec"))
    accepted = 0
    for _ in range(20000):
        s = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 9)))
        if parse_spec_string(s).rc == 0 and not libxlu_undefined(s):
            accepted += 1
            assert pattern.fullmatch(s) and one_of_bdf_and_name(s), s
    assert accepted > 100


def test_pci_grammar_sentences_agree_with_libxlu():
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    for s in _pci_sentences(60, seed=3):
        assert oracle.pci_spec(s)["rc"] == 0, s


def _rdm_sentences(n: int) -> list[str]:
    rnd = random.Random(5)
    return [RDM.sentence("rdm", rnd) for _ in range(n)]


@pytest.mark.parametrize("version", [(4, 14), (4, 15), (4, 17), (4, 22)])
def test_rdm_sentences_by_release(version):
    """rdmspec.ebnf: every sentence parses on 4.14; from 4.15 one with a (valid) policy= fails."""
    for s in _rdm_sentences(500):
        rc = rdm_parse(s, version).rc
        if version == (4, 14) or "policy=" not in s:
            assert rc == 0, (version, s)
        else:
            assert rc != 0, (version, s)


@pytest.mark.parametrize("version", [(4, 6), (4, 13)])
def test_rdm_sentences_before_4_14(version):
    """Xen 4.6-4.13 take exactly `strategy=host,policy=` policy (the grammar's header)."""
    exact = re.compile('strategy=host,policy=' + RDM.regex("policy"))
    for s in _rdm_sentences(500):
        assert (rdm_parse(s, version).rc == 0) == bool(exact.fullmatch(s)), s


def test_rdm_strings_the_4_14_parser_accepts_match_the_grammar():
    pieces = ["strategy=", "policy=", "host", "strict", "relaxed", "ignore", ",", " ", "=",
              "x", "STRICT"]
    rnd = random.Random(11)
    pattern = re.compile(RDM.regex("rdm"))
    agree = 0
    for _ in range(20000):
        s = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 6)))
        ok = rdm_parse(s, (4, 14)).rc == 0
        assert ok == bool(pattern.fullmatch(s)), s
        agree += ok
    assert agree > 50


def test_rdm_grammar_sentences_agree_with_libxlu():
    """libxlu 4.17: the policy inversion of xlu_rdm_parse (bdc0799fe2) on the grammar's own sentences."""
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    for s in _rdm_sentences(40):
        assert (oracle.rdm(s)["rc"] == 0) == ("policy=" not in s), s
