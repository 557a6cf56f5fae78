"""Build-time generators of xlrmrr's man page and bash completion (never imported by xlrmrr itself).

    python -m xlrmrr._build man              # xlrmrr(1) in roff, on stdout
    python -m xlrmrr._build bash-completion  # the bash completion script, on stdout

Both walk the argparse parsers of xlrmrr.cli (every command, subcommand and option, with its
help), so a new command or option appears without editing this package; only the prose argparse
does not hold (files, environment, examples, hooks) is written here, in manpage.py. Nothing here
runs when xlrmrr starts: the package build (debian/rules, xlrmrr.spec) writes the files once.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One argument of a command, as argparse defines it."""

    flags: tuple          # ("-n", "--dry-run"); () for a positional
    metavar: str | None   # what the value is called; None for a flag without a value
    help: str
    choices: tuple        # the fixed values it takes, if any
    nargs: object


@dataclass(frozen=True)
class Group:
    title: str
    options: tuple


@dataclass(frozen=True)
class Command:
    """A command (path: ("host", "diff") for a subcommand) with its options in argparse's groups."""

    path: tuple
    help: str
    description: str
    epilog: str
    usage: str
    groups: tuple
    subcommands: tuple


def _metavar(action: argparse.Action) -> str | None:
    if action.nargs == 0:
        return None
    if action.metavar is not None:
        m = action.metavar
        return " ".join(m) if isinstance(m, tuple) else m
    if action.choices:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _command(parser: argparse.ArgumentParser, path: tuple, help: str) -> Command:
    fmt = parser._get_formatter()
    groups = []
    sub = _subparsers(parser)
    for group in parser._action_groups:
        options = []
        for action in group._group_actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
                continue
            text = fmt._expand_help(action) if action.help else ""
            choices = tuple(map(str, action.choices)) if action.choices else ()
            options.append(Option(tuple(action.option_strings), _metavar(action), text, choices,
                                  action.nargs))
        if options:
            groups.append(Group(group.title or "", tuple(options)))
    subcommands = []
    if sub is not None:
        helps = {a.dest: a.help or "" for a in sub._choices_actions}
        for name, child in sub.choices.items():
            subcommands.append(_command(child, path + (name,), helps.get(name, "")))
    usage = " ".join(parser.format_usage().split())
    usage = usage[len("usage: "):] if usage.startswith("usage: ") else usage
    return Command(path, help, parser.description or "", parser.epilog or "", usage,
                   tuple(groups), tuple(subcommands))


def program() -> Command:
    """The whole CLI as data: the top-level parser and, recursively, every command."""
    import os

    from xlrmrr.cli import COMMANDS, build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"      # usage lines wrapped the same on every build machine
    try:
        return _command(build_parser(COMMANDS), ("xlrmrr",), "")
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def walk(cmd: Command):
    """cmd and every command below it, depth first."""
    yield cmd
    for sub in cmd.subcommands:
        yield from walk(sub)
