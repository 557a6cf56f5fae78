"""A remedy's config lines (remedies.Edit) written into the user's xl config text, changing as
little as possible, and the unified diff of the result. Pure: bytes in, bytes out.

Only files xl parses are edited (the caller checks). The statements are found with the tokens of
libxlu's scanner (tools/libs/util/libxlu_cfg_l.l; xlcfg.lexer): comments, strings, numbers,
identifiers and `= += ; [ ] ,`; an assignment is IDENT, `=` or `+=`, and one value, a list
running over lines to its closing `]`. Setting a key rewrites the value of its last `=`
assignment in place (text before and after it, comments included, untouched) and removes the
`+=` appends after it, so that the value is the one written (libxlu: the last assignment wins,
`+=` appends to it); a key the file does not set is appended as a new last line, or, where the
same change removes a key (a rename: `memroy` to `memory`), written in place of the removed key's
last assignment. Removing a key removes every assignment of it, with its line when nothing else
is on it.
"""

from __future__ import annotations

import re

from xlrmrr.records import record

_TOKEN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<newline>\n)
  | (?P<blank>[ \t]+)
  | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<ident>[a-z][._0-9a-z]*)
  | (?P<number>[0-9][0-9a-fx]*)
  | (?P<op>\+=|[=;\[\],])
""", re.X)


class Unscannable(ValueError):
    """The text holds something libxlu's scanner would reject (the file does not parse)."""


@record(eq=False)
class Statement:
    """One assignment: `key op value`, [start, end) the text from the key to the value's end,
    value_start where the value begins."""

    key: str
    op: str
    start: int
    value_start: int
    end: int


def _tokens(text: str):
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise Unscannable(f"byte {pos}: {text[pos]!r} is not an xl config token")
        kind = m.lastgroup
        if kind not in ("blank", "comment"):
            yield kind, m.group(), m.start(), m.end()
        pos = m.end()


def statements(text: str) -> list[Statement]:
    """The assignments of a config text, in file order."""
    out = []
    toks = list(_tokens(text))
    i = 0
    while i < len(toks):
        kind, value, start, _end = toks[i]
        if (kind == "ident" and i + 2 < len(toks) and toks[i + 1][0] == "op"
                and toks[i + 1][1] in ("=", "+=")):
            op = toks[i + 1][1]
            j = i + 2
            value_start = toks[j][2]
            if toks[j][1] == "[":
                depth = 0
                while j < len(toks):
                    if toks[j][1] == "[":
                        depth += 1
                    elif toks[j][1] == "]":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                if j == len(toks):
                    raise Unscannable(f"byte {value_start}: the list of {value} never closes")
            out.append(Statement(value, op, start, value_start, toks[j][3]))
            i = j + 1
        else:
            i += 1
    return out


def _line_span(text: str, s: Statement) -> tuple[int, int]:
    """The text to cut to remove s: its whole line(s) when nothing but blanks, `;` or a comment
    shares them, else the statement and a `;` right after it."""
    line_start = text.rfind("\n", 0, s.start) + 1
    nl = text.find("\n", s.end)
    line_end = len(text) if nl < 0 else nl + 1
    before = text[line_start:s.start]
    after = text[s.end:line_end]
    if not before.strip(" \t") and re.fullmatch(r"[ \t;]*(#[^\n]*)?\n?", after):
        return line_start, line_end
    m = re.match(r"[ \t]*;?[ \t]*", after)
    return s.start, s.end + (m.end() if m else 0)


def apply(text: str, edits) -> str:
    """text with every edit made (remedies.Edit), as the module docstring says."""
    stmts = statements(text)
    cuts: list[tuple[int, int, str]] = []       # (start, end, replacement)
    appended: list[str] = []
    # A rename (a key removed and one the file does not set written, in one change): the new
    # key takes the place of the removed key's last assignment instead of a new last line.
    slots = [mine[-1] for k in dict.fromkeys(e.key for e in edits if e.value is None)
             for mine in [[s for s in stmts if s.key == k]] if mine]
    placed: dict[int, str] = {}                 # slot statement start -> its new text
    for e in edits:
        mine = [s for s in stmts if s.key == e.key]
        if e.value is None:
            continue                            # below, once the renames took their slots
        if not mine:
            if not e.if_set:
                if slots:
                    placed[slots.pop(0).start] = f"{e.key} = {e.value}"
                else:
                    appended.append(f"{e.key} = {e.value}\n")
            continue
        sets = [i for i, s in enumerate(mine) if s.op == "="]
        first = sets[-1] if sets else 0
        head = mine[first]
        if head.op == "=":
            cuts.append((head.value_start, head.end, e.value))
        else:       # only appends: the first becomes the assignment
            cuts.append((head.start, head.end, f"{e.key} = {e.value}"))
        cuts.extend((*_line_span(text, s), "") for s in mine[first + 1:])
    for e in edits:
        if e.value is None:
            for s in (s for s in stmts if s.key == e.key):
                cuts.append((s.start, s.end, placed[s.start]) if s.start in placed
                            else (*_line_span(text, s), ""))
    out = text
    for start, end, new in sorted(cuts, key=lambda c: c[0], reverse=True):
        out = out[:start] + new + out[end:]
    if appended:
        if out and not out.endswith("\n"):
            out += "\n"
        out += "".join(appended)
    return out


def assigned_value(text: str, key: str) -> str | None:
    """The value text of the last `key = VALUE` in the file, as written (a list with its line
    breaks), or None when the file does not assign the key or appends to it with += (then no
    one value is what xl reads); None too for text libxlu's scanner would reject."""
    try:
        mine = [s for s in statements(text) if s.key == key]
    except Unscannable:
        return None
    if not mine or any(s.op != "=" for s in mine):
        return None
    return text[mine[-1].value_start:mine[-1].end]


def apply_bytes(data: bytes, edits) -> bytes:
    """apply() on the file's bytes, one character per byte as xl's scanner reads them."""
    return apply(data.decode("latin-1"), edits).encode("latin-1")


def unified_diff(old: bytes, new: bytes, name: str) -> str:
    """`--- NAME` / `+++ NAME.new` unified diff of the two texts (difflib, 3 lines of context),
    as patch(1) and `git apply` take it; "" when they are equal."""
    import difflib

    a = old.decode("latin-1").splitlines(keepends=True)
    b = new.decode("latin-1").splitlines(keepends=True)
    lines = []
    for line in difflib.unified_diff(a, b, name, name + ".new"):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        lines.append(line)
    return "".join(lines).encode("latin-1").decode("utf-8", "replace")
