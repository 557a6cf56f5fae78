"""xlrmrr(1) in roff (man(7) macros), from the argparse parsers plus the prose they do not hold.

Every command, subcommand, option, choice and help text comes from xlrmrr.cli's parsers; the
sections below (exit status, environment, files, examples, the hooks) are the part written by
hand. tests/test_build_manpage.py checks that every command and option appears, that every
environment variable the code reads is documented, and that every example parses.
"""

from __future__ import annotations

import os
import re
import time

from xlrmrr import __version__
from xlrmrr._build import Command, program, walk
from xlrmrr.host import snapshot, topology

XENDOMAINS_DROPIN = "/usr/share/xlrmrr/xlrmrr.conf"
XENDOMAINS_DIR = "/etc/systemd/system/xendomains.service.d"
ENABLE_XENDOMAINS = (f"install -D -m 644 {XENDOMAINS_DROPIN} {XENDOMAINS_DIR}/xlrmrr.conf "
                     "&& systemctl daemon-reload")

EXIT_STATUS = (
    ("0", "fine: the guest (every guest, the attach) works and gets all its RMRRs."),
    ("1", "the plan fails: creation or the attach would fail, an RMRR sharing group is split "
          "across guests, or (xlrmrr host) Xen would disable VT-d."),
    ("2", "bad input or usage: a one-line error names the file and the line, byte offset, JSON "
          "path or tar member; with --json the error is also printed as a JSON object. Also the "
          "verdict UNKNOWN: the host data (a boot log without RMRR lines, or with RMRR lines "
          "that do not parse) cannot tell whether a guest's devices have RMRRs."),
    ("3", "the guest starts, but an RMRR of an assigned device is not honoured (relaxed "
          "policy, outside the guest's e820 or under a BAR), or its RMRR sharing group is split "
          "(another domain maps the same range)."),
    ("130", "interrupted (SIGINT)."),
    ("other", "when xlrmrr runs xl (xlrmrr create without --dry-run), xl's own exit status."),
)

ENVIRONMENT = (
    ("COLUMNS", "the width --help output is wrapped to (default: the terminal's, else 80)."),
    ("NO_COLOR", "any non-empty value: no colour in text reports with --color auto, the default "
                 "(https://no-color.org); --color always still colours."),
    ("PATH", "where xlrmrr create finds xl when it runs xl create (no shell is involved)."),
    ("TERM", "dumb: no colour with --color auto."),
    ("XLRMRR_HOST_ARGS", "set in /etc/default/xlrmrr: host data options (e.g. --snapshot FILE) "
                         "the libvirt hook adds to its planning run."),
)

FILES = (
    ("/sys/firmware/acpi/tables/DMAR", "the host's ACPI DMAR table, read by default (root only; "
     "--dmar, --acpidump, --xen-log or --snapshot read a copy instead, unprivileged)."),
    ("/sys/bus/pci/devices", "the host's PCI topology: devices, bridges, classes, BARs, reset "
     "methods, IOMMU groups."),
    ("/sys/firmware/memmap", "the host's firmware memory map (xlrmrr host snapshot)."),
    ("/sys/hypervisor/version", "the running Xen release (major, minor, extra), the release "
     "modelled by default in dom0."),
    ("/etc/libvirt/hooks/libxl.d/50-xlrmrr", "the libvirt libxl hook: libvirtd runs it as "
     "50-xlrmrr DOMAIN prepare begin - with the domain XML on stdin before a domain starts, and "
     "a non-zero exit status stops the start; it runs xlrmrr libvirt-hook. libvirtd reads "
     "hooks when it starts: restart it after installing."),
    ("/etc/default/xlrmrr", "settings of the libvirt hook (XLRMRR_HOST_ARGS)."),
    (XENDOMAINS_DROPIN, "a systemd drop-in for xendomains.service, shipped disabled: before "
     "xendomains starts the guests of /etc/xen/auto at boot, xlrmrr checks them together and "
     "reports a guest that would fail in the journal (policy warn: xendomains still starts every "
     "guest; to hold one back, take its file out of the auto directory). Enable it with "
     f"the one command {ENABLE_XENDOMAINS}; disable it by removing {XENDOMAINS_DIR}/xlrmrr.conf "
     "(then systemctl daemon-reload)."),
    ("/usr/share/xlrmrr/grammar", "the xl config language xlrmrr parses, as EBNF."),
    ("/usr/share/doc/xlrmrr", "the Xen behaviour xlrmrr models, per release, with the Xen "
     "source it comes from; json.md there is the contract of every command's --json object."),
    ("/usr/lib/python3/dist-packages/xlrmrr/schemas", "one JSON Schema per command (COMMAND.json) "
     "describing exactly the objects --json prints (the Debian package's path; with pip, "
     "the schemas directory of the installed xlrmrr package)."),
)

