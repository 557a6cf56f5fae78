"""`xlrmrr create GUEST.cfg --dry-run`: plan the guest through libxl, libxc, the hypervisor and
hvmloader, explain the memory layout, and (without --dry-run) run `xl create` when it is clean."""

from __future__ import annotations

import argparse

from xlrmrr.cli import Formatter, add_common
from xlrmrr.cli.hostargs import add_host_arguments  # argparse only: cheap

HELP = "plan a guest's memory layout around the host's RMRRs, then (optionally) xl create it"
DESCRIPTION = """\
Reproduce what `xl create GUEST.cfg` would do with the host's reserved device memory: which RMRRs
libxl selects and with which policy, where the end of low RAM moves, what fails (strict) or is
silently dropped (relaxed), the XENMEM_set_memory_map payload, the pages libxc populates, the
hvm_info table, device assignment, hvmloader's BAR placement and the guest's final e820; with
config changes that fix each problem, each one checked by planning again.

Without --xen-version the release the host data was collected under (snapshot or host JSON) is
modelled, else the running hypervisor's, else the newest; the report compares the outcome with
every release band (4.6, 4.7, 4.8-4.9, 4.10-4.11, 4.12, 4.13, 4.14, 4.15, 4.16, 4.17, 4.18,
4.19-4.20, 4.21, 4.22; a line whose point releases behave differently, through the backports
to 4.12.4, 4.13.2, 4.13.5, 4.14.1, 4.14.3, 4.14.5, 4.15.1, 4.15.3, 4.16.1, 4.17.4 or 4.18.1,
in one part per behaviour) and says where it differs; releases that differ alike share a row. Out of scope:
AMD IVMD ranges (reported by Xen from 4.16; xlrmrr reads Intel DMAR tables only) and PVH ACPI
module typing (4.21; passthrough is planned for HVM guests only).

With -n/--dry-run nothing is created. Without it xlrmrr is a drop-in for `xl create`
(`alias xl-create='xlrmrr create'`): it takes xl create's own options and operands in xl's
syntax and positions (-q -f FILE -p -c -V -A -d -F -e -i, KEY=VALUE items, in any order, as
xl's main_create reads them with getopt; a -- is accepted and separates nothing), plans the guest as xl will
build it (KEY=VALUE items are appended to the file as xl appends them) and, when the plan is
clean, runs `xl create GUEST.cfg XL_OPTIONS... KEY=VALUE...` (no shell), exiting with xl's
status. A blocked plan never runs xl; a degraded one only with --allow-degraded.

Launches plan from this machine's /sys (or --root DIR, a copy of a host's /sys as `host
snapshot --root` reads it, e.g. a chroot or an image); planning from host files (--dmar,
--snapshot, ...) before a launch is said on the first line of stderr.

rdm_forcecheck (the original RMRR design's key, unknown to xl) is translated into the settings
of the modelled release, handed to xl as KEY=VALUE items after the user's (the user's file is
never changed), and the translated config is planned again: xl runs only when it reaches the
same reservation. Where no real spelling can (from 4.15 xl drops an rdm= line that carries a
valid policy, so the global policy of `strategy=host` is undefined), xlrmrr says what differs
and does not run xl unless --accept-difference is given.

With --fix (and --dry-run) the report is replaced by the change xlrmrr recommends (the proposals
are ranked: keep what the file says, then the guest's memory and every RMRR mapped 1:1; never a
relaxed IGD, never a key xl ignores), as a unified diff of GUEST.cfg that changes only the lines
it must, verified by planning the changed file again; --write also saves it as GUEST.cfg.new.

GUEST.cfg that is not a file is looked up as /etc/xen/GUEST.cfg, then /etc/xen/GUEST (below
--root DIR if given), and the file used is said on stderr; xl itself reads only the path it is
given, so that is the path xlrmrr passes it.
"""


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _add_xl_options(p) -> None:
    """xl create's own options (tools/xl/xl_vmcontrol.c:main_create), passed through to xl."""
    from xlrmrr.integration.xl import XL_FLAGS, flag_dest

    g = p.add_argument_group("xl create's own options (passed to xl create, as xl(1) describes them)")
    g.add_argument("-f", "--defconfig", metavar="FILE",
                   help="xl: the config file (instead of the GUEST.cfg operand)")
    for short, long, text in XL_FLAGS:
        names = (short, long) if long else (short,)
        g.add_argument(*names, dest=flag_dest(short), action="store_true", help=text)


