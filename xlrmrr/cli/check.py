"""`xlrmrr check A.cfg B.cfg ...`: plan every guest, then check the host as a whole."""

from __future__ import annotations

from xlrmrr.cli import add_common
from xlrmrr.cli.hostargs import add_host_arguments  # argparse only: cheap

HELP = "plan several guests on one host together: devices assigned twice, split RMRR groups"
DESCRIPTION = """\
Plan every guest config as `xlrmrr create --dry-run` does, then check the host as a whole: a
device in two configs (the second guest to start fails), an RMRR sharing group whose devices go
to different guests (each gets a 1:1 mapping of the same host memory: a data path between
guests that Xen refuses under strict and only warns about under relaxed), an RMRR range mapped
into two guests, and a summary table of guests by devices. Xen's messages name the guests d1,
d2 ... in the order given (the ids they get when started in that order after boot).

The release modelled is chosen as `xlrmrr create` chooses it: --xen-version, else the one the
host data was collected under, else the running hypervisor's, else the newest.

Exit status 1 when any guest would fail or any group is split across guests (even where each
device is relaxed), 3 when all start but some RMRR is not honoured or a group is split between
a guest and dom0, 0 otherwise. A whole group
inside one guest under a relaxed policy is safe and reported as such.
"""


GUESTS = """\
Guests as administrators keep them: a DIR operand stands for every *.cfg in it (sorted); a
name that is not a file is looked up as /etc/xen/NAME.cfg, then /etc/xen/NAME, and the file
used is said on stderr (xl itself reads only the path it is given). --auto checks the guests
xendomains starts at boot: every file (not only *.cfg; dot files never) in the directory
XENDOMAINS_AUTO names in /etc/default/xendomains or /etc/sysconfig/xendomains, /etc/xen/auto
when neither sets it; XENDOMAINS_AUTO set empty or a missing directory starts nothing (exit 0).
--root DIR reads all of these, and the live /sys, below DIR (a test tree, a chroot, an image).
The xendomains drop-in (/usr/share/xlrmrr/xlrmrr.conf, shipped disabled: FILES in xlrmrr(1)
says how to enable it) runs `check --auto` before xendomains
starts: a failing guest is reported in the journal (warn) and xendomains still starts every
guest; xlrmrr never moves or edits files in the auto directory.
"""

DESCRIPTION = DESCRIPTION + "\n" + GUESTS


def add_arguments(p):
    p.add_argument("configs", metavar="GUEST.cfg|DIR|NAME", nargs="*",
                   help="the guests' xl config files, directories of *.cfg, or names under /etc/xen")
    p.add_argument("--auto", action="store_true",
                   help="check the guests xendomains starts (XENDOMAINS_AUTO, default /etc/xen/auto)")
    p.add_argument("--root", metavar="DIR",
                   help="read /etc (xendomains config, /etc/xen) and the live /sys below DIR; "
                        "default /")
    add_common(p)
    add_host_arguments(p)
    p.add_argument("--no-hap", action="store_true",
                   help="the host has no HAP (EPT): libxl's default is then shadow paging")


def run(args) -> int:
    import sys
    from dataclasses import replace

    from xlrmrr.cli.guest import load_guest, refuse_if_xl_exits
    from xlrmrr.cli.hostargs import host_and_version, host_loader
    from xlrmrr.common import EXIT_INPUT
    from xlrmrr.driver import Options, plan, unique
    from xlrmrr.files import read_input
    from xlrmrr.hostcheck import GuestCheck, check_guests
    from xlrmrr.hypervisor.assignment import guest_functions
    from xlrmrr.hypervisor.plans import assign_for_plan
    from xlrmrr.report.check import json_text, text

    paths = _guest_paths(args)
    if not paths:
        print("xlrmrr check: no guest to check", file=sys.stderr)
        if args.json:       # the object of no guests (no host data read: nothing to check)
            from xlrmrr.cli import xen_version
            from xlrmrr.hostcheck import HostCheck

            sys.stdout.write(json_text(HostCheck((), (), (), (), (), (), (), (), 0),
                                       xen_version(args)))
        return 0
    host, version, version_note = host_and_version(args, host_loader(args))
    guests = []
    for domid, path in enumerate(paths, 1):
        data = read_input(path, "xl config")
        domain, xl_findings, _parse = load_guest(data, path, version)
        refuse_if_xl_exits(xl_findings, path)
        # The check report shows neither remedies nor the release comparison: plan without them.
        p = plan(domain, host, version, Options(hap_available=not args.no_hap, remediate=False,
                                                compare_versions=False))
        verdict = p.verdict
        if any(f.severity == "error" and f.component == "xl" for f in xl_findings):
            verdict = "blocked"
        # d1, d2 ... in the order given: the ids the guests get when started in that order
        assign = assign_for_plan(p, domid=domid) if verdict != "blocked" or p.hypervisor else None
        guests.append(GuestCheck(path, domain.name or "", verdict,
                                 guest_functions(domain, host), assign,
                                 unique(tuple(xl_findings) + tuple(p.findings)),
                                 p.causes if verdict == p.verdict != "ok" else ()))
    hc = check_guests(host, guests)
    host_findings = tuple(f for f in getattr(host, "findings", ()) if f.severity != "info")
    hc = replace(hc, findings=tuple(version_note) + host_findings + hc.findings)
    from xlrmrr.report.colour import paint

    sys.stdout.write(json_text(hc, version) if args.json else paint(text(hc, version), args))
    if hc.exit_status == EXIT_INPUT:            # some guest's verdict is unknown: name the input
        from xlrmrr.report import escape

        print(escape(f"xlrmrr check: error: {host.rmrrs_unknown}: the host's RMRRs are unknown, "
                     f"so the guests passing devices through cannot be checked (verdict "
                     f"unknown)"), file=sys.stderr)
    return hc.exit_status


def _guest_paths(args) -> list[str]:
    """The config files the operands and --auto stand for, each said on stderr where it is
    not the operand itself."""
    import os
    import sys

    from xlrmrr.common import InputError
    from xlrmrr.integration.etc import auto_configs, configs_in, resolve_config
    from xlrmrr.report import escape

    def note(message):
        print(escape(f"xlrmrr check: {message}"), file=sys.stderr)

    if not args.configs and not args.auto:
        raise InputError("give the guests: GUEST.cfg files, directories of *.cfg, names under "
                         "/etc/xen, or --auto (the guests xendomains starts)")
    paths = []
    for arg in args.configs:
        if os.path.isdir(arg):
            found = configs_in(arg)
            if not found:
                raise InputError(f"{arg}: a directory with no *.cfg file in it")
            note(f"{arg}: {len(found)} config(s): {', '.join(os.path.basename(f) for f in found)}")
            paths += found
            continue
        path, said = resolve_config(arg, args.root)
        if said:
            note(said)
        paths.append(path)
    if args.auto:
        found, how = auto_configs(args.root)
        note(f"--auto: {len(found)} guest(s) xendomains starts, from {how}"
             + (f": {', '.join(os.path.basename(f) for f in found)}" if found else ""))
        paths += found
    return paths
