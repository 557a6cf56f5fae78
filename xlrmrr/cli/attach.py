"""`xlrmrr pci-attach GUEST.cfg SBDF [--dry-run]`: would `xl pci-attach` of this device succeed
on the guest as it was created?"""

from __future__ import annotations

from xlrmrr.cli import add_common, xen_version
from xlrmrr.cli.hostargs import add_host_arguments  # argparse only: cheap

HELP = "check whether hot-plugging a PCI device into a running guest would work"
DESCRIPTION = """\
Plan the guest as `xl create GUEST.cfg` made it (its rdm= strategy decides which RMRRs were kept
free of guest RAM), then model `xl pci-attach` of SBDF: the shared-RMRR rule and the 1:1 mapping
of each of the device's RMRRs into the running guest. Reports each RMRR's outcome and which
creation-time setting makes the attach work (rdm = "strategy=host", or the original design's
rdm_forcecheck = 1), each checked by planning again.

SBDF may carry the options xl accepts, e.g. 00:14.0,rdm_policy=relaxed (default: strict).
Without --dry-run a clean check runs `xl pci-attach <guest name> SBDF` (no shell).
"""


def add_arguments(p):
    p.add_argument("config", metavar="GUEST.cfg", help="the running guest's xl config file")
    p.add_argument("device", metavar="SBDF", help="the device to hot-plug, as given to xl")
    p.add_argument("-n", "--dry-run", action="store_true", help="only check; never run xl")
    add_common(p)
    add_host_arguments(p)
    p.add_argument("--no-hap", action="store_true",
                   help="the host has no HAP (EPT): libxl's default is then shadow paging")
    p.add_argument("--allow-degraded", action="store_true",
                   help="without --dry-run: run xl even if an RMRR would not be honoured")


def _remedy_lines(version) -> list[str]:
    from xlrmrr.hypervisor import V4_15
    host_line = ('rdm = "strategy=host"' if version >= V4_15
                 else 'rdm = "strategy=host,policy=relaxed"')
    return [host_line, "rdm_forcecheck = 1"]


def run(args) -> int:
    import json
    import sys

    from xlrmrr.cli.guest import load_guest
    from xlrmrr.cli.hostargs import host_from_args
    from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_OK, InputError
    from xlrmrr.driver import Options, plan
    from xlrmrr.files import read_input
    from xlrmrr.hotplug import attach_check, attach_remedies, parse_attach_spec
    from xlrmrr.report.hypervisor import attach_text
    from xlrmrr.xlcfg import load_domain

    version = xen_version(args)
    sbdf, policy = parse_attach_spec(args.device)
    data = read_input(args.config, "xl config")
    domain, _xl_findings, _parse = load_guest(data, args.config, version)
    host = host_from_args(args, version)
    options = Options(hap_available=not args.no_hap, remediate=False)
    base = plan(domain, host, version, options)
    att = attach_check(base, sbdf, policy, args.device)
    remedies = ()
    absent = att.result is not None and sbdf in att.result.absent
    if (not (att.ok and att.honoured) and att.created is not None and not att.created.blocked
            and not absent):
        variants = []
        for line in _remedy_lines(version):
            changed, _f, _p = load_domain(data + b"\n" + line.encode() + b"\n", args.config,
                                          version)
            variants.append((line, plan(changed, host, version, options)))
        remedies = attach_remedies(sbdf, policy, args.device, variants)
    status = EXIT_OK if att.ok and att.honoured else EXIT_DEGRADED if att.ok else EXIT_FAIL
    name = domain.name or ""
    if args.json:
        out = dict(att.to_json(), guest=name, config=args.config, xen_version=str(version),
                   exit_status=status,
                   remedies=[{"change": c, "ok": r.ok, "honoured": r.honoured,
                              "guest_starts": r.created is not None and not r.created.blocked}
                             for c, r in remedies])
        sys.stdout.write(json.dumps(out, indent=2, sort_keys=True) + "\n")
    else:
        text = attach_text(att, name or args.config, version)
        lines = []
        for change, r in remedies:
            verdict = ("the attach then succeeds with every RMRR 1:1" if r.ok and r.honoured
                       else "the attach then succeeds, RMRR not honoured" if r.ok
                       else "the guest itself then fails to start (see xlrmrr create)"
                       if r.created is None or r.created.blocked
                       else "the attach still fails")
            lines.append(f"  at creation, add `{change}`: {verdict} (checked by planning again)")
            if change.startswith("rdm_forcecheck"):
                lines.append("    (the original design's spelling: xl does not know this key; "
                             "Xen implements the idea as rdm = \"strategy=host\")")
        if remedies:
            text += "\nWhat to put in the config at creation:\n" + "\n".join(lines) + "\n"
        if status == EXIT_OK:
            text += "\nVerdict: `xl pci-attach` succeeds and every RMRR is identity-mapped\n"
        elif status == EXIT_DEGRADED:
            text += "\nVerdict: `xl pci-attach` succeeds, but an RMRR is not honoured\n"
        else:
            text += "\nVerdict: `xl pci-attach` FAILS\n"
        sys.stdout.write(text)
    if args.dry_run:
        return status
    if status == EXIT_FAIL or (status == EXIT_DEGRADED and not args.allow_degraded):
        print(f"xlrmrr pci-attach: not running xl pci-attach: the check says "
              f"{'it fails' if status == EXIT_FAIL else 'an RMRR is not honoured'}",
              file=sys.stderr)
        return status
    if not name:
        raise InputError(f"{args.config}: the config has no name=, so the running guest cannot "
                         f"be named to xl pci-attach")
    from xlrmrr.cli._run_xl import run_xl

    return run_xl("xlrmrr pci-attach", ["xl", "pci-attach", name, args.device])