def _add_options(p) -> None:
    p.add_argument("-n", "--dry-run", "--dryrun", action="store_true",
                   help="only plan and report; never run xl (xl create's own -n/--dryrun prints "
                        "the domain config and creates nothing; run xl for that)")
    add_common(p)
    detail = p.add_mutually_exclusive_group()
    detail.add_argument("--brief", action="store_true",
                        help="text: only the first line (the verdict and its cause), the "
                             "problems (errors and warnings) and the recommended fix")
    detail.add_argument("--verbose", action="store_true",
                        help="text: the whole report: also the payloads (populate_physmap, "
                             "hvm_info, XENMEM_set_memory_map), hvmloader's BARs and e820, the "
                             "page tables and pre-4.6 history, the notes (info findings) and "
                             "how each other Xen release band differs")
    p.add_argument("--emit", metavar="DIR",
                   help="write hvm_info.bin, memory_map.bin, e820.bin and plan.json into DIR, all or "
                        "nothing (created if missing; only these four names are ever touched, and only "
                        "files an earlier --emit wrote, unless --force; a payload the plan does not "
                        "reach, e.g. after a libxl failure, is removed, not left stale)")
    p.add_argument("--force", action="store_true",
                   help="with --emit: replace those names in DIR even if xlrmrr did not write them")
    p.add_argument("--fix", action="store_true",
                   help="with --dry-run: print the recommended change instead of the report, as a "
                        "unified diff of GUEST.cfg (--- GUEST.cfg / +++ GUEST.cfg.new, for patch(1)) "
                        "that edits only the lines it must, after a few `#` lines: the report's "
                        "first line (the outcome and its cause), the verdict the change was "
                        "planned to, the change and why it is recommended; the exit status "
                        "stays that of GUEST.cfg as it is")
    p.add_argument("--write", action="store_true",
                   help="with --fix: also write the changed file as GUEST.cfg.new (atomically; "
                        "never over an existing file: exit 2 if it exists); GUEST.cfg itself is "
                        "never modified")
    add_host_arguments(p)
    g = p.add_argument_group("modelling parameters (firmware-build dependent; defaults documented)")
    g.add_argument("--no-hap", action="store_true",
                   help="the host has no HAP (EPT): libxl's default is then shadow paging")
    g.add_argument("--bios-base", type=_int, metavar="ADDR",
                   help="hvmloader's BIOS image base (default: SeaBIOS 0xe0000, OVMF 0xf0000)")
    g.add_argument("--acpi-end", type=_int, metavar="ADDR",
                   help="end of hvmloader's ACPI area (default 0xfc00a000)")
    l_ = p.add_argument_group("launching (without --dry-run)")
    l_.add_argument("--allow-degraded", action="store_true",
                    help="run xl create even if an RMRR would not be honoured (exit status 3 "
                         "otherwise)")
    l_.add_argument("--accept-difference", action="store_true",
                    help="run xl even where rdm_forcecheck cannot be spelled for the modelled "
                         "release's xl (the guest then gets the reservation xlrmrr reports for "
                         "the nearest settings, not the one planned)")
    l_.add_argument("--root", metavar="DIR",
                    help="this machine's files are below DIR: /sys for live host data (a copy "
                         "of a host's /sys, as `host snapshot --root` reads it) and /etc/xen for "
                         "guest names; default /")
    _add_xl_options(p)


def add_arguments(p):
    _add_options(p)
    p.add_argument("config", nargs="?", metavar="GUEST.cfg",
                   help="the guest's xl config file, or a name under /etc/xen")
    p.add_argument("xl_args", nargs=argparse.REMAINDER, metavar="KEY=VALUE",
                   help="items that change the config as xl does (appended to it) and are "
                        "passed to `xl create`; options may come anywhere, as for xl")


