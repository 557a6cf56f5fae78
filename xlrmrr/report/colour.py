"""Colour for the text reports, on a terminal only.

--color WHEN (every command but libvirt-hook): `auto`, the default, colours only when standard
output is a terminal, the NO_COLOR environment variable is unset or empty (https://no-color.org:
any non-empty value turns colour off) and TERM is not `dumb`; `always` and `never` decide
outright (an explicit option wins over NO_COLOR, as no-color.org asks). JSON is never coloured.

Colour is added to a report's finished text, line by line: the outcome words (OK green, BLOCKED
and FAILS red, DEGRADED and UNKNOWN yellow), the severity of each finding (error red, warning
yellow), the recommended fix (green), the picture's RDM cells (R green, ! red) and, for
`create --fix`, the diff's removed and added lines. The text is escaped before (report.escape),
so every escape sequence in the output is one added here.
"""

from __future__ import annotations

import os
import re

WHEN = ("auto", "always", "never")

RED, GREEN, YELLOW, CYAN, BOLD, RESET = ("\033[31m", "\033[32m", "\033[33m", "\033[36m",
                                         "\033[1m", "\033[0m")

OUTCOME = {"OK": GREEN, "BLOCKED": RED, "DEGRADED": YELLOW, "UNKNOWN": YELLOW, "FAILS": RED,
           "STOPS STARTING": RED, "NOT honoured": YELLOW, "CONFLICT": RED}
SEVERITY = {"error": RED, "warning": YELLOW}

_OUTCOME = re.compile(r"(?<![\w-])(OK|BLOCKED|DEGRADED|UNKNOWN|FAILS|STOPS STARTING|NOT honoured"
                      r"|CONFLICT)(?![\w-])")
# a finding: "  error   [libxl] ...", "  label: warning [xen] ...", "  warning: ..."
_SEVERITY = re.compile(r"^(\s+(?:\S.*?: )?)(error|warning)(?=\s+\[|: )")
_BAR = re.compile(r"^(  \|)(.*)(\|  1 column = .*)$")


def wanted(when: str = "auto", stream=None, environ=None) -> bool:
    """Whether to colour text written to `stream` (default sys.stdout)."""
    if when == "always":
        return True
    if when == "never":
        return False
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    if stream is None:
        import sys

        stream = sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def enabled(args) -> bool:
    """--color as the command's arguments give it; never for --json."""
    return not getattr(args, "json", False) and wanted(getattr(args, "color", None) or "auto")


def _paint(colour: str, text: str) -> str:
    return f"{colour}{text}{RESET}"


def _bar(cells: str) -> str:
    return re.sub(r"R+|!+", lambda m: _paint(GREEN if m.group()[0] == "R" else RED, m.group()),
                  cells)


def paint_line(line: str) -> str:
    m = _BAR.match(line)
    if m:
        return m.group(1) + _bar(m.group(2)) + m.group(3)
    line = _SEVERITY.sub(lambda m: m.group(1) + _paint(SEVERITY[m.group(2)], m.group(2)), line,
                         count=1)
    line = line.replace("[recommended]", _paint(GREEN, "[recommended]"))
    return _OUTCOME.sub(lambda m: _paint(OUTCOME[m.group(1)], m.group(1)), line)


def paint(text: str, args) -> str:
    """A text report, coloured if the arguments and the terminal want it."""
    if not text or not enabled(args):
        return text
    return "\n".join(map(paint_line, text.split("\n")))


def paint_diff(text: str, args) -> str:
    """create --fix: the `#` lines as reports are, the diff as git colours one."""
    if not text or not enabled(args):
        return text
    out = []
    for line in text.split("\n"):
        if line.startswith("#"):
            out.append(paint_line(line))
        elif line.startswith(("---", "+++")):
            out.append(_paint(BOLD, line))
        elif line.startswith("@@"):
            out.append(_paint(CYAN, line))
        elif line.startswith("-"):
            out.append(_paint(RED, line))
        elif line.startswith("+"):
            out.append(_paint(GREEN, line))
        else:
            out.append(line)
    return "\n".join(out)
