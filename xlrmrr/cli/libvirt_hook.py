"""`xlrmrr libvirt-hook NAME OPERATION SUBOPERATION EXTRA`: libvirt's libxl hook.

Installed as /etc/libvirt/hooks/libxl.d/50-xlrmrr (contrib/libvirt/50-xlrmrr), libvirtd runs it
with the domain XML on stdin; at `prepare begin` xlrmrr plans the guest as libvirt's libxl
driver will build it and refuses a start that would fail.
"""

from __future__ import annotations

HELP = "libvirt libxl hook: refuse to start a domain whose passthrough would fail"
DESCRIPTION = """\
Run by libvirtd (libvirt's libxl driver) as a hook script, with the domain XML on stdin:
    /etc/libvirt/hooks/libxl.d/50-xlrmrr NAME OPERATION SUBOPERATION EXTRA
At `NAME prepare begin -` (before the driver builds the domain) xlrmrr reads the XML as the
driver translates it (strategy ignore, the strict policy for every <hostdev> and <interface
type='hostdev'>, libxl's default rdm_mem_boundary of 2048 MiB), plans it against the host and,
when creation would fail, prints one paragraph to stderr (what fails, why, what to change in
the XML) and exits 1: libvirt aborts the start and shows the paragraph in its error. Every other
operation exits 0 at once without reading stdin; so does a domain without PCI devices.

Host data: the live host (/sys), unless XLRMRR_HOST_ARGS gives host options such as
`--snapshot /var/lib/xlrmrr/host.tar.gz` or `--dmar FILE --host-json FILE` (also --xen-version,
--no-hap, --rmrr). The environment variable wins; else XLRMRR_HOST_ARGS= in /etc/default/xlrmrr
(another file: XLRMRR_DEFAULTS=PATH). libvirtd gives hooks a clean environment, so on a real
host the file is the place for it.

A guest that starts but whose RMRR would not be honoured (exit 3 of create) starts: the hook
prints a warning paragraph to stderr (libvirt logs it) and exits 0.
"""

MAX_XML = 4 << 20


def add_arguments(p):
    p.add_argument("name", metavar="NAME", help="the domain's name (libvirt's first argument)")
    p.add_argument("operation", metavar="OPERATION", help="prepare, start, started, stopped, "
                   "release, migrate, reconnect, ...; only prepare is checked")
    p.add_argument("suboperation", metavar="SUBOPERATION", help="begin or end (libvirt's third "
                   "argument); only `prepare begin` is checked")
    p.add_argument("extra", metavar="EXTRA", nargs="?", default="-",
                   help="libvirt's fourth argument, '-' for prepare (ignored)")


def _host_options(argv: list, where: str):
    import argparse

    from xlrmrr.cli import add_common
    from xlrmrr.cli.hostargs import add_host_arguments
    from xlrmrr.common import InputError

    p = argparse.ArgumentParser(prog=where, add_help=False, exit_on_error=False)
    add_common(p, json=False)
    add_host_arguments(p)
    p.add_argument("--no-hap", action="store_true")
    try:
        ns, extra = p.parse_known_args(argv)
    except argparse.ArgumentError as e:
        raise InputError(f"{where}: {e}") from None
    if extra:
        raise InputError(f"{where}: {extra[0]!r} is not a host option (use --dmar, --acpidump, "
                         "--xen-log, --snapshot, --host-json, --rmrr, --xen-version, --no-hap)")
    return ns


def run(args) -> int:
    if (args.operation, args.suboperation) != ("prepare", "begin"):
        return 0
    from xlrmrr.common import InputError

    try:
        return _check(args)
    except InputError as e:
        raise InputError(f"{e} (the xlrmrr hook cannot check domain '{args.name}', so libvirt "
                         "does not start it; fix this, or remove the hook "
                         "/etc/libvirt/hooks/libxl.d/50-xlrmrr)") from None


def _check(args) -> int:
    import os
    import sys
    from dataclasses import replace

    from xlrmrr.cli.hostargs import host_and_version, host_loader
    from xlrmrr.common import InputError
    from xlrmrr.driver import VERDICT_BLOCKED, VERDICT_OK, Options, plan
    from xlrmrr.integration.libvirt import apply_to_plan, failure_paragraph, host_args
    from xlrmrr.xlcfg import is_domain_xml
    from xlrmrr.xlcfg.libvirt import load_domain

    source = f"domain '{args.name}' (XML on stdin)"
    data = sys.stdin.buffer.read(MAX_XML + 1)
    if len(data) > MAX_XML:
        raise InputError(f"{source}: larger than {MAX_XML >> 20} MiB")
    if not is_domain_xml(data):
        raise InputError(f"{source}: stdin is not domain XML (libvirt passes the domain "
                         "definition on stdin)")
    domain, _findings, _lv = load_domain(data, source, None)
    if not domain.pci:
        return 0        # no passthrough: no RMRR to plan, no host data needed
    argv, where = host_args(os.environ)
    opts = _host_options(argv, where)
    host, version, note = host_and_version(opts, host_loader(opts))
    domain = replace(domain, xen_version=version)
    p = plan(domain, host, version, Options(hap_available=not opts.no_hap,
                                            compare_versions=False))
    p = apply_to_plan(p, source)
    if p.verdict == VERDICT_OK:
        return 0
    from xlrmrr.report import escape

    shown = where if argv else "the live host (/sys)"
    text = failure_paragraph(args.name, p, shown)
    if p.verdict == VERDICT_BLOCKED:
        print(escape(text), file=sys.stderr)
        return 1
    print(escape("warning (the domain starts): " + text), file=sys.stderr)
    return 0
