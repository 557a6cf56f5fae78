"""The generated man page and bash completion cover the whole CLI as argparse defines it.

Both are built from the parsers, so these tests check the generators against the parsers
themselves (every command, option, positional), run the completion in a real bash, format the
page with groff and check what argparse does not hold: documented environment variables, files
the package installs, examples that parse.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, need

from xlrmrr._build import completion, manpage
from xlrmrr.cli import COMMANDS, build_parser


def _walk(parser, path=()):
    """(path, parser) for the top-level parser and every command and subcommand below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, path + (name,))


PARSERS = list(_walk(build_parser(COMMANDS)))
COMMAND_PATHS = [path for path, _ in PARSERS if path]


def _options(parser):
    return [a for a in parser._actions
            if a.option_strings and a.help != argparse.SUPPRESS]


def _positionals(parser):
    return [a for a in parser._actions if not a.option_strings
            and not isinstance(a, argparse._SubParsersAction) and a.help != argparse.SUPPRESS]


@pytest.fixture(scope="module")
def page() -> str:
    return manpage.render()


def _section(page: str, name: str) -> str:
    m = re.search(rf"^\.SH {name}\n(.*?)(?=^\.SH |\Z)", page, re.S | re.M)
    assert m, f"no {name} section"
    return m.group(1)


def _command_text(page: str, path) -> str:
    head = manpage.esc(" ".join(("xlrmrr",) + path))
    m = re.search(rf"^\.SS {re.escape(head)}\n(.*?)(?=^\.SS |^\.SH |\Z)", page, re.S | re.M)
    assert m, f"no subsection for xlrmrr {' '.join(path)}"
    return m.group(1)


def test_the_cli_has_the_commands_this_test_walks():
    assert {p[0] for p in COMMAND_PATHS} == set(COMMANDS)
    assert ("create",) in COMMAND_PATHS


