"""Issue 11 item 6: colour on a terminal only. `--color auto` (the default) colours when standard
output is a terminal, NO_COLOR is unset or empty (https://no-color.org: any non-empty value turns
it off) and TERM is not dumb; `always` / `never` decide outright; JSON and piped output never
carry an escape sequence unless `always` is asked for (and JSON not even then). Colour adds
nothing but the escape sequences: removed, the text is byte for byte the uncoloured report.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest
from conftest import FIXTURES, REPO

from xlrmrr.cli import main
from xlrmrr.report.colour import wanted

LAPTOP = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]
STRICT = [str(FIXTURES / "guests/usb-strict-boundary.cfg"), "--dry-run", *LAPTOP]
SGR = re.compile(r"\x1b\[[0-9;]*m")


class Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self):
        return self.tty


class Closed:
    def isatty(self):
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize("when, tty, env, expected", [
    ("auto", True, {}, True),
    ("auto", False, {}, False),                      # piped or redirected
    ("auto", True, {"NO_COLOR": "1"}, False),
    ("auto", True, {"NO_COLOR": "0"}, False),        # any non-empty value, even 0
    ("auto", True, {"NO_COLOR": ""}, True),          # empty: as if unset
    ("auto", True, {"TERM": "dumb"}, False),
    ("auto", True, {"TERM": "xterm-256color"}, True),
    ("always", False, {"NO_COLOR": "1"}, True),      # the explicit option wins
    ("never", True, {}, False),
])
def test_when_to_colour(when, tty, env, expected):
    assert wanted(when, Stream(tty), env) is expected


def test_a_stream_that_cannot_say_is_not_a_terminal():
    assert wanted("auto", Closed(), {}) is False
    assert wanted("auto", object(), {}) is False


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().out


def test_always_colours_the_outcome_and_adds_nothing_else(capsys):
    rc, plain = run(capsys, "create", *STRICT)
    rc2, coloured = run(capsys, "create", *STRICT, "--color", "always")
    assert rc == rc2 == 1
    assert SGR.sub("", coloured) == plain and coloured != plain
    first = coloured.splitlines()[0]
    assert first.startswith(f"{STRICT[0]}: \x1b[31mBLOCKED\x1b[0m: creating this guest would fail")
    assert "  \x1b[31merror\x1b[0m   [libxl] RDM conflict at 0xab80a000." in coloured
    assert "  \x1b[32m[recommended]\x1b[0m rdm_mem_boundary = 2744" in coloured
    # the picture: the strict conflict's cell (column 42) red
    bar = next(line for line in coloured.splitlines() if "1 column = 64 MiB" in line)
    assert bar == "  |" + "#" * 42 + "\x1b[31m!\x1b[0m" + "#" * 17 + "mmmf|  1 column = 64 MiB"


def test_never_and_the_default_in_process_are_plain(capsys):
    # capsys' stdout is not a terminal: auto gives no colour
    for extra in ([], ["--color", "never"], ["--color=auto"]):
        _, out = run(capsys, "create", *STRICT, *extra)
        assert "\x1b" not in out


def test_json_is_never_coloured(capsys):
    rc, out = run(capsys, "create", *STRICT, "--json", "--color", "always")
    assert rc == 1 and "\x1b" not in out and json.loads(out)["verdict"] == "blocked"


def test_fix_diff_coloured_like_git(capsys):
    _, plain = run(capsys, "create", *STRICT, "--fix")
    _, coloured = run(capsys, "create", *STRICT, "--fix", "--color", "always")
    assert SGR.sub("", coloured) == plain
    assert "\x1b[31m-rdm_mem_boundary = 4096\x1b[0m\n\x1b[32m+rdm_mem_boundary = 2744\x1b[0m\n" \
        in coloured


F = FIXTURES
TEXT_COMMANDS = [
    ["cfg", F / "guests/forcecheck.cfg"],
    ["dmar", F / "dmar/bug-rmrr-overlap.bin"],
    ["host", "--dmar", F / "dmar/bug-rmrr-overlap.bin"],
    ["host", "diff", F / "dmar/laptop-typical.bin", F / "dmar/usb-shared.bin"],
    ["create", *STRICT, "--brief"],
    ["check", F / "guests/check", "--dmar", F / "guests/check/host.dmar"],
    ["pci-attach", F / "guests/small.cfg", "00:14.0", "--dmar", F / "dmar/usb-shared.bin", "-n"],
    ["explain", F / "logs/xl-create-rdm-conflict-4.22.log"],
    ["upgrade", "--from", "4.14.5", "--to", "4.15.3", F / "guests/usb-host-relaxed.cfg",
     "--dmar", F / "dmar/laptop-typical.bin"],
]


@pytest.mark.parametrize("argv", TEXT_COMMANDS, ids=lambda a: " ".join(map(str, a[:2])))
def test_every_text_report_takes_color(capsys, argv):
    rc, plain = run(capsys, *argv, "--color", "never")
    rc2, coloured = run(capsys, *argv, "--color", "always")
    assert rc == rc2 and "\x1b" not in plain
    assert SGR.sub("", coloured) == plain


@pytest.mark.parametrize("argv", [["create", "--color", "sometimes", *STRICT],
                                  ["create", *STRICT, "--color", "sometimes"]])
def test_color_value_is_checked(capsys, argv):
    # before GUEST.cfg argparse refuses it; after it, create's second pass over xl's operands
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    assert "argument --color: invalid choice: 'sometimes'" in capsys.readouterr().err


def _on_a_terminal(argv, **env):
    """stdout of `xlrmrr ARGV` run with a pseudo-terminal as its standard output."""
    master, slave = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    environ.update({"PYTHONPATH": str(REPO), "TERM": "xterm", **env})
    proc = subprocess.Popen([sys.executable, "-m", "xlrmrr", *map(str, argv)], stdout=slave,
                            stderr=subprocess.DEVNULL, env=environ)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:         # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait()
    return b"".join(chunks).decode()


def test_a_real_terminal_gets_colour_unless_no_color():
    assert "\x1b[31mBLOCKED\x1b[0m" in _on_a_terminal(["create", *STRICT, "--brief"])
    assert "\x1b" not in _on_a_terminal(["create", *STRICT, "--brief"], NO_COLOR="1")
    assert "\x1b" not in _on_a_terminal(["create", *STRICT, "--brief"], TERM="dumb")
    out = _on_a_terminal(["create", *STRICT, "--json"])
    assert "\x1b" not in out and json.loads(out)["verdict"] == "blocked"


def test_a_pipe_gets_no_colour():
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(PYTHONPATH=str(REPO), TERM="xterm")
    r = subprocess.run([sys.executable, "-m", "xlrmrr", "create", *STRICT, "--brief"],
                       capture_output=True, env=env)
    assert r.returncode == 1 and b"BLOCKED" in r.stdout and b"\x1b" not in r.stdout
