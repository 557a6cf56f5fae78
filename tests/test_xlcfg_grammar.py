"""grammar/*.ebnf and the shipped tables stay in step with the ply lexer and parser."""

from __future__ import annotations

import re

from conftest import REPO

from xlrmrr.xlcfg import gentables, lextab, parsetab
from xlrmrr.xlcfg.lexer import CfgLexer

GRAMMAR = REPO / "grammar"
LITERALS = {'"="': "=", '"+="': "OP_ADD", '";"': ";", '"["': "[", '"]"': "]", '","': ","}


def ebnf_rules(text: str) -> dict[str, set[tuple[str, ...]]]:
    """The syntax rules of an EBNF file in the plain form grammar/xlcfg.ebnf uses."""
    text = text.replace("(* empty *)", "EMPTY")
    text = re.sub(r"\(\*.*?\*\)", "", text, flags=re.S)
    rules: dict[str, set[tuple[str, ...]]] = {}
    outside = r'(?=(?:[^"]*"[^"]*")*[^"]*$)'       # not inside a quoted terminal
    for stmt in re.split(";" + outside, text):
        if not stmt.strip():
            continue
        lhs, rhs = stmt.split("=", 1)
        alts = set()
        for alt in re.split(r"\|" + outside, rhs):
            syms = tuple(s.strip() for s in alt.split(" , ") if s.strip())
            syms = tuple(LITERALS.get(s, s) for s in syms if s != "EMPTY")
            alts.add(syms)
        rules.setdefault(lhs.strip(), set()).update(alts)
    return rules


def ply_rules() -> dict[str, set[tuple[str, ...]]]:
    """The productions ply builds from CfgParser's docstrings (computed fresh, in memory)."""
    rules: dict[str, set[tuple[str, ...]]] = {}
    for p in gentables._grammar_parser().productions[1:]:
        rules.setdefault(p.name, set()).add(tuple(s.strip("'") for s in p.prod))
    return rules


def test_ebnf_matches_ply_productions():
    want = ebnf_rules((GRAMMAR / "xlcfg.ebnf").read_text())
    assert want == ply_rules()


def test_ebnf_parser_catches_a_difference():
    text = (GRAMMAR / "xlcfg.ebnf").read_text().replace('| ";" ;', ";", 1)
    assert ebnf_rules(text) != ply_rules()


def test_ebnf_lexical_rules_match_the_lexer():
    text = (GRAMMAR / "xlcfg.ebnf").read_text()
    found = dict(re.findall(r"^\s*lex (\w+):\s+(\S+)", text, flags=re.M))
    assert found == {name[2:]: getattr(CfgLexer, name).__doc__
                     for name in dir(CfgLexer)
                     if name.startswith("t_") and not name.startswith("t_lexerr")
                     and callable(getattr(CfgLexer, name)) and name != "t_error"}


def test_shipped_tables_are_current():
    assert (REPO / "xlrmrr/xlcfg/parsetab.py").read_text() == gentables.parsetab_source()
    assert (REPO / "xlrmrr/xlcfg/lextab.py").read_text() == gentables.lextab_source()
    assert parsetab.RULES == [str(p) for p in gentables._grammar_parser().productions]
    assert lextab._tabversion


def test_other_grammars_name_every_key():
    pci = (GRAMMAR / "pcispec.ebnf").read_text()
    for key in ("bdf=", "vslot=", "permissive=", "msitranslate=", "seize=", "power_mgmt=",
                "rdm_policy=", "name="):
        assert f'"{key}"' in pci
    rdm = (GRAMMAR / "rdmspec.ebnf").read_text()
    assert '"strategy="' in rdm and '"policy="' in rdm
