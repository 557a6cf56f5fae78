"""`xlrmrr pci-attach GUEST.cfg SBDF [--dry-run]`: would `xl pci-attach` of this device succeed
on the guest as it was created?"""

from __future__ import annotations

from xlrmrr.cli import add_common
from xlrmrr.cli.hostargs import add_host_arguments  # argparse only: cheap

LOW_RAM_END = 0x100000     # libxl's RAM below 1 MiB is fixed: RDMs there always conflict
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


def _reading_name(pol: str) -> str:
    """xl's uninitialised global policy as read: 0 strict, 1 relaxed, or any other value."""
    from xlrmrr.xlcfg.domain import POLICY_UNSET

    return "any other value" if pol == POLICY_UNSET else pol


def _outcome(r) -> str:
    if r.created is None or r.created.blocked:
        return "the guest itself then fails to start (see xlrmrr create)"
    if r.ok and r.honoured:
        return "the attach then succeeds with every RMRR 1:1"
    return "the attach then succeeds, RMRR not honoured" if r.ok else "the attach still fails"


def _remedy_lines(lines_: tuple, results) -> list[str]:
    """One remedy, as text: verified when every reading of the config gives the same outcome.
    Each config line is its own code span: `rdm = "strategy=host"` and `pci = [ ... ]`."""
    change = " and ".join(f"`{line}`" for line in lines_)
    outcomes = {_outcome(r) for _, r in results}
    if len(results) == 1:
        lines = [f"  at creation, add {change}: {_outcome(results[0][1])} (checked by planning "
                 f"again)"]
    elif len(outcomes) == 1:
        lines = [f"  at creation, add {change}: {outcomes.pop()} (checked by planning again, "
                 f"with xl's uninitialised rdm policy read as strict, as relaxed and as any other "
                 f"value)"]
    else:
        lines = [f"  at creation, add {change}: [not verified] without policy= xl copies an "
                 f"uninitialised value as the global policy, and the outcome depends on it:"]
        lines += [f"    if it reads as {_reading_name(pol)}: {_outcome(r)}" for pol, r in results]
    return lines


def _remedy_json(lines_: tuple, edits: tuple, results) -> dict:
    """One remedy: the change as text and as the config lines it writes (remedies.Edit, as
    create's remediation gives them), and what the attach does with it under every reading."""
    def starts(r):
        return r.created is not None and not r.created.blocked
    return {"change": " and ".join(lines_), "edits": [e.to_json() for e in edits],
            "verified": len({_outcome(r) for _, r in results}) == 1,
            "ok": all(r.ok for _, r in results),
            "honoured": all(r.honoured for _, r in results),
            "guest_starts": all(starts(r) for _, r in results),
            "readings": {pol: {"ok": r.ok, "honoured": r.honoured, "guest_starts": starts(r)}
                         for pol, r in results if pol}}


def _cause(findings) -> str:
    """Why the attach fails, for the first line: the first error's first sentence, with the
    component that says it."""
    import re

    f = next((f for f in findings if f.severity == "error"), None)
    if f is None:
        return "see the findings"
    return f"{f.component}: " + re.split(r"(?<=\.) (?=[A-Z])", f.message, maxsplit=1)[0]


def run(args) -> int:
    import sys
    from dataclasses import replace

    from xlrmrr.cli.guest import load_guest, refuse_if_xl_exits
    from xlrmrr.cli.hostargs import host_and_version, host_loader
    from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_INPUT, EXIT_OK, InputError, hexa
    from xlrmrr.driver import Options, plan, plan_readings
    from xlrmrr.files import read_input
    from xlrmrr.hotplug import attach_check, parse_attach_spec
    from xlrmrr.remedies.attach import attach_remedies, variants
    from xlrmrr.report.hypervisor import attach_text

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
    if args.json:
        from xlrmrr.report.document import dumps

        out = dict(att.to_json(), guest=domain.name, config=args.config,
                   xen_version=str(version), exit_status=status,
                   remedies=[_remedy_json(c, e, rs) for c, e, rs in remedies])
        sys.stdout.write(dumps("pci-attach", out, indent=2, sort_keys=True))
    else:
        from xlrmrr.report import escape

        text = attach_text(att, name or args.config, version)
        lines = [line for change, _e, rs in remedies for line in _remedy_lines(change, rs)]
        low = [o for o in (att.device.outcomes if att.device else ()) if o.rmrr.base < LOW_RAM_END]
        if remedies and low:
            lines.append(f"  no creation-time setting frees the RMRR at {hexa(low[0].rmrr.base)}: "
                         f"libxl never moves guest RAM below 1 MiB, so the range is always guest "
                         f"RAM; only rdm_policy=relaxed attaches the device (the range then stays "
                         f"guest RAM)")
        if remedies:
            text += "\nWhat to put in the config at creation:\n" + "\n".join(lines) + "\n"
        elif xml and not (att.ok and att.honoured):
            text += ("\nAt creation: libvirt's libxl driver starts every domain with rdm strategy "
                     "ignore, so no domain XML setting keeps another device's RMRR free of guest "
                     "RAM for a later hot-plug\n")
        if status == EXIT_OK:
            verdict = "`xl pci-attach` succeeds and every RMRR is identity-mapped"
            head = f"OK: {verdict}"
        elif status == EXIT_INPUT:
            verdict = head = ("UNKNOWN: `xl pci-attach` assigns the device, but the host data "
                              "does not list the host's RMRRs")
        elif status == EXIT_DEGRADED:
            why = ("an RMRR is not honoured" if not att.honoured else
                   "it splits an RMRR sharing group: a member stays in dom0 (or in another guest)")
            verdict = f"`xl pci-attach` succeeds, but {why}"
            head = f"DEGRADED: {verdict}"
        else:
            verdict = "`xl pci-attach` FAILS"
            head = f"FAILS: {_cause(att.findings)}"
        text += f"\nVerdict: {verdict}\n"
        # the first line: the device, the guest, the outcome and its cause (as create's)
        first, _, rest = text.partition("\n")
        text = f"{first}: {escape(head)} (exit {status})\n{rest}"
        from xlrmrr.report.colour import paint

        sys.stdout.write(paint(text, args))

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
