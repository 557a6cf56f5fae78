"""`xlrmrr explain LOG... [--cfg GUEST.cfg]`: what the RDM-related messages of a failed start
mean, which Xen rule printed each, whose range it is, and (with --cfg) the verified fix.

`--json` prints one object: sources, lines_read, releases (the releases whose message forms
fit the log), releases_by_source_line (those narrowed by libxl's FILE:LINE prefixes), xen_version
(modelled), outcome (fails | vtd-disabled | degraded | info), exit_status, messages (code,
component, where, outcome, releases, source, line, text, domid, sbdf, addrs, start, size (the
range the message names), errno, count, printed_at (libxl's FILE:LINE:FUNCTION or null),
meaning, change, owners [{start, size, devices, classes, shared}]), notes, and plan (null
without --cfg: config, guest, verdict, reproduced per message, fix {change, verified, result,
verdict, recommended, why, edits} or null, fix_as_diff, other_fixes, findings); docs/json.md
has the conventions.
"""

from __future__ import annotations

from xlrmrr.cli import add_common
from xlrmrr.cli.hostargs import add_host_arguments  # argparse only: cheap

HELP = "explain the RDM messages of a failed xl create / pci-attach / xl dmesg, with the fix"
DESCRIPTION = """\
Read the stderr of `xl create` or `xl pci-attach` and `xl dmesg` output (timestamps, "(XEN)",
"libxl: error: FILE:LINE:FUNCTION:" and "Domain N:" prefixes are fine; several files, or one
holding both) and pick out every message xl, libxl, Xen and hvmloader print about reserved
device memory: libxl's "RDM conflict at 0x..." and "Ignoring RDM conflict", "checking reserved
device memory failed", "xc_assign_device failed", the hypervisor's "disallowed to assign ...
with shared RMRR", "cannot map reserved region", "Cannot setup identity map", the PoD refusal
(both its texts), "Too many entries in the memory map", hvmloader's dynamic-area conflict, and
Xen's DMAR complaints at boot.

For each: the rule that fired (Xen component, source file and function, the releases that
print it in that form), what it means for the guest, the range and (with host data) the
RMRR and device it belongs to. The forms changed between releases ("Dom1" became "d1",
"(base,end]" became "[base,end]"), so the log also says which releases could have printed it.
libxl's messages carry the source file, line and function that printed them, and the lines
move between releases: where they match a release tag's, they narrow the release further (a
distribution's patches can shift the lines; a line no tag has is said and not used).

With --cfg the guest is planned again for the release modelled (--xen-version; else the one
the host data was recorded under; else the newest release whose forms and libxl source lines
fit the log), the
report says whether the plan reproduces each message, and prints the fix: the recommended
verified change where the planner marks one, else the first verified one.
"""

EPILOG = """\
exit status:
  0  the messages found are context only (nothing failed)
  1  the log shows a failure (creation, assignment, hvmloader) or VT-d disabled by Xen
  2  nothing RDM-related in the log, or bad input or usage
  3  the guest started without an RMRR honoured (relaxed policy, shared RMRR risked)

host data (optional here: without it ranges are not tied to devices) comes from --dmar,
--acpidump, --snapshot, --host-json or --xen-log; with --cfg and no host option this
machine's /sys is read, as `xlrmrr create` does.
"""


def add_arguments(p):
    p.epilog = EPILOG
    p.add_argument("logs", metavar="LOG", nargs="+",
                   help="xl create / xl pci-attach stderr, xl dmesg output, or a file with both")
    p.add_argument("--cfg", metavar="GUEST.cfg",
                   help="the guest's xl config: plan it again and print the verified fix")
    add_common(p, default="recorded")
    add_host_arguments(p)
    p.add_argument("--no-hap", action="store_true",
                   help="with --cfg: the host has no HAP (EPT): libxl's default is then shadow "
                        "paging")


_HOST_OPTIONS = ("dmar", "acpidump", "xen_log", "snapshot", "host_json", "rmrr")


