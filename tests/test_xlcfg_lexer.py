"""The xl config lexer (xlrmrr.xlcfg.lexer), one test per construct of libxlu's flex scanner
(tools/libs/util/libxlu_cfg_l.l): the token stream, the text flex would leave in yytext, the
line numbers bison sees, and the error recovery. Expectations are read off the flex rules:

    [a-z][._0-9a-z]*        IDENT
    [0-9][0-9a-fx]*         NUMBER
    \\+=                    OP_ADD
    [=;\\[\\],]             the character itself
    '...' and "..."         STRING (dequoted by xlu__cfgl_dequote)
    \\#[^\\n]*\\n | \\n       NEWLINE (yylineno advances)
    [ \\t]                  skipped
    [+\\-.():]              likely Python: lexical error, Python warning afterwards
    .                       lexical error; <lexerr> swallows the rest of the word (yymore)
"""

from __future__ import annotations

import pytest

from xlrmrr.xlcfg.lexer import Abort, CfgLexer
from xlrmrr.xlcfg.parser import _Context


def lex(text: str):
    """(tokens as (type, value, line), the context's report lines, likely_python)."""
    ctx = _Context("t.cfg")
    lexer = CfgLexer(ctx)
    ctx.lexer = lexer
    lexer.build()
    lexer.input(text)
    out = []
    while True:
        tok = lexer.token()
        if tok is None:
            break
        out.append((tok.type, tok.value, tok.lineno))
    return out, ctx.report, ctx.likely_python


def types(text: str) -> list[str]:
    return [t for t, _v, _l in lex(text)[0]]


def test_assignment():
    toks, report, _py = lex('memory = 2048\n')
    assert toks == [("IDENT", "memory", 1), ("=", "=", 1), ("NUMBER", "2048", 1),
                    ("NEWLINE", "\n", 1)]
    assert report == []


@pytest.mark.parametrize("text, kinds", [
    ("a", ["IDENT"]),
    ("vif.0_x9", ["IDENT"]),           # dots, digits and underscores after the first letter
    ("Memory", []),                    # 'M' is not [a-z]: an error char, 'emory' swallowed
    ("_x", []),                        # '_' cannot start an identifier: lexical error
])
def test_identifiers(text, kinds):
    assert types(text) == kinds


def test_uppercase_start_is_a_lexical_error_reported_once():
    toks, report, _py = lex("Memory = 1\n")
    assert [t for t, _v, _l in toks] == ["=", "NUMBER", "NEWLINE"]
    assert report == ["t.cfg:1: config parsing error near `Memory': lexical error\n"]


@pytest.mark.parametrize("text, value", [
    ("0x10", "0x10"), ("0xfff", "0xfff"), ("123abc", "123abc"), ("0", "0"),
    ("1x2x3", "1x2x3"),                 # [0-9a-fx]*: the scanner does not check the form
])
def test_numbers_are_scanned_by_character_class(text, value):
    toks, report, _py = lex(text)
    assert toks == [("NUMBER", value, 1)] and report == []


def test_number_stops_at_a_character_outside_its_class():
    # 'g' is not in [0-9a-fx]: the NUMBER ends, 'g' starts an IDENT
    assert lex("12g")[0] == [("NUMBER", "12", 1), ("IDENT", "g", 1)]


def test_plus_equals_and_punctuation():
    assert types("pci += [ 'a', 'b' ];") == ["IDENT", "OP_ADD", "[", "STRING", ",", "STRING",
                                             "]", ";"]


def test_strings_single_and_double_quoted():
    toks, report, _py = lex("""a = 'x y' "z"\n""")
    assert toks[2:4] == [("STRING", "x y", 1), ("STRING", "z", 1)] and report == []


@pytest.mark.parametrize("src, value", [
    (r"'a\nb'", "a\nb"), (r"'\t\\\''", "\t\\'"), (r'"\""', '"'),
    # a well-formed octal escape gives an empty string: libxlu's dequote quirk, which
    # Debian's libxlutil 4.17 shows (test_escapes_match_libxlutil)
    (r"'\101'", ""),
])
def test_string_escapes(src, value):
    toks, report, _py = lex(src)
    assert toks == [("STRING", value, 1)] and report == []


@pytest.mark.parametrize("src", [rb"a = '\101'", rb"a = '\1'", rb"a = 'x\n\ty'", rb"a = '\q'",
                                 rb"a = '\x41'", rb"a = '\777'", rb'a = "\\\""'])