@pytest.mark.parametrize("path, parser", [(p, q) for p, q in PARSERS if p],
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_option_and_positional_is_in_its_command_section(page, path, parser):
    text = _command_text(page, path)
    for action in _options(parser):
        for flag in action.option_strings:
            assert f"\\fB{manpage.esc(flag)}\\fR" in text, f"{flag} of {path}"
        if action.help:
            first = action.help.split("%(")[0].split()[:4]
            assert manpage.esc(" ".join(first)) in " ".join(text.split()), (action.dest, path)
    for action in _positionals(parser):
        name = action.metavar or action.dest
        if isinstance(name, str) and not action.choices:
            assert f"\\fI{manpage.esc(name)}\\fR" in text, f"positional {name} of {path}"
        for choice in action.choices or ():
            assert manpage.esc(str(choice)) in text


def test_every_command_is_in_the_synopsis(page):
    synopsis = _section(page, "SYNOPSIS")
    for name in COMMANDS:
        assert f"\\fBxlrmrr {manpage.esc(name)}\\fR" in synopsis


def test_exit_statuses_are_documented(page):
    text = _section(page, "EXIT STATUS")
    for status in ("0", "1", "2", "3"):
        assert f".TP\n\\fB{status}\\fR\n" in text
    # each command's own statuses (its epilog) are in its section
    for name in ("cfg", "create", "check"):
        assert "exit status" in _command_text(page, (name,))


ENV_READ = re.compile(r"""(?:environ(?:\.get)?\s*[\[(]\s*|getenv\(\s*)["']([A-Z_][A-Z0-9_]*)["']""")


def test_every_environment_variable_the_code_reads_is_documented(page):
    read = set()
    for path in (REPO / "xlrmrr").rglob("*.py"):
        if "_build" in path.parts:
            continue
        read |= set(ENV_READ.findall(path.read_text(encoding="utf-8")))
    assert "COLUMNS" in read            # the scan finds what it is meant to find
    documented = set(re.findall(r"^\\fB([A-Z_][A-Z0-9_]*)\\fR$",
                                _section(page, "ENVIRONMENT"), re.M))
    assert read <= documented, f"undocumented: {sorted(read - documented)}"


def test_every_file_the_debian_package_installs_is_in_files(page):
    files = _section(page, "FILES")
    install = (REPO / "debian" / "xlrmrr.install").read_text().splitlines()
    for line in install:
        src, dest = line.split()
        if "completions" in dest:
            continue
        name = src.rsplit("/", 1)[-1]
        assert manpage.esc(f"/{dest}/{name}") in files, (src, dest)


def test_the_enable_command_names_the_shipped_dropin(page):
    assert manpage.esc(manpage.ENABLE_XENDOMAINS) in _section(page, "EXAMPLES")
    assert (REPO / "contrib" / "xendomains" / "xlrmrr.conf").is_file()


def test_the_dropin_policy_in_files_is_the_shipped_one(page):
    """The drop-in runs the check as `ExecStartPre=-...`: systemd ignores its exit status, so the
    page must say warn (every guest still starts), never that a failing guest stops the service."""
    dropin = (REPO / "contrib" / "xendomains" / "xlrmrr.conf").read_text()
    assert "ExecStartPre=-/usr/bin/xlrmrr check --auto" in dropin
    files = " ".join(_section(page, "FILES").split())
    assert "policy warn: xendomains still starts every guest" in files
    assert "stops the service" not in files


def test_every_example_parses_and_every_command_has_one(page):
    parser = build_parser(COMMANDS)
    shown = manpage.examples(manpage.program())
    for _path, argv, _what in shown:
        args = parser.parse_args(argv)
        assert args.command == argv[0]
    assert {e[0][0] for e in shown} >= {"create", "cfg", "dmar", "host", "check"}


def test_groff_formats_the_page_without_warnings(page, tmp_path):
    groff = shutil.which("groff")
    need(groff is not None, "groff (groff-base) is not installed")
    r = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z"], input=page, text=True,
                       capture_output=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.fixture(scope="module")
def bash_completion(tmp_path_factory) -> str:
    bash = shutil.which("bash")
    need(bash is not None, "bash is not installed")
    path = tmp_path_factory.mktemp("completion") / "xlrmrr"
    path.write_text(completion.render())
    return str(path)


def _complete(script: str, words: list, cwd=None) -> list:
    """COMPREPLY of the generated completion for `words` (the last one being completed)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    code = (f"source {script}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _xlrmrr; "
            "printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", code], capture_output=True,
                       text=True, cwd=cwd)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return [w for w in r.stdout.split("\n") if w]


def test_completion_offers_every_command(bash_completion):
    assert sorted(_complete(bash_completion, ["xlrmrr", ""])) == sorted(COMMANDS)
    assert _complete(bash_completion, ["xlrmrr", "pci"]) == ["pci-attach"]


@pytest.mark.parametrize("path, parser", PARSERS,
                         ids=lambda v: " ".join(v) or "xlrmrr" if isinstance(v, tuple) else "")
def test_completion_offers_every_option_of_each_command(bash_completion, path, parser):
    words = ["xlrmrr", *path, "-"]
    if path and path[0] == "create":
        words = ["xlrmrr", *path, "--dry-run", "-"]    # an option before the cursor is skipped
    offered = set(_complete(bash_completion, words))
    wanted = {f for a in _options(parser) for f in a.option_strings}
    assert offered == wanted


def test_completion_of_option_values_and_positionals(bash_completion, tmp_path):
    (tmp_path / "guest.cfg").write_text("")
    (tmp_path / "emitdir").mkdir()
    assert _complete(bash_completion, ["xlrmrr", "create", "--emit", ""], tmp_path) == ["emitdir"]
    assert _complete(bash_completion, ["xlrmrr", "create", "--dmar", "gu"], tmp_path) == \
        ["guest.cfg"]
    assert _complete(bash_completion, ["xlrmrr", "create", "gu"], tmp_path) == ["guest.cfg"]
    assert _complete(bash_completion, ["xlrmrr", "host", "sn"], tmp_path) == ["snapshot"]
    assert _complete(bash_completion, ["xlrmrr", "create", "--xen-version", ""], tmp_path) == []


def test_generated_files_are_deterministic(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764700000")
    monkeypatch.setenv("COLUMNS", "57")
    a = manpage.render(), completion.render()
    monkeypatch.setenv("COLUMNS", "200")
    assert (manpage.render(), completion.render()) == a
    assert '.TH XLRMRR 1 "2025-12-02"' in a[0]


def test_start_up_does_not_import_the_generators():
    code = ("import sys, xlrmrr.cli; xlrmrr.cli.build_parser(); "
            "print(any(m.startswith('xlrmrr._build') for m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, cwd=REPO)
    assert r.stdout.strip() == "False", r.stderr