def _split_rest(args) -> tuple[list, list]:
    """(config operands, KEY=VALUE items) of the command line, as xl's main_create sorts them
    (getopt permutes: options, the config and items may come in any order). Options after
    GUEST.cfg are parsed like those before it. A -- is accepted and separates nothing (earlier
    xlrmrr wanted xl's options after it; argparse drops the first -- itself)."""
    from xlrmrr.common import InputError
    from xlrmrr.integration.xl import classify_operands

    rest = ([args.config] if args.config is not None else []) + list(args.xl_args or [])
    rest = [a for a in rest if a != "--"]
    operands = []
    if rest:
        parser = argparse.ArgumentParser(prog="xlrmrr create", add_help=False, exit_on_error=False,
                                         formatter_class=Formatter)
        _add_options(parser)
        try:
            _ns, operands = parser.parse_known_args(rest, namespace=args)
        except argparse.ArgumentError as e:
            args.json = args.json or "--json" in rest   # not reached by the parse it stopped
            raise InputError(str(e)) from None
    configs, items, unknown = classify_operands(operands)
    if unknown:
        raise InputError(f"unrecognized option {unknown[0]}: neither xlrmrr create's nor xl "
                         f"create's (-q -f FILE -p -c -V -A -d -F -e -i); see xlrmrr create --help")
    return configs, items


def _config_operand(args, configs) -> str:
    """The one config file, given as an operand or with -f, as xl takes it."""
    from xlrmrr.common import InputError

    if args.defconfig is not None:
        if configs:
            raise InputError(f"the config is given twice ({configs[0]} and -f {args.defconfig}); "
                             f"give one (xl create refuses a second config operand)")
        return args.defconfig
    if len(configs) > 1:
        raise InputError(f"more than one config file: {', '.join(configs[:3])}; xl create takes "
                         f"one (KEY=VALUE items hold '=')")
    if not configs:
        raise InputError("give the guest's config: GUEST.cfg, a name under /etc/xen, or -f FILE "
                         "(xl create itself exits 6: 'Config file not specified')")
    return configs[0]


def _firmware_sizes(domain, findings):
    import os

    from xlrmrr.common import Finding

    out = []
    for kind in ("acpi_firmware", "smbios_firmware"):
        path = getattr(domain, kind, None)
        if not path:
            continue
        try:
            out.append((kind, os.stat(path).st_size))
        except OSError as e:
            findings.append(Finding("warning", "firmware-unreadable", "libxl",
                                    f"{kind}={path!r}: cannot read it here ({e.strerror}); its placement "
                                    f"is not checked against the RDMs"))
    return tuple(out)


def _raise_or(value):
    if isinstance(value, Exception):
        raise value
    return value


def _domain_for(load_domain, data: bytes, source: str, version, parse):
    """The config as another release's xl reads it (from the one libxlu parse, which does not
    depend on the release); a file that xl rejects raises InputError."""
    from xlrmrr.cli.guest import XL_EXITS, XL_UNPARSABLE
    from xlrmrr.common import InputError

    domain, findings, _parse = load_domain(data, source, version, parse)
    for f in findings:
        if f.code in XL_UNPARSABLE + XL_EXITS:
            raise InputError(f.message)
    return domain


def run(args) -> int:
    """Bad input, a config xl refuses included, is one escaped stderr line and exit status 2;
    with --json stdout carries one object (the xl-stage plan of a refused config, else the
    error object every command prints)."""
    from xlrmrr.common import EXIT_INPUT, InputError

    try:
        return _run(args)
    except InputError as e:
        _error_line(str(e))
        if args.json:
            from xlrmrr.cli import error_json
            print(error_json(str(e), "create --fix" if args.fix else "create"), end="")
        return EXIT_INPUT


def _error_line(message: str) -> None:
    import sys

    from xlrmrr.report import escape

    print(escape(f"xlrmrr create: error: {message}"), file=sys.stderr)


def _libvirt_xml(raw: bytes, args, xl_args) -> bool:
    """A libvirt domain XML is planned as libvirt's libxl driver builds it; only libvirt starts
    it (virsh, where the xlrmrr hook checks it), and xl's KEY=VALUE items do not apply."""
    from xlrmrr.common import InputError
    from xlrmrr.xlcfg import is_domain_xml

    if not is_domain_xml(raw):
        return False
    if xl_args:
        raise InputError(f"{args.config} is libvirt domain XML: xl's options and KEY=VALUE "
                         f"items ({xl_args[0]}) do not apply to it")
    if not args.dry_run:
        raise InputError(f"{args.config} is libvirt domain XML, which libvirt starts (`virsh "
                         f"create {args.config}`; the xlrmrr libvirt hook checks it then), not "
                         f"xl: add --dry-run to plan it here")
    return True


