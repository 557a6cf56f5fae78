"""`xlrmrr pci-attach GUEST.cfg SBDF [--dry-run]`: would `xl pci-attach` of this device succeed
on the guest as it was created?"""

from __future__ import annotations

from xlrmrr.cli import add_common
from xlrmrr.cli.hostargs import add_host_arguments  # argparse only: cheap

HELP = "check whether hot-plugging a PCI device into a running guest would work"
DESCRIPTION = """\
Plan the guest as `xl create GUEST.cfg` made it (its rdm= strategy decides which RMRRs were kept
free of guest RAM), then model `xl pci-attach` of SBDF: the shared-RMRR rule and the 1:1 mapping
of each of the device's RMRRs into the running guest. Reports each RMRR's outcome and which
creation-time setting makes the attach work (rdm = "strategy=host", with explicit
rdm_policy= where xl would leave it undefined), each checked by planning again.

SBDF may carry the options xl accepts, e.g. 00:14.0,rdm_policy=relaxed (default: strict).
The release modelled is chosen as `xlrmrr create` chooses it (--xen-version, else the host
data's, else the running hypervisor's, else the newest).
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


def run(args) -> int:
    import sys
    from dataclasses import replace

    from xlrmrr.cli.guest import load_guest, refuse_if_xl_exits
    from xlrmrr.cli.hostargs import host_and_version, host_loader
    from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_INPUT, EXIT_OK, InputError
    from xlrmrr.driver import Options, plan, plan_readings
    from xlrmrr.files import read_input
    from xlrmrr.hotplug import attach_check, parse_attach_spec
    from xlrmrr.remedies.attach import attach_remedies, variants

    sbdf, policy = parse_attach_spec(args.device)
    data = read_input(args.config, "xl config")
    from xlrmrr.xlcfg import is_domain_xml
    xml = is_domain_xml(data)
    if xml and not args.dry_run:
        raise InputError(f"{args.config} is libvirt domain XML: libvirt hot-plugs its devices "
                         f"(`virsh attach-device`), not xl; add --dry-run to check it here")
    host, version, version_note = host_and_version(args, host_loader(args))
    domain, xl_findings, _parse = load_guest(data, args.config, version)
    refuse_if_xl_exits(xl_findings, args.config)
    options = Options(hap_available=not args.no_hap, remediate=False, compare_versions=False)
    base = plan(domain, host, version, options)
    att = attach_check(base, sbdf, policy, args.device)
    host_findings = tuple(f for f in getattr(host, "findings", ()) if f.severity != "info")
    att = replace(att, findings=tuple(version_note) + host_findings + att.findings)
    remedies = []
    absent = att.result is not None and sbdf in att.result.absent
    if (not (att.ok and att.honoured) and att.created is not None and not att.created.blocked
            and not absent and host.vtd_enabled and not xml):
        for change, edits, changed in variants(domain, version):
            checks = attach_remedies(sbdf, policy, args.device,
                                     plan_readings(changed, host, version, options))
            remedies.append((change, edits, checks))
    status = EXIT_OK if att.clean else EXIT_DEGRADED if att.ok else EXIT_FAIL
    if status == EXIT_OK and att.rmrrs_unknown:
        status = EXIT_INPUT                     # verdict unknown: said on stderr, below
    name = domain.name or ""
    from xlrmrr.report.attach import json_text, text
    from xlrmrr.report.colour import paint

    sys.stdout.write(json_text(att, domain, args.config, version, status, remedies) if args.json
                     else paint(text(att, name or args.config, version, status, remedies, xml),
                                args))

    if status == EXIT_INPUT:                    # exit 2: the one line naming the input
        from xlrmrr.report import escape

        print(escape(f"xlrmrr pci-attach: error: {att.rmrrs_unknown}: the host's RMRRs are "
                     f"unknown, so this check cannot tell whether {sbdf} gets its RMRRs (verdict "
                     f"unknown)"), file=sys.stderr)
    if args.dry_run:
        return status
    if status == EXIT_INPUT:
        return status
    if status == EXIT_FAIL or (status == EXIT_DEGRADED and not args.allow_degraded):
        print(f"xlrmrr pci-attach: not running xl pci-attach: the check says "
              f"{'it fails' if status == EXIT_FAIL else 'the attach would be degraded'}",
              file=sys.stderr)
        return status
    if not name:
        raise InputError(f"{args.config}: the config has no name=, so the running guest cannot "
                         f"be named to xl pci-attach")
    from xlrmrr.cli._run_xl import run_xl

    return run_xl("xlrmrr pci-attach", ["xl", "pci-attach", name, args.device])
