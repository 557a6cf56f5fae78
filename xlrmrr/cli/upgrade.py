"""`xlrmrr upgrade --from X.Y[.Z] --to X.Y[.Z] GUEST.cfg...`: what a Xen upgrade changes per
guest, and why.

`--json` prints one object (xlrmrr/schemas/upgrade.json, docs/json.md): from, to, host, steps
(the releases planned), exit_status, guests [{config, guest, from_verdict, to_verdict, worse
("stops" | "degrades" | ""), verdicts, changes [{aspect, from, to, at [{release, changes
[{component, commit, what, takes_effect}]}]}]}].
"""

from __future__ import annotations

from xlrmrr.cli import add_color
from xlrmrr.cli.hostargs import add_host_arguments  # argparse only: cheap

HELP = "what a Xen upgrade changes for each guest (verdict, RMRRs, layout, xl's reading), and why"
DESCRIPTION = """\
Plan every guest under the release it runs on now (--from) and the one it will run on (--to),
and at every release step between them (each X.Y line, and the point releases 4.14.5, 4.15.3,
4.16.1 where xl's reading changed), then report per guest what differs: the verdict, xl's
reading of the config (guest type, rdm= strategy and policy, each pci= entry's rdm_policy),
the RMRRs libxl reserves and with which policy, lowmem_end and highmem_end, and the guest's
e820. Each difference names the release step where it happens and the Xen changes taking
effect there, with their commits.

The known traps: 4.14.x -> 4.15+ drops every rdm= line carrying a valid policy= (libxlu's
inverted check), so a guest relying on rdm="strategy=host,policy=relaxed" loses its
reservations or stops starting; 4.12 -> 4.13.0 parses pci= before rdm=, so pci= entries no
longer inherit rdm='s policy (fixed again in 4.14.5, 4.15.3, 4.16.1 and 4.17).

The host is built for each release as that Xen reads its DMAR (4.19 and later disable VT-d for
an RMRR over RAM).
"""

EPILOG = """\
exit status:
  0  no guest gets worse
  1  some guest starts under --from and not under --to
  2  bad input or usage
  3  some guest goes from ok to degraded (an RMRR no longer honoured), none stops starting

host data comes from /sys/firmware/acpi/tables/DMAR and /sys/bus/pci on a Xen host, or from
files (--dmar FILE, --snapshot FILE), so the command can run unprivileged and offline.
"""


def add_arguments(p):
    p.epilog = EPILOG
    p.add_argument("--from", dest="from_version", metavar="X.Y[.Z]", required=True,
                   help="the release the guests run on now (a point release where it matters: "
                        "4.14.4 and 4.14.5 read rdm= differently)")
    p.add_argument("--to", dest="to_version", metavar="X.Y[.Z]", required=True,
                   help="the release to upgrade (or downgrade) to")
    p.add_argument("configs", metavar="GUEST.cfg", nargs="+", help="the guests' xl config files")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_color(p)
    add_host_arguments(p)
    p.add_argument("--no-hap", action="store_true",
                   help="the host has no HAP (EPT): libxl's default is then shadow paging")


def run(args) -> int:
    import sys

    from xlrmrr.cli.guest import XL_EXITS, load_guest
    from xlrmrr.cli.hostargs import host_loader
    from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_OK, XenVersion
    from xlrmrr.driver import Options, plan, refused_by_xl
    from xlrmrr.files import read_input
    from xlrmrr.upgrade import Step, compare, path

    frm = XenVersion.parse(args.from_version, "--from")
    to = XenVersion.parse(args.to_version, "--to")
    steps_v = path(frm, to)
    load_host = host_loader(args)
    hosts = {str(v): load_host(v) for v in steps_v}
    options = Options(hap_available=not args.no_hap, remediate=False, compare_versions=False)
    results = []
    for cfg in args.configs:
        data = read_input(cfg, "xl config")
        steps = []
        for v in steps_v:
            host = hosts[str(v)]
            domain, findings, _parse = load_guest(data, cfg, v)
            exits = [f for f in findings if f.code in XL_EXITS]
            if exits:
                steps.append(Step(v, domain, refused_by_xl(domain, host, v, options),
                                  exits[0].message))
                continue
            p = plan(domain, host, v, options)
            if any(f.severity == "error" and f.component == "xl" for f in findings):
                from dataclasses import replace
                p = replace(p, verdict="blocked")
            steps.append(Step(v, domain, p))
        results.append(compare(cfg, steps))
    worst = {g.worse for g in results}
    status = EXIT_FAIL if "stops" in worst else EXIT_DEGRADED if "degrades" in worst else EXIT_OK
    from xlrmrr.report.colour import paint
    from xlrmrr.report.upgrade import json_text, report, text

    r = report(frm, to, hosts[str(steps_v[0])], steps_v, status, results)
    sys.stdout.write(json_text(r) if args.json else paint(text(r), args))
    return status