def _run(args) -> int:
    import sys
    from dataclasses import replace

    from xlrmrr.cli.guest import XL_EXITS, file_typos, load_guest_hinted, rereader
    from xlrmrr.cli.hostargs import host_and_version, host_loader
    from xlrmrr.common import EXIT_INPUT, InputError
    from xlrmrr.compare import compared_versions
    from xlrmrr.driver import EXIT_FOR, Options, plan, refused_by_xl, unique
    from xlrmrr.files import read_input
    from xlrmrr.xlcfg import load_domain

    configs, items = _split_rest(args)
    from xlrmrr.integration.etc import resolve_config

    args.config, found = resolve_config(_config_operand(args, configs), args.root)
    args.found_note = found
    if found and args.dry_run:
        from xlrmrr.cli.launch import note  # not at the top: a dry run never launches

        note(found)
    if args.force and not args.emit:
        raise InputError("--force only applies with --emit DIR (it lets --emit replace files "
                         "xlrmrr did not write); add --emit DIR or drop --force")
    if args.write and not args.fix:
        raise InputError("--write only applies with --fix (it writes the fixed file as "
                         "GUEST.cfg.new); add --fix")
    if args.fix and not args.dry_run:
        raise InputError("--fix only applies with --dry-run: xlrmrr never launches a config it "
                         "changed; add --dry-run, review the diff, then create the guest")
    from xlrmrr.hvmloader.model import firmware_parameter_error
    bad = firmware_parameter_error(args.bios_base, args.acpi_end)
    if bad:
        raise InputError(bad)
    raw = read_input(args.config, "xl config")
    from xlrmrr.integration.xl import XL_FLAGS, config_data, flag_dest

    xl_flags = [short for short, _l, _h in XL_FLAGS if getattr(args, flag_dest(short), False)]
    xml = _libvirt_xml(raw, args, [*xl_flags, *items])
    if xml and args.fix:
        raise InputError(f"{args.config} is libvirt domain XML: --fix edits xl config files; "
                         f"make the change the report proposes with `virsh edit`")
    data = config_data(raw, items)
    load_host = host_loader(args)
    host, version, version_note = host_and_version(args, load_host)
    domain, xl_findings, parse = load_guest_hinted(data, args.config, version)
    findings: list = list(xl_findings) + list(version_note)
    sizes = _firmware_sizes(domain, findings)
    xen_domain = None
    if domain.rdm_forcecheck is not None:
        # xl ignores the design's key: read the file once more with it overridden (the last
        # assignment wins in libxlu) to get what xl really hands to libxl.
        xen_domain = load_domain(data + b'\nrdm_forcecheck = "ignored by xl"\n', args.config, version)[0]
    # xl itself refuses the file: no other stage runs, so no release comparison.
    compare = not any(f.code in XL_EXITS for f in findings)
    # Read the inputs as every other release band would, here, so that plan() does no I/O.
    # xl reads the file alike in every release of one xl band (releases.xl_key): it is read
    # once per band, the DomainConfig then carrying each release's number.
    domains: dict = {}
    if compare:
        from xlrmrr.releases import xl_key

        by_band: dict = {xl_key(version): domain}
        for v in compared_versions(version):
            band = xl_key(v)
            if band in by_band:
                domains[str(v)] = replace(by_band[band], xen_version=v)
                continue
            try:
                domains[str(v)] = by_band[band] = _domain_for(load_domain, data, args.config, v,
                                                              parse)
            except InputError as e:
                domains[str(v)] = e
    options = Options(hap_available=not args.no_hap, bios_base=args.bios_base, acpi_end=args.acpi_end,
                      firmware_sizes=sizes, xen_domain=xen_domain, compare_versions=compare,
                      host_for_version=load_host.for_band,
                      domain_for_version=lambda v: _raise_or(domains[str(v)]),
                      reread=None if xml else rereader(raw, items, args.config, version),
                      typos=() if xml else file_typos(raw, parse))
    if compare:
        result = plan(domain, host, version, options)
    else:       # xl exits while reading the file: libxl and everything after never run
        result = refused_by_xl(domain, host, version, options)
    extra = tuple(findings) + tuple(getattr(host, "findings", ()))
    if not compare:     # a config xl refuses is bad input: --json still shows the xl stage
        result = replace(result, findings=extra + result.findings)
        if args.json:
            from xlrmrr.report.create_json import json_text
            sys.stdout.write(json_text(result))
            sys.stdout.flush()
        from xlrmrr.cli.guest import refusal

        _error_line(refusal(findings, args.config, raw.count(b"\n") + 1))
        return EXIT_INPUT
    result = replace(result, findings=unique(extra + result.findings), exit_status=EXIT_FOR[result.verdict])
    if xml:
        from xlrmrr.integration.libvirt import apply_to_plan
        result = apply_to_plan(result, args.config)
    args.forcecheck_launch = None
    if domain.rdm_forcecheck is not None and not xml:
        from xlrmrr.cli.launch import forcecheck_launch

        result = forcecheck_launch(args, result, raw, items, host, version, domain, xen_domain)

    from xlrmrr.report.create import text
    from xlrmrr.report.create_json import json_text, payload_files

    if args.emit:
        from xlrmrr.files import write_payloads

        write_payloads(args.emit, payload_files(result), args.force)
    if args.fix:
        return _fix(args, result, raw)
    if args.json:
        out = json_text(result)
    else:
        from xlrmrr.report.colour import paint

        out = paint(text(result, args.config, _level(args)), args)
    if args.dry_run:
        sys.stdout.write(out)
        if result.verdict == "unknown":         # exit 2: the one line naming the input
            _error_line(f"{host.rmrrs_unknown}: the host's RMRRs are unknown, so this plan "
                        f"cannot tell whether the guest works (verdict unknown)")
        return result.exit_status
    from xlrmrr.cli.launch import launch

    return launch(args, result, out, raw, items, host, version, domain, xen_domain)


