"""The fast path of the xl config parser: well-formed files without ply.

One regular expression tokenizes the file with the lexer's rules in the lexer's order
(xlrmrr.xlcfg.lexer: flex's longest match as Python's first match), and a loop over the tokens
follows the grammar of xlrmrr.xlcfg.parser for input that has no error, storing each setting
with the parse context's own set_store as the grammar's actions do. At the first thing that is
not plainly well formed (a character the lexer reports, a string whose escapes are not all
valid, a token the grammar does not expect there, `+=` of a list to a string, lists nested
deeper than NEST_LIMIT) it gives up and the caller parses the file again with the exact bison
driver, which reproduces libxlu's diagnostics. tests/test_xlcfg_fastpath.py checks that both
give the same ConfigParse wherever this path finishes.
"""

from __future__ import annotations

import re

from xlrmrr.xlcfg.lexer import dequote
from xlrmrr.xlcfg.settings import LIST_ERANGE_AT

# Token kinds (the group numbers of _TOKEN)
_NL, _IDENT, _NUMBER, _ADD, _PUNCT, _STRING = 1, 2, 3, 4, 5, 6
_TOKEN = re.compile(r"""[ \t]*(?:
    (\#[^\n]*\n|\n)                                 # NEWLINE (t_COMMENT, t_NEWLINE)
  | ([a-z][._0-9a-z]*)                              # IDENT
  | ([0-9][0-9a-fx]*)                               # NUMBER
  | (\+=)                                           # OP_ADD
  | ([=;\[\],])                                     # the punctuation tokens
  | ('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")       # STRING
)""", re.VERBOSE)
_BLANKS = re.compile(r"[ \t]*\Z")
# Nesting depth of lists past which the exact driver decides (bison's stack holds at most
# YYMAXDEPTH = 10000 entries, about 5 per level of nesting; this path never gets near it).
NEST_LIMIT = 500


class _GiveUp(Exception):
    pass


class _Escapes:
    """The parse context dequote() reports to: any report means the file is not well formed."""

    err = 0
    lineno = 0

    def lexical_error(self, msg: str) -> None:
        raise _GiveUp


_ESCAPES = _Escapes()


def _tokens(text: str):
    """(kinds, values, lines) of every token, or _GiveUp at a character the lexer reports. The
    scanner matches token after token from where the last one ended and stops at the first
    place no rule matches (as re.Scanner does)."""
    kinds: list = []
    values: list = []
    lines: list = []
    line = 1
    end = 0
    for m in iter(_TOKEN.scanner(text).match, None):
        kind = m.lastindex
        value = m.group(kind)
        if kind == _STRING:
            if "\\" in value or "\0" in value:
                if "\0" in value:
                    raise _GiveUp           # the exact driver aborts, as libxlu does
                value = dequote(_ESCAPES, _ESCAPES, value)
            else:
                value = value[1:-1]
        elif kind == _PUNCT:
            kind = value
        kinds.append(kind)
        values.append(value)
        lines.append(line)
        if kind == _NL:
            line += 1
        end = m.end()
    if not _BLANKS.match(text, end):
        raise _GiveUp
    return kinds, values, lines


def parse(text: str, ctx) -> bool:
    """Fill ctx (parser._Context) from a well-formed file; False, with ctx in an undefined
    state, where the exact driver must decide."""
    try:
        kinds, values, lines = _tokens(text)
        _statements(kinds, values, lines, ctx)
    except _GiveUp:
        return False
    return True


def _statements(kinds, values, lines, ctx) -> None:
    n = len(kinds)
    i = 0
    while i < n:
        k = kinds[i]
        if k == _NL or k == ";":                # endstmt
            i += 1
            continue
        if k != _IDENT or i + 2 >= n:
            raise _GiveUp
        name = values[i]
        op = kinds[i + 1]
        if op == "=":
            pass
        elif op == _ADD:
            op = "+="
        else:
            raise _GiveUp
        value, line, i = _value(kinds, values, lines, i + 2, n)
        if i < n and kinds[i] != _NL and kinds[i] != ";":
            raise _GiveUp                       # an assignment ends at NEWLINE, ';' or the end
        if op == "+=":
            prev = ctx.latest.get(name)
            if prev is not None and isinstance(prev[1], list) != isinstance(value, list):
                raise _GiveUp       # "can't add [list] to "string"": the exact driver says it
        ctx.set_store(name, op, value, line)
        if ctx.err:
            raise _GiveUp
        i += 1


def _value(kinds, values, lines, i, n):
    """(value, its line, the index after it) of the value starting at token i: an atom, or a
    list ('[' nlok valuelist ']', valuelist: values, then an optional ',' and newlines)."""
    k = kinds[i]
    if k == _STRING or k == _NUMBER:
        return values[i], lines[i], i + 1
    if k != "[":
        raise _GiveUp
    top: list = []
    line = lines[i]
    stack: list[tuple[list, int]] = []      # the enclosing lists and their lines
    i += 1
    after_value = False     # False: a value or ']' may come next; True: ',' or ']'
    while True:
        while i < n and kinds[i] == _NL:
            i += 1
        if i >= n:
            raise _GiveUp
        k = kinds[i]
        i += 1
        if k == "]":
            if not stack:
                return top, line, i
            done = top
            top, line = stack.pop()
            top.append(done)
            after_value = True
        elif after_value:
            if k != ",":
                raise _GiveUp
            after_value = False
        elif k == _STRING or k == _NUMBER:
            if len(top) >= LIST_ERANGE_AT:
                raise _GiveUp
            top.append(values[i - 1])
            after_value = True
        elif k == "[":
            if len(stack) + 2 > NEST_LIMIT or len(top) >= LIST_ERANGE_AT:   # its depth
                raise _GiveUp
            stack.append((top, line))
            top, line = [], lines[i - 1]
        else:
            raise _GiveUp