# (command path, argv after "xlrmrr", what it does); shown for the commands that exist.
EXAMPLES = (
    (("create",), ["create", "/etc/xen/guest.cfg", "--dry-run"],
     "Plan the guest on this host (root, in dom0): what libxl, libxc, the hypervisor and "
     "hvmloader will do with the host's RMRRs, and whether passthrough will work."),
    (("create",), ["create", "guest.cfg", "--dry-run", "--dmar", "DMAR.bin",
                   "--xen-version", "4.17"],
     "The same, offline and unprivileged, from a copy of the host's DMAR, as Xen 4.17 does it."),
    (("create",), ["create", "guest.cfg", "--dry-run", "--fix", "--write"],
     "Print the recommended change as a diff of guest.cfg and write the changed file as "
     "guest.cfg.new (guest.cfg itself is left as it is)."),
    (("create",), ["create", "/etc/xen/guest.cfg"],
     "Plan, then run xl create /etc/xen/guest.cfg when the plan is clean (in place of xl create)."),
    (("host",), ["host", "snapshot", "host.tar.gz"],
     "Collect this host's DMAR, PCI topology, memory map and Xen version into one file ..."),
    (("create",), ["create", "guest.cfg", "--snapshot", "host.tar.gz", "--dry-run", "--json"],
     "... and plan against it on any machine, as JSON."),
    (("cfg",), ["cfg", "/etc/xen/guest.cfg"],
     "Show how xl reads a config: settings, xl's own messages, the typed config."),
    (("dmar",), ["dmar", "DMAR.bin"],
     "Decode a DMAR table and list its firmware bugs."),
    (("check",), ["check", "/etc/xen/a.cfg", "/etc/xen/b.cfg"],
     "Plan two guests on this host together: devices assigned twice, split RMRR groups."),
    (("pci-attach",), ["pci-attach", "/etc/xen/guest.cfg", "0000:00:14.0", "--dry-run"],
     "Would hot-plugging 0000:00:14.0 into the running guest work?"),
)


def esc(text: str) -> str:
    """Text as roff prints it literally: backslashes, minus signs, and a leading . or '."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line
                     for line in text.split("\n"))


def _paragraphs(text: str) -> list[str]:
    """argparse's pre-wrapped text as roff: paragraphs re-filled, indented lines kept as they are."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip("\n")):
        lines = para.split("\n")
        flowing, verbatim = [], []
        for line in lines:
            if line.startswith((" ", "\t")):
                verbatim.append(line)
            else:
                if verbatim:
                    out += [".PP", esc(" ".join(flowing)) if flowing else None,
                            ".RS", ".nf", esc("\n".join(verbatim)), ".fi", ".RE"]
                    flowing, verbatim = [], []
                flowing.append(line.strip())
        if verbatim:
            out += [".PP", esc(" ".join(flowing)) if flowing else None,
                    ".RS", ".nf", esc("\n".join(verbatim)), ".fi", ".RE"]
        elif flowing:
            out += [".PP", esc(" ".join(flowing))]
    return [line for line in out if line is not None]


def _option_head(opt) -> str:
    """`.TP` tag: bold option names (or the positional's name in italics), italic value."""
    if not opt.flags:
        return f"\\fI{esc(opt.metavar or '')}\\fR"
    names = ", ".join(f"\\fB{esc(f)}\\fR" for f in opt.flags)
    return f"{names} \\fI{esc(opt.metavar)}\\fR" if opt.metavar else names


def _command_section(cmd: Command) -> list[str]:
    name = " ".join(cmd.path)
    out = [f".SS {esc(name)}", f"{esc(cmd.help)}" if cmd.help else None,
           ".PP", f"\\fB{esc(name)}\\fR " + esc(cmd.usage[len(name):].strip()) if
           cmd.usage.startswith(name) else esc(cmd.usage)]
    out += _paragraphs(cmd.description)
    for group in cmd.groups:
        out += [".PP", f"\\fI{esc(group.title)}\\fR:" if group.title else None]
        for opt in group.options:
            out += [".TP", _option_head(opt), esc(opt.help) if opt.help else "\\&"]
            if opt.choices and not opt.flags:
                out[-1] += esc(f" (one of: {', '.join(opt.choices)})")
    if cmd.subcommands:
        out += [".PP", "Subcommands: " + ", ".join(
            f"\\fB{esc(' '.join(s.path))}\\fR" for s in cmd.subcommands) + "."]
    out += _paragraphs(cmd.epilog)
    return [line for line in out if line is not None]