def test_escapes_match_libxlutil(src):
    import libxlu_oracle as oracle
    from conftest import need

    from xlrmrr.xlcfg.parser import CfgParser

    need(oracle.available(), "Debian's libxlutil (libxenmisc4.17)")
    ours = CfgParser().parse(src + b"\n", "test.cfg")
    real = oracle.parse(src + b"\n", "test.cfg")
    assert (ours.rc, ours.diagnostics) == (real["rc"], real["report"])
    if real["ok"]:
        assert ours.settings["a"].value == real["settings"]["a"]["value"]


def test_hex_escape_always_fails():
    # NUMERIC_CHAR(2,2,16) in libxlu_cfg.c: the end pointer can never pass the two digits
    # copied, so every \x is "invalid digit" (a libxlu bug xl users meet as a parse error)
    toks, report, _py = lex(r"'\x41'")
    assert toks == [("STRING", "", 1)]
    assert report == ["t.cfg:1: config parsing error near `'\\x41'': invalid digit after "
                      "backslash hexnumerical character escape in quoted string\n"]


def test_unknown_escape():
    _toks, report, _py = lex(r"'\q'")
    assert report == ["t.cfg:1: config parsing error near `'\\q'': invalid character after "
                      "backlash in quoted string\n"]


def test_nul_inside_a_string_is_libxlus_abort():
    with pytest.raises(Abort):
        lex("a = 'x\0y'\n")


def test_a_string_does_not_span_lines():
    # the quote rules exclude \n: an unterminated quote is an error character
    toks, report, _py = lex("a = 'x\nb = 1\n")
    assert ("STRING", "x", 1) not in toks and report
    assert ("IDENT", "b", 2) in toks


def test_comments_are_newlines_and_lines_count():
    toks, _r, _py = lex("# one\na = 1 # two\n\nb = 2\n")
    assert [(t, line) for t, _v, line in toks] == [
        ("NEWLINE", 1), ("IDENT", 2), ("=", 2), ("NUMBER", 2), ("NEWLINE", 2), ("NEWLINE", 3),
        ("IDENT", 4), ("=", 4), ("NUMBER", 4), ("NEWLINE", 4)]


def test_a_comment_without_a_newline_at_end_of_file_is_an_error():
    # \#[^\n]*\n needs the newline; at EOF '#' is an error character
    _toks, report, _py = lex("a = 1 # no newline")
    assert report == ["t.cfg:1: config parsing error near `#': lexical error\n"]


def test_blanks_are_skipped_but_not_other_whitespace():
    assert types(" \t a \t") == ["IDENT"]
    _toks, report, _py = lex("a\r\n")           # CR is no blank in the flex rules
    assert report == ["t.cfg:1: config parsing error near `\r': lexical error\n"]


@pytest.mark.parametrize("ch", list("+-.():"))
def test_python_characters_set_likely_python(ch):
    _toks, report, py = lex(f"a = {ch}1\n")
    assert py and len(report) == 1 and report[0].endswith(": lexical error\n")


def test_other_error_characters_do_not_suggest_python():
    _toks, report, py = lex("a = @1\n")
    assert not py and report == ["t.cfg:1: config parsing error near `@1': lexical error\n"]


def test_error_recovery_swallows_the_rest_of_the_word_then_resumes():
    toks, report, _py = lex("a = $foo bar\nb = 1\n")
    assert [(t, v) for t, v, _l in toks] == [
        ("IDENT", "a"), ("=", "="), ("IDENT", "bar"), ("NEWLINE", "\n"),
        ("IDENT", "b"), ("=", "="), ("NUMBER", "1"), ("NEWLINE", "\n")]
    assert report == ["t.cfg:1: config parsing error near `$foo': lexical error\n"]


def test_one_error_per_line_is_reported():
    # xlu__cfg_yyerror drops errors at or before lexerrlineno
    _toks, report, _py = lex("a = $x $y\nb = $z\n")
    assert report == ["t.cfg:1: config parsing error near `$x': lexical error\n",
                      "t.cfg:2: config parsing error near `$z': lexical error\n"]


def test_eight_bit_input_is_one_character_per_byte():
    # %option 8bit: a latin-1 decoded byte >= 0x80 is an error character, not a crash
    _toks, report, _py = lex("a = \xe9t\xe9\n")
    assert len(report) == 1 and report[0].startswith("t.cfg:1: config parsing error near `")