def run(args) -> int:
    import sys

    from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_OK, InputError, XenVersion
    from xlrmrr.explain.messages import recognise, worst_outcome
    from xlrmrr.explain.releases import (
        CANDIDATES,
        candidate_of,
        describe_releases,
        fitting_releases,
        located_releases,
        version_for,
    )
    from xlrmrr.explain.rules import DEGRADED, INFO
    from xlrmrr.files import read_input

    explicit = XenVersion.parse(args.xen_version) if args.xen_version else None
    messages, lines_read = [], 0
    for path in args.logs:
        text = read_input(path, "log").decode("utf-8", "surrogateescape")
        lines = text.splitlines()
        lines_read += len(lines)
        messages.extend(recognise(lines, path))
    if not messages:
        names = ", ".join(args.logs)
        raise InputError(f"{names}: no RDM-related message of xl, libxl, Xen or hvmloader in "
                         f"{lines_read} line(s); give the stderr of xl create / xl pci-attach "
                         f"or the output of xl dmesg")
    fitting = fitting_releases(messages)
    located, unplaced = located_releases(messages, fitting)
    host = None
    notes: list[str] = []
    for m in unplaced:
        notes.append(f"no release tag's libxl prints '{m.rule.code}' at {m.site[0]}:{m.site[1]} "
                     f"({m.site[2]}): a distribution's patches or a build between tags; that "
                     f"line is not used to tell the release")
    wants_host = any(getattr(args, k, None) for k in _HOST_OPTIONS) or args.cfg
    load_host = None
    if wants_host:
        from xlrmrr.cli.hostargs import host_loader

        load_host = host_loader(args)
    version = explicit
    if version is None and load_host is not None:
        host = load_host(None)
        recorded = host.xen_version
        if recorded is not None and (not fitting or candidate_of(recorded) in fitting):
            version = recorded
            notes.append(f"modelling Xen {version}, the release the host data was recorded "
                         f"under; --xen-version models another")
        elif recorded is not None:
            notes.append(f"the host data was recorded under Xen {recorded}, but that release "
                         f"does not print these messages in these forms")
    if version is None:
        newest = max(located) if located else CANDIDATES[-1]
        version = version_for(newest)
        if located != fitting:
            notes.append(f"modelling Xen {version}, the newest release whose libxl prints these "
                         f"messages at the source lines the log names (libxl's FILE:LINE "
                         f"prefixes fit {describe_releases(located)}; a distribution's patches "
                         f"can shift them); --xen-version models another")
        elif fitting:
            notes.append(f"modelling Xen {version}, the newest release whose messages fit the "
                         f"log; --xen-version models another")
    if not fitting:
        notes.append("the messages' forms do not all come from one release (logs of different "
                     "Xen versions mixed?)")
    elif candidate_of(version) not in fitting:
        notes.append(f"Xen {version} does not print these messages in these forms (they fit "
                     f"{describe_releases(fitting)}): the log comes from another release")
    elif candidate_of(version) not in located:
        notes.append(f"Xen {version}'s libxl prints these messages at other source lines than "
                     f"the log names (those of {describe_releases(located)}): the log comes "
                     f"from another release, or from a build with patches")
    if load_host is not None and (host is None or host.xen_version != version):
        host = load_host(version)
    result = None
    if args.cfg:
        result = _replan(args, host, version)
    outcome = worst_outcome(messages)
    status = EXIT_OK if outcome == INFO else EXIT_DEGRADED if outcome == DEGRADED else EXIT_FAIL
    from xlrmrr.report.colour import paint
    from xlrmrr.report.explain import json_text, report
    from xlrmrr.report.explain import text as report_text

    r = report(args.logs, args.cfg, messages, lines_read, fitting, version, outcome, status,
               notes, host, result, located)
    sys.stdout.write(json_text(r) if args.json else paint(report_text(r), args))
    return status


def _replan(args, host, version):
    from xlrmrr.cli.guest import file_typos, load_guest, refuse_if_xl_exits, rereader
    from xlrmrr.driver import Options, plan
    from xlrmrr.files import read_input

    data = read_input(args.cfg, "xl config")
    domain, xl_findings, parse = load_guest(data, args.cfg, version)
    refuse_if_xl_exits(xl_findings, args.cfg)
    # the fixes verified on the file as --fix edits it (not for libvirt XML)
    from xlrmrr.xlcfg import is_domain_xml

    xml = is_domain_xml(data)
    reread = None if xml else rereader(data, (), args.cfg, version)
    p = plan(domain, host, version, Options(hap_available=not args.no_hap,
                                             compare_versions=False, reread=reread,
                                             typos=() if xml else file_typos(data, parse)))
    from dataclasses import replace

    from xlrmrr.driver import unique

    return replace(p, findings=unique(tuple(xl_findings) + p.findings))