def _date() -> str:
    """The build's date (SOURCE_DATE_EPOCH, set by dpkg-buildpackage and rpmbuild) for a
    reproducible page; empty when unset."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return ""
    try:
        return time.strftime("%Y-%m-%d", time.gmtime(int(epoch)))
    except ValueError:
        return ""


def _tagged(items) -> list[str]:
    """Tagged paragraphs, left-adjusted: long paths and commands cannot be justified."""
    out = [".ad l"]
    for tag, text in items:
        out += [".TP", f"\\fB{esc(tag)}\\fR", esc(text)]
    return out + [".ad b"]


def file_format(module) -> list[str]:
    """A file format xlrmrr reads, from the docstring of the module that reads it (the format's
    one home): the first line sums the module up for developers, the rest is the format."""
    return _paragraphs(module.__doc__.split("\n", 1)[1])


def examples(prog: Command) -> list:
    """The EXAMPLES entries whose command exists in this build's parser."""
    paths = {c.path[1:] for c in walk(prog)}
    return [e for e in EXAMPLES if e[0] in paths]


def render() -> str:
    prog = program()
    commands = [c for c in walk(prog) if c is not prog]
    out = [f'.TH XLRMRR 1 "{_date()}" "xlrmrr {__version__}" "User Commands"',
           ".nh",
           ".SH NAME",
           "xlrmrr \\- plan Xen HVM PCI passthrough around host RMRRs before xl create",
           ".SH SYNOPSIS"]
    for cmd in prog.subcommands:
        out += [".br" if out[-1] != ".SH SYNOPSIS" else None,
                f"\\fBxlrmrr {esc(cmd.path[-1])}\\fR " + esc(cmd.usage.split(None, 2)[2])
                if len(cmd.usage.split(None, 2)) > 2 else f"\\fBxlrmrr {esc(cmd.path[-1])}\\fR"]
    out += [".br", "\\fBxlrmrr\\fR \\fB\\-\\-version\\fR | \\fB\\-\\-help\\fR",
            ".SH DESCRIPTION"]
    out += _paragraphs(prog.description)
    out += _paragraphs(
        "Intel VT-d firmware lists in the ACPI DMAR table host memory ranges (RMRRs, \"reserved "
        "device memory\" or RDM in Xen) that some devices keep using by DMA. When such a device "
        "is passed through to an HVM guest, the guest layout must leave those ranges free, mark "
        "them reserved in the guest e820, and the hypervisor must map them 1:1. xlrmrr "
        "reproduces Xen's flow (xl, libxl, libxc, the hypervisor, hvmloader) offline for the "
        "Xen release asked for, explains every decision, and proposes config changes that fix "
        "each problem, each one checked by planning again. Output is deterministic; addresses "
        "are printed in hex as Xen prints them.")
    out += [".SH COMMANDS"]
    for cmd in commands:
        out += _command_section(cmd)
    out += [".SH GLOBAL OPTIONS"]
    for group in prog.groups:
        for opt in group.options:
            out += [".TP", _option_head(opt), esc(opt.help)]
    out += [".SH EXIT STATUS"]
    out += _paragraphs(prog.epilog)
    out += _tagged(EXIT_STATUS)
    out += [".SH ENVIRONMENT"] + _tagged(ENVIRONMENT)
    out += [".SH FILES"] + _tagged(FILES)
    out += [".SH HOST DESCRIPTION"] + file_format(topology)
    out += [".SH HOST SNAPSHOTS"] + file_format(snapshot)
    out += [".SH EXAMPLES"]
    for _path, argv, what in examples(prog):
        out += [".PP", esc(what), ".RS", ".nf", "\\fB" + esc(" ".join(["xlrmrr", *argv])) + "\\fR",
                ".fi", ".RE"]
    out += [".PP", "Enable the xendomains check at boot:", ".RS", ".nf",
            "\\fB" + esc(ENABLE_XENDOMAINS) + "\\fR", ".fi", ".RE"]
    out += [".SH SEE ALSO", "\\fBxl\\fR(1), \\fBxl.cfg\\fR(5), \\fBxl\\-disk\\-configuration\\fR(5), "
            "\\fBlibvirtd\\fR(8), \\fBiasl\\fR(1)"]
    return "\n".join(line for line in out if line is not None) + "\n"
