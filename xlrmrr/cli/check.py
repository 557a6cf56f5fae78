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
device is relaxed), 3 when all start but some RMRR is not honoured, 0 otherwise. A whole group
inside one guest under a relaxed policy is safe and reported as such.
"""


def add_arguments(p):
    p.add_argument("configs", metavar="GUEST.cfg", nargs="+", help="the guests' xl config files")
    add_common(p)
    add_host_arguments(p)
    p.add_argument("--no-hap", action="store_true",
                   help="the host has no HAP (EPT): libxl's default is then shadow paging")


def run(args) -> int:
    import sys
    from dataclasses import replace

    from xlrmrr.cli.guest import load_guest, refuse_if_xl_exits
    from xlrmrr.cli.hostargs import host_and_version, host_loader
    from xlrmrr.driver import Options, plan
    from xlrmrr.files import read_input
    from xlrmrr.hostcheck import GuestCheck, check_guests
    from xlrmrr.hypervisor import assign_for_plan, guest_functions
    from xlrmrr.report.check import json_text, text

    host, version, version_note = host_and_version(args, host_loader(args))
    guests = []
    for domid, path in enumerate(args.configs, 1):
        data = read_input(path, "xl config")
        domain, xl_findings, _parse = load_guest(data, path, version)
        refuse_if_xl_exits(xl_findings, path)
        p = plan(domain, host, version, Options(hap_available=not args.no_hap, remediate=False))
        verdict = p.verdict
        if any(f.severity == "error" and f.component == "xl" for f in xl_findings):
            verdict = "blocked"
        # d1, d2 ... in the order given: the ids the guests get when started in that order
        assign = assign_for_plan(p, domid=domid) if verdict != "blocked" or p.hypervisor else None
        guests.append(GuestCheck(path, domain.name or "", verdict,
                                 guest_functions(domain, host), assign,
                                 tuple(xl_findings) + tuple(p.findings)))
    hc = check_guests(host, guests)
    host_findings = tuple(f for f in getattr(host, "findings", ()) if f.severity != "info")
    hc = replace(hc, findings=tuple(version_note) + host_findings + hc.findings)
    sys.stdout.write(json_text(hc, version) if args.json else text(hc, version))
    return hc.exit_status
