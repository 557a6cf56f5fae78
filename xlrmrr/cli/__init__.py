"""Command line: parse arguments, call the driver, print. One module per command.

Each command module defines HELP, DESCRIPTION, add_arguments(parser) and run(args) -> exit status,
and imports its heavy dependencies inside run(), so that `xlrmrr create` pays only for what it
uses (start-up time matters: this runs before every `xl create`).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from xlrmrr import __version__
from xlrmrr.common import EXIT_INPUT, NEWEST_XEN, OLDEST_XEN, InputError, XenVersion

COMMANDS = ("cfg", "dmar", "host", "create", "check", "pci-attach", "explain", "upgrade",
            "libvirt-hook")
_MODULES = {"pci-attach": "attach", "libvirt-hook": "libvirt_hook"}

HOST_DATA = """\
host data comes from /sys/firmware/acpi/tables/DMAR and /sys/bus/pci on a Xen host, or from
files (--dmar FILE, --snapshot FILE), so the command can run unprivileged and offline.
"""

EPILOG = """\
exit status: 0 fine, 1 the plan (or the host) fails, 2 bad input or usage, 3 the guest starts
but an RMRR is not honoured (relaxed policy ...) or its sharing group is split; each command's
--help says what its codes mean.
"""

_PLAN_STATUS = """\
exit status:
  0  fine: {what} and {who} gets all its RMRRs
  1  {fails}
  2  bad input or usage, or UNKNOWN: the host data (a boot log) does not list the RMRRs
  3  {starts}, but an RMRR of {one} is not honoured ({how})

""" + HOST_DATA

# Exit 3 of create and check: every reason a started guest is degraded (causes.Cause).
_SPLIT_TOO = ("relaxed policy, outside the guest's e820\n     or under a BAR), or its RMRR "
              "sharing group is split (another domain maps the same range")

# Each command's epilog: the exit statuses it uses, and where host data comes from where it
# reads any (cfg and dmar take none).
EPILOGS = {
    "cfg": "exit status: 0 xl would accept the file, 2 it would not, or bad input or usage.\n",
    "dmar": "exit status: 0 the table was decoded (firmware bugs are reported, not failed), 2 bad "
            "input or usage.\n",
    "host": "exit status: 0 fine, 1 Xen would disable VT-d (no passthrough at all), 2 bad input "
            "or usage.\n\n" + HOST_DATA,
    "create": _PLAN_STATUS.format(what="the guest can be created", fails="creation would fail",
                                  starts="creation would succeed", who="every assigned device",
                                  one="an assigned device", how=_SPLIT_TOO).replace("\n\n", """
  These are xlrmrr's when it does not run xl (--dry-run, a blocked plan, a degraded one
  without --allow-degraded: 3; rdm_forcecheck that cannot be spelled for the release's xl: 1).
  When it runs xl: exactly xl create's exit status (0 created; xl's own failures, e.g. 1, 2
  usage, 3 ERROR_FAIL, 6 ERROR_INVAL; 128+N if xl is killed by signal N), 127 when there is
  no xl on PATH, 126 when it cannot be run.

""", 1),
    "check": _PLAN_STATUS.format(
        what="every guest can be created", fails="some guest would fail, or an RMRR sharing "
        "group is split across guests", starts="every guest would start",
        who="every assigned device", one="an assigned device", how=_SPLIT_TOO),
    "libvirt-hook": "exit status: 0 start the domain (or not `prepare begin`), 1 its creation "
                    "would fail (libvirt aborts the start), 2 bad input: the XML, the host data "
                    "or XLRMRR_HOST_ARGS (libvirt aborts too).\n",
    "pci-attach": _PLAN_STATUS.format(what="the attach would succeed",
                                      fails="the attach would fail",
                                      starts="the attach would succeed", who="the device",
                                      one="the device", how="relaxed policy"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        usage = SystemExit(EXIT_INPUT)
        usage.message = f"{self.prog}: {message}"     # for main()'s --json object
        raise usage


class Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, sized without shutil: HelpFormatter imports shutil (and with it
    bz2, lzma, zlib and fnmatch, about 3 ms) only to read the terminal width, on every run."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)


def _columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal of stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _module(command: str):
    return importlib.import_module(f"xlrmrr.cli.{_MODULES.get(command, command)}")


def running_xen_version() -> XenVersion | None:
    """The running hypervisor's release, from /sys/hypervisor (dom0 only)."""
    parts = []
    for name in ("major", "minor", "extra"):
        try:
            with open(f"/sys/hypervisor/version/{name}") as f:
                parts.append(f.read())
        except OSError:
            parts.append(None)
    try:
        v = XenVersion.from_sysfs(*parts)
    except (TypeError, ValueError):
        return None
    return v if v.modelled else None


VERSION_DEFAULTS = {
    "running": f"default: the running hypervisor's release, else {NEWEST_XEN}",
    "recorded": "default: the release the host data was collected under (--snapshot, or "
                f"xen_version in --host-json), else the running hypervisor's, else {NEWEST_XEN}",
    "unused": "accepted and ignored here: the decoding and its findings are the same for every "
              "release",
}


