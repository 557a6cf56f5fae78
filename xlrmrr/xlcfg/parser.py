"""The xl config parser: libxlu's bison grammar (tools/libs/util/libxlu_cfg_y.y) with ply.

The productions below are the grammar; ply.yacc computes its LALR(1) automaton at build time
(`python -m xlrmrr.xlcfg.gentables`), and the shipped xlrmrr/xlcfg/parsetab.py holds it in the
form bison's skeleton uses: per state the explicit actions, a default reduction, and the tokens
bison's `%error-verbose` would list. The driver (CfgParser.parse) is bison's yyparse loop, not
ply's LRParser, because the observable behaviour of xl depends on bison's details: default
reductions taken on an erroneous lookahead (the `expecting $end` abort), when a lookahead is read
(which orders lexical and syntax errors), `yyerrstatus` recovery, and YYMAXDEPTH=10000.
"""

from __future__ import annotations

from xlrmrr.xlcfg.lexer import Abort, CfgLexer
from xlrmrr.xlcfg.settings import (
    EINVAL,
    ERANGE,
    INT_MAX,
    LIST_ERANGE_AT,
    PYTHON_WARNING,
    ConfigParse,
    Setting,
)

YYMAXDEPTH = 10000

# Token names as bison prints them, in bison's token-number order (yytname).
TOKEN_NAMES = {"$end": "$end", "IDENT": "IDENT", "STRING": "STRING", "NUMBER": "NUMBER",
               "NEWLINE": "NEWLINE", "OP_ADD": "+=", "=": "'='", ";": "';'", "[": "'['",
               "]": "']'", ",": "','"}
TOKEN_ORDER = tuple(TOKEN_NAMES)
# Productions whose action is only bison's default `$$ = $1` (or whose value is unused).
NO_ACTION = frozenset(("p_file", "p_stmts", "p_stmt", "p_endstmt", "p_nlok", "p_atom",
                       "p_valuelist"))


class _Context:
    """CfgParseContext plus the XLU_Config being filled: error state and the report stream."""

    def __init__(self, source: str):
        self.source = source
        self.err = 0
        self.lexerrlineno = -1
        self.likely_python = False
        self.report: list[str] = []
        self.records: list[list] = []       # [name, value, op, line], file order
        self.latest: dict[str, list] = {}   # find(): the newest record of each name
        self.lexer: CfgLexer | None = None

    def yyerror(self, lineno: int, text: str, msg: str) -> None:
        """xlu__cfg_yyerror: format, line-number and suppression rules included."""
        if lineno <= self.lexerrlineno:
            return
        newline = ""
        if text.endswith("\n"):
            text = text[:-1]
            lineno -= 1
            if not text:
                newline = "<newline>"
        text = text.rstrip(" \t")
        shown = _to_str(text.split("\0", 1)[0])    # printf %.*s stops at a NUL
        quoted = f"`{shown}'" if text else ""
        self.report.append(f"{self.source}:{lineno}: config parsing error near "
                           f"{quoted}{newline}: {msg}\n")
        if not self.err:
            self.err = EINVAL

    def lexical_error(self, msg: str) -> None:
        lx = self.lexer
        self.yyerror(lx.lineno, lx.text, msg)
        self.lexerrlineno = lx.lineno

    def set_store(self, name: str, op: str, value, line: int) -> None:
        """xlu__cfg_set_store, with `+=` concatenation (xlu__cfg_concat_vals)."""
        if self.err:
            return
        if op == "+=":
            prev = self.latest.get(name)
            if prev is not None:
                old = prev[1]
                if isinstance(old, list) != isinstance(value, list):
                    self.lexical_error("can't add [list] to \"string\" or vice versa")
                    self.err = EINVAL
                    return
                if isinstance(value, list):
                    if len(old) > INT_MAX - len(value):
                        self.err = ERANGE
                        return
                    value = old + value
                    prev[1] = []                 # the old items are moved, not copied
                else:
                    value = old + value
        rec = [name, value, op, line]
        self.records.append(rec)
        self.latest[name] = rec


