"""The xl config lexer: libxlu's flex scanner (tools/libs/util/libxlu_cfg_l.l) as a ply lexer.

The rules are ordered so that Python's first-match alternation picks what flex's longest match
picks. Input is bytes decoded as latin-1 (one char per byte), so the scanner is 8-bit clean like
flex's `%option 8bit`. After an error character the `lexerr` state swallows the rest of the
non-blank run (flex's `yymore`), reports `lexical error` and scanning resumes, as in xl.
"""

from __future__ import annotations

from xlrmrr.xlcfg.settings import EINVAL


class Abort(Exception):
    """libxlu would abort() here (an assert in its string dequote)."""


class CfgLexer:
    """Tokens for CfgParser. Calls back into the parse context for errors, like flex's actions."""

    tokens = ("IDENT", "STRING", "NUMBER", "NEWLINE", "OP_ADD")
    literals = ("=", ";", "[", "]", ",")
    states = (("lexerr", "exclusive"),)

    t_ignore = " \t"
    t_lexerr_ignore = ""

    def __init__(self, ctx):
        self.ctx = ctx
        self.lineno = 1          # flex's yylineno
        self.text = ""           # flex's yytext: the text of the last match
        self.tokline = 1         # yylloc.first_line of the last token returned
        self.pending = ""        # the error character waiting for yymore()
        self.lexer = None

    def build(self, **kwargs):
        # ply is imported here, when the exact driver first runs: a well-formed file is read by
        # xlrmrr.xlcfg.fastpath, which needs neither ply nor its tables
        from ply import lex

        from xlrmrr.xlcfg import lextab
        if lextab._tabversion != lex.__tabversion__:
            raise RuntimeError("the lexer table xlrmrr.xlcfg.lextab was made by another ply; "
                               "regenerate it: python -m xlrmrr.xlcfg.gentables")
        self.lexer = lex.lex(object=self, optimize=True, lextab=lextab, **kwargs)

    def reset(self, ctx) -> None:
        """Start over for another file (the compiled ply lexer is kept)."""
        self.ctx = ctx
        self.lineno = 1
        self.text = ""
        self.tokline = 1
        self.pending = ""
        if self.lexer is not None:
            self.lexer.begin("INITIAL")

    def input(self, text: str) -> None:
        self.lexer.input(text)

    def token(self):
        tok = self.lexer.token()
        if tok is None:
            self.at_eof()
        return tok

    def at_eof(self) -> None:
        """flex's yytext at end of buffer: a NUL, after any yymore() text still pending."""
        pending = self.pending if self.lexer.lexstate == "lexerr" else ""
        self.text = pending + "\0"

    # --- INITIAL state (order matters: first match must equal flex's longest match) ---

    def t_COMMENT(self, t):
        r"\#[^\n]*\n"
        t.type = "NEWLINE"
        return self._newline(t)

    def t_NEWLINE(self, t):
        r"\n"
        return self._newline(t)

    def _newline(self, t):
        self.text = t.value
        self.tokline = self.lineno
        self.lineno += 1
        t.lineno = self.tokline
        return t

    def t_IDENT(self, t):
        r"[a-z][._0-9a-z]*"
        return self._got(t)

    def t_NUMBER(self, t):
        r"[0-9][0-9a-fx]*"
        return self._got(t)

    def t_OP_ADD(self, t):
        r"\+="
        return self._got(t)

    def t_PUNCT(self, t):
        r"[=;\[\],]"
        t.type = t.value
        return self._got(t)

    def t_STRING(self, t):
        r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\""
        self.text = t.value
        t.value = dequote(self.ctx, self, t.value)
        t.lineno = self.tokline = self.lineno
        return t

    def t_PYTHON(self, t):
        r"[+\-.():]"
        self.ctx.likely_python = True
        return self._lexerr(t)

    def t_ANY(self, t):
        r"."
        return self._lexerr(t)

    def _got(self, t):
        self.text = t.value
        t.lineno = self.tokline = self.lineno
        return t

    def _lexerr(self, t):
        self.pending = t.value
        t.lexer.begin("lexerr")

    def t_error(self, t):       # pragma: no cover - t_ANY matches every char but newline
        raise AssertionError("unreachable")

    # --- lexerr state: swallow the rest of the word, report, resume ---

    def t_lexerr_NEWLINE(self, t):
        r"\n"
        self.text = self.pending + t.value
        self.lineno += 1
        self.ctx.lexical_error("lexical error")
        t.lexer.begin("INITIAL")
        t.lineno = self.tokline = self.lineno
        return t

    def t_lexerr_WORD(self, t):
        r"[^ \t\n]+|[ \t]"
        self.text = self.pending + t.value
        self.ctx.lexical_error("lexical error")
        t.lexer.begin("INITIAL")

    def t_lexerr_error(self, t):  # pragma: no cover - the two rules cover every char
        raise AssertionError("unreachable")


def _strtoul10_len(buf: str) -> int:
    """How many chars of buf C's strtoul(buf, &ep, 10) consumes (0 if no digits)."""
    i, n = 0, len(buf)
    while i < n and buf[i] in " \t\n\v\f\r":
        i += 1
    if i < n and buf[i] in "+-":
        i += 1
    j = i
    while j < n and "0" <= buf[j] <= "9":
        j += 1
    return j if j > i else 0


_SIMPLE = {'"': '"', "'": "'", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "n": "\n",
           "r": "\r", "t": "\t", "v": "\v"}


def dequote(ctx, lexer, src: str) -> str | None:
    """xlu__cfgl_dequote: strip the quotes and apply libxlu's escape rules, quirks included."""
    if ctx.err:
        return None
    if "\0" in src:
        raise Abort(f"a NUL byte inside the quoted string on line {lexer.lineno}")
    if "\\" not in src:
        return src[1:-1]
    out = []
    p, end = 1, len(src) - 1
    while p < end:
        c = src[p]
        p += 1
        if c != "\\":
            out.append(c)
            continue
        nc = src[p]
        p += 1
        if nc in _SIMPLE:
            out.append(_SIMPLE[nc])
        elif nc == "x":
            # NUMERIC_CHAR(2,2,16): ep can never pass numbuf+2, so every \x fails.
            ctx.lexical_error("invalid digit after backslash hexnumerical character escape "
                              "in quoted string")
            ctx.err = EINVAL
            return "".join(out)
        elif "0" <= nc <= "7":
            used = _strtoul10_len(src[p:p + 3])
            if used <= 1:
                ctx.lexical_error("invalid digit after backslash octalnumerical character "
                                  "escape in quoted string")
                ctx.err = EINVAL
                return "".join(out)
            p += used
        else:
            ctx.lexical_error("invalid character after backlash in quoted string")
            ctx.err = EINVAL
            return "".join(out)
    return "".join(out)