def add_common(p: argparse.ArgumentParser, json: bool = True,
               default: str = "recorded") -> None:
    """--xen-version and --json. `default` (a VERSION_DEFAULTS key) says which release the
    command models without --xen-version: the host data's for the commands that read host data,
    the running one for cfg; "unused" where the release changes nothing (dmar)."""
    p.add_argument("--xen-version", metavar="X.Y[.Z]",
                   help=f"model this Xen release ({OLDEST_XEN} to {NEWEST_XEN}); give the point "
                        "release Z where a fix was backported to it (xl reads rdm= before pci= "
                        "again from 4.14.5, 4.15.3, 4.16.1); X.Y means X.Y.0; "
                        f"{VERSION_DEFAULTS[default]}")
    if json:
        p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        add_color(p)


COLOR_HELP = ("colour the text report: auto (the default) only when standard output is a "
              "terminal, NO_COLOR is unset or empty and TERM is not dumb; always; never. JSON "
              "is never coloured")


def add_color(p: argparse.ArgumentParser) -> None:
    """--color WHEN (report.colour), on every command that prints a text report."""
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   metavar="WHEN", help=COLOR_HELP)


def xen_version(args) -> XenVersion:
    """The release to model: --xen-version, else the running hypervisor, else the newest."""
    if getattr(args, "xen_version", None) is not None:
        return XenVersion.parse(args.xen_version)
    return running_xen_version() or NEWEST_XEN


def build_parser(commands=COMMANDS) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="xlrmrr",
        description="Plan Xen HVM PCI passthrough around the host's RMRRs (reserved device "
                    "memory) before `xl create`: how xl reads the config, what libxl, libxc, "
                    "the hypervisor and hvmloader will do, and whether the guest will work.",
        epilog=EPILOG, formatter_class=Formatter)
    parser.add_argument("--version", action="version", version=f"xlrmrr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in commands:
        mod = _module(name)
        p = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION,
                           epilog=EPILOGS.get(name), formatter_class=Formatter)
        mod.add_arguments(p)
        for action in p._actions:
            if action.nargs == argparse.REMAINDER:
                action.required = False     # argparse marks it required; it may take nothing
        p.set_defaults(_run=mod.run)
    return parser


def error_json(message: str, command: str | None = None) -> str:
    """--json's object when bad input or a usage error ends a command (exit status 2): a script
    reading stdout always gets an answer (report.document.error; docs/json.md#errors)."""
    from xlrmrr.report.document import error

    return error(message, command, EXIT_INPUT)


def _asks_json(argv: list[str]) -> bool:
    """--json among xlrmrr's own arguments (not after the `--` that starts xl's)."""
    return "--json" in (argv[:argv.index("--")] if "--" in argv else argv)


def _command(argv: list[str], args=None) -> str | None:
    """The error object's `command`: the command (with host's action, create's --fix), None
    when the usage error comes before it."""
    name = argv[0] if argv and argv[0] in COMMANDS else None
    action = getattr(args, "action", None) if args is not None else (argv[1:2] or [None])[0]
    if name == "host" and action in ("snapshot", "diff"):
        return f"host {action}"
    own = argv[:argv.index("--")] if "--" in argv else argv
    if name == "create" and (getattr(args, "fix", False) or "--fix" in own):
        return "create --fix"
    return name


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Build only the parser of the command asked for, so that start-up imports one module.
    wanted = [a for a in argv[:1] if a in COMMANDS]
    parser = build_parser(wanted or COMMANDS)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        if e.code == EXIT_INPUT and _asks_json(argv):
            print(error_json(getattr(e, "message", "usage error"), _command(argv)), end="")
        raise
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    try:
        return args._run(args)
    except InputError as e:
        from xlrmrr.report import escape

        print(escape(f"xlrmrr {args.command}: error: {e}"), file=sys.stderr)
        # --json may sit where an option the error stopped at was about to be parsed (create's
        # options after GUEST.cfg); cfg prints its own object once it has read the file.
        if (getattr(args, "json", False) or _asks_json(argv)) and not getattr(
                args, "json_written", False):
            print(error_json(str(e), _command(argv, args)), end="")
        return EXIT_INPUT
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130


def console() -> None:
    """The `xlrmrr` program (console script and `python -m xlrmrr`): main() in a process that
    ends with the command; it never returns (not annotated NoReturn: importing typing costs
    `xlrmrr cfg` 3 ms). The cycle collector is off: in a command that lives tens of
    milliseconds it would only walk the classes and modules just loaded, several times over.
    The process ends with os._exit once the output is flushed: tearing down the interpreter
    (freeing every module, class and object one by one) would cost more than the run; nothing
    is left to release (files are closed where written, xl has returned)."""
    gc.disable()
    status = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        status = EXIT_INPUT
    os._exit(status)