class CfgParser:
    """libxlu's grammar as ply productions; parse() runs them with bison's semantics."""

    tokens = CfgLexer.tokens
    start = "file"

    def __init__(self, tables=None, fast: bool = True):
        # fast: try xlrmrr.xlcfg.fastpath first, the exact driver only where it gives up
        self.fast = fast
        if tables is None:
            from xlrmrr.xlcfg import parsetab as tables
        self.t = tables
        self.ctx: _Context | None = None
        self._lexer: CfgLexer | None = None
        self._lines: list[int] = []
        self._actions = [getattr(self, name) if name and name not in NO_ACTION else None
                         for name in tables.RULE_FUNCS]
        # Per state: every token's action with the default reduction filled in (bison's
        # yydefact), and the rule a state reduces without reading a lookahead (yypact default).
        self._full = []
        for state, explicit in enumerate(tables.ACTION):
            d = tables.DEFAULT[state]
            acts = {tok: -d for tok in TOKEN_ORDER} if d else {}
            acts.update((tok, a) for tok, a in explicit.items() if tok != "error")
            self._full.append(acts)
        self._defaulted = [-tables.DEFAULT[s] if tables.DEFAULTED[s] else 0
                           for s in range(len(tables.ACTION))]

    # --- productions (docstrings are the grammar; bodies are the semantic actions) ---

    def p_file(self, p):
        """file : stmts
                | stmts assignment"""

    def p_stmts(self, p):
        """stmts :
                 | stmts stmt"""

    def p_stmt(self, p):
        """stmt : assignment endstmt
                | endstmt
                | error NEWLINE"""

    def p_assignment(self, p):
        """assignment : IDENT '=' value"""
        self.ctx.set_store(p[1], "=", p[3], self._lines[-1])

    def p_assignment_add(self, p):
        """assignment : IDENT OP_ADD value"""
        self.ctx.set_store(p[1], "+=", p[3], self._lines[-1])

    def p_endstmt(self, p):
        """endstmt : NEWLINE
                   | ';'"""

    def p_value_atom(self, p):
        """value : atom"""
        p[0] = None if self.ctx.err else p[1]

    def p_value_list(self, p):
        """value : '[' nlok valuelist ']'"""
        p[0] = p[3]

    def p_atom(self, p):
        """atom : STRING
                | NUMBER"""
        p[0] = p[1]

    def p_valuelist_empty(self, p):
        """valuelist :"""
        p[0] = None if self.ctx.err else []

    def p_valuelist(self, p):
        """valuelist : values
                     | values ',' nlok"""
        p[0] = p[1]

    def p_values_first(self, p):
        """values : value nlok"""
        p[0] = None if self.ctx.err else [p[1]]

    def p_values_append(self, p):
        """values : values ',' nlok value nlok"""
        ctx = self.ctx
        if not ctx.err:
            if len(p[1]) == LIST_ERANGE_AT:
                ctx.err = ERANGE
            else:
                p[1].append(p[4])
        p[0] = p[1]

    def p_nlok(self, p):
        """nlok :
                | nlok NEWLINE"""

    def p_error(self, p):       # pragma: no cover - errors are handled by parse()
        pass

    # --- bison's yyparse ---

    def parse(self, data: bytes, source: str) -> ConfigParse:
        """Parse one file: a well-formed one by the fast path (xlrmrr.xlcfg.fastpath), any
        other, or one it gives up on, by bison's driver. The lexer is built once per parser
        (when the driver first runs) and reset for each file."""
        if self.fast:
            from xlrmrr.xlcfg import fastpath

            ctx = self.ctx = _Context(source)
            if fastpath.parse(data.decode("latin-1"), ctx):
                return _result(ctx, "")
        ctx = self.ctx = _Context(source)
        if self._lexer is None:
            self._lexer = CfgLexer(ctx)
            self._lexer.build()
        lexer = self._lexer
        lexer.reset(ctx)
        ctx.lexer = lexer
        lexer.input(data.decode("latin-1"))
        aborted = ""
        try:
            self._run(lexer)
        except Abort as e:
            aborted = str(e)
        finally:
            lexer.reset(None)
        return _result(ctx, aborted)

    def _run(self, lexer: CfgLexer) -> None:
        t = self.t
        full, defaulted, goto = self._full, self._defaulted, t.GOTO
        rule_lhs, rule_len, actions, accept = t.RULE_LHS, t.RULE_LEN, self._actions, t.ACCEPT
        ctx = self.ctx
        states = [0]
        vals: list = [None]
        lines = self._lines = [1]
        la = None               # lookahead token (ply LexToken); None at end of input
        la_type = None          # its type, "$end" at end of input; None: not read yet
        errstatus = 0
        token = lexer.lexer.token           # ply's token(); at_eof() when it returns None
        while True:
            state = states[-1]
            act = defaulted[state]
            if not act:
                if la_type is None:
                    la = token()
                    if la is None:
                        lexer.at_eof()
                        la_type = "$end"
                    else:
                        la_type = la.type
                act = full[state].get(la_type)
                if act is None:
                    # yyerrlab
                    if not errstatus:
                        ctx.yyerror(lexer.tokline, lexer.text, self._message(state, la_type))
                    if errstatus == 3:
                        if la_type == "$end":
                            return
                        la_type = None
                    errstatus = 3
                    while True:
                        shift = t.ACTION[states[-1]].get("error")
                        if shift is not None and shift > 0:
                            break
                        if len(states) == 1:
                            return
                        states.pop()
                        vals.pop()
                        lines.pop()
                    states.append(shift)
                    vals.append(None)
                    lines.append(lexer.tokline)
                    if len(states) >= YYMAXDEPTH:
                        return self._exhausted(lexer)
                    continue
                if act > 0:
                    if act == accept:
                        return
                    if errstatus:
                        errstatus -= 1
                    states.append(act)
                    if la is None:
                        vals.append(None)
                        lines.append(lexer.tokline)
                    else:
                        vals.append(la.value)
                        lines.append(la.lineno)
                    la_type = None
                    if len(states) >= YYMAXDEPTH:
                        return self._exhausted(lexer)
                    continue
            rule = -act
            n = rule_len[rule]
            fn = actions[rule]
            if fn is None:                       # no action: bison's default $$ = $1
                if n:
                    v, line = vals[-n], lines[-n]
                    del states[-n:], vals[-n:], lines[-n:]
                else:
                    v, line = None, lines[-1]
            else:
                if n:
                    p = vals[-n - 1:]
                    p[0] = p[1]
                    line = lines[-n]
                else:
                    p = [None]
                    line = lines[-1]
                fn(p)
                v = p[0]
                if n:
                    del states[-n:], vals[-n:], lines[-n:]
            states.append(goto[states[-1]][rule_lhs[rule]])
            vals.append(v)
            lines.append(line)
            if not n and len(states) >= YYMAXDEPTH:
                return self._exhausted(lexer)

    def _exhausted(self, lexer: CfgLexer) -> None:
        """YYMAXDEPTH reached: bison reports "memory exhausted" and gives up."""
        ctx = self.ctx
        ctx.yyerror(lexer.tokline, lexer.text, "memory exhausted")
        if not ctx.err:
            raise Abort("bison's stack overflowed and the error message was suppressed")

    def _message(self, state: int, la_type: str) -> str:
        expected = self.t.EXPECTED[state]
        unexpected = TOKEN_NAMES[la_type]
        if not expected or len(expected) > 4:
            return f"syntax error, unexpected {unexpected}"
        return (f"syntax error, unexpected {unexpected}, expecting "
                + " or ".join(TOKEN_NAMES[x] for x in expected))


