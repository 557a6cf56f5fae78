"""README.md's examples are real output: every `$ xlrmrr ...` example that runs on the shipped
fixtures alone is run here and its output compared with what README.md shows (a `...` line
stands for lines left out). Examples that need a fake `xl` or a made-up /sys tree are tested
where that is set up (test_xl_wrapper, test_check_auto)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO

from xlrmrr.cli import main

# Examples that are not self-contained: run by other tests with their setup (the --fix --write
# walk-through writes a file: test_readme_walkthrough runs it in a copy of fixtures/).
ELSEWHERE = ("xlrmrr create -q ", "xlrmrr check --auto ",
             "xlrmrr create guests/usb-strict-boundary.cfg --dry-run --fix --write ",
             "xlrmrr create guests/usb-strict-boundary.cfg.new ")


def examples() -> list[tuple[int, list[str], list[str]]]:
    """(README line, argv, shown output lines) of each `    $ xlrmrr ...` example."""
    lines = (REPO / "README.md").read_text().splitlines()
    found = []
    for i, line in enumerate(lines):
        if not line.startswith("    $ xlrmrr ") or line.endswith("\\"):
            continue
        command = line[len("    $ "):]
        if command.startswith(ELSEWHERE):
            continue
        out = []
        for following in lines[i + 1:]:
            if following.startswith("    $ ") or (following and not following.startswith("    ")):
                break
            out.append(following[4:])
        while out and not out[-1]:
            out.pop()
        found.append((i + 1, shlex.split(command)[1:], out))
    return found


def _matches(shown: list[str], printed: list[str]) -> bool:
    """Whether the printed lines are the shown ones, where a shown `...` stands for any lines."""
    pos = 0
    gap = False
    for line in shown:
        if line.strip() == "...":
            gap = True
            continue
        if gap:
            while pos < len(printed) and printed[pos] != line:
                pos += 1
        if pos >= len(printed) or printed[pos] != line:
            return False
        pos += 1
        gap = False
    return gap or pos == len(printed)


def test_readme_has_the_examples_this_file_runs():
    commands = [" ".join(argv[:2]) for _line, argv, _out in examples()]
    assert commands.count("create guests/usb-strict-boundary.cfg") == 2    # --brief, --fix
    for word in ("explain", "upgrade", "host diff", "cfg", "create"):
        assert any(c.startswith(word) for c in commands), word


@pytest.mark.parametrize("line, argv, shown", examples(),
                         ids=lambda v: str(v) if isinstance(v, int) else None)
def test_readme_example_is_real_output(capsys, monkeypatch, line, argv, shown):
    base = FIXTURES if any("/" in a and Path(FIXTURES, a).exists() for a in argv) else REPO
    monkeypatch.chdir(base)
    main(argv)
    printed = capsys.readouterr().out.splitlines()
    assert _matches(shown, printed), f"README.md:{line}: the shown output is not what it prints:\n" + \
        "\n".join(printed)


def test_the_ellipsis_matcher_is_strict():
    assert _matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert not _matches(["a", "...", "d"], ["a", "b", "c"])
    assert not _matches(["a", "b"], ["a", "b", "c"])
    assert not _matches(["a", "c"], ["a", "b", "c"])