def _level(args) -> str:
    from xlrmrr.report.create import BRIEF, DEFAULT, VERBOSE

    return BRIEF if args.brief else VERBOSE if args.verbose else DEFAULT


def _fix(args, result, raw: bytes) -> int:
    """--fix: the recommended change as a diff of the file (and, --write, GUEST.cfg.new)."""
    import os
    import sys

    from xlrmrr.cli.launch import note
    from xlrmrr.common import InputError
    from xlrmrr.remedies.cfgtext import apply_bytes, unified_diff
    from xlrmrr.remedies.rank import why_line
    from xlrmrr.report.create import headline

    fix = next((r for r in result.remediation if r.recommended), None)
    new_name = args.config + ".new"
    # the first line is the report's: the outcome and its cause
    head, diff, written = [f"# {headline(result, args.config)}"], "", None
    if fix is None:
        head.append("# nothing to change" if result.verdict == "ok" else
                    f"# no verified change fixes it; `xlrmrr create {args.config} --dry-run` "
                    f"explains why")
    else:
        new = apply_bytes(raw, fix.edits)
        diff = unified_diff(raw, new, args.config)
        head += [f"# the recommended change, planned again on Xen {result.xen_version}: verdict "
                 f"{fix.verdict}", f"# change: {fix.change}", f"# why: {why_line(fix)}"]
        if args.write:
            try:
                mode = os.stat(args.config).st_mode & 0o7777
                from xlrmrr.files import write_atomic

                write_atomic(new_name, new, exclusive=True, mode=mode)
            except FileExistsError:
                raise InputError(f"{new_name} exists; not replacing it: remove or rename it, "
                                 f"then run --fix --write again") from None
            except OSError as e:
                raise InputError(f"{new_name}: cannot write it: {e.strerror or e}") from None
            written = new_name
    if args.json:
        from xlrmrr.report.document import dumps

        out = {"config": args.config, "guest": result.domain.name,
               "xen_version": str(result.xen_version), "verdict": result.verdict,
               "exit_status": result.exit_status,
               "fix": None if fix is None else {**fix.to_json(), "diff": diff,
                                                "written": written}}
        sys.stdout.write(dumps("create --fix", out, indent=2))
    else:
        from xlrmrr.report import escape
        from xlrmrr.report.colour import paint_diff

        sys.stdout.write(paint_diff("".join(escape(line) + "\n" for line in head) + diff, args))
    if written:
        note(f"wrote {written} ({args.config} is unchanged): review it, then move it over "
              f"{args.config}")
    return result.exit_status