def _to_str(v):
    """Latin-1 text (one char per byte) to the str the file's bytes mean (UTF-8, else escaped)."""
    return v.encode("latin-1").decode("utf-8", "surrogateescape")


def _convert(v):
    """Convert a stored value's strings, iteratively (lists may nest thousands deep)."""
    if isinstance(v, str):
        return _to_str(v) if not v.isascii() else v
    root = list(v)
    stack = [root]
    while stack:
        lst = stack.pop()
        for i, x in enumerate(lst):
            if isinstance(x, str):
                if not x.isascii():
                    lst[i] = _to_str(x)
            else:
                lst[i] = y = list(x)
                stack.append(y)
    return root


def _result(ctx: _Context, aborted: str) -> ConfigParse:
    history = []
    view: dict = {}
    for name, value, op, line in ctx.records:
        s = Setting("list" if isinstance(value, list) else "string", _convert(value), line, op)
        history.append((name, s))
        view[name] = s
    # A shadowed list that a later += moved from is empty (the record was mutated in place).
    report = "".join(ctx.report)
    ok = not ctx.err and not aborted
    if ctx.err and ctx.likely_python and not aborted:
        report += PYTHON_WARNING
    return ConfigParse(source=ctx.source, ok=ok, rc=0 if aborted else ctx.err,
                       settings=view if ok else {}, partial_settings={} if ok else view,
                       history=tuple(history), diagnostics=report,
                       likely_python=ctx.likely_python, aborted=bool(aborted),
                       abort_reason=aborted)
