"""`xlrmrr cfg FILE`: how xl reads a domain config, with lint findings that explain surprises."""

from __future__ import annotations

from xlrmrr.cli import add_common, xen_version
from xlrmrr.report import escape
from xlrmrr.report.cfg import json_text, refusals, text, unreadable_json

HELP = "show how xl reads a domain config file (settings, xl's messages, typed config, lint)"
DESCRIPTION = """\
Read an xl domain config exactly as Xen's libxlutil does and show every setting (kind, value,
line, operator), xl's own parser messages verbatim, the typed configuration xl hands to libxl
for the chosen Xen release, and findings that explain what xl will silently ignore (an rdm= line,
a nested pci= item, a key xl does not know, rdm_forcecheck, CRLF line endings, ...).
Exit status 0 when xl would accept the file, 2 when it would not.

Text output shows control characters from the file as C escapes (\\r, \\x1b) and bytes that are
not UTF-8 as \\xNN. --json prints every string as it is in the file when the file (and its name) are
UTF-8; otherwise the whole object is read as Latin-1, one character U+0000-U+00FF per byte, and
carries "encoding": "latin-1" (else "utf-8"), so that encoding each string as Latin-1 gives back
its exact bytes. The object has the same keys whatever the outcome: when xl rejects the file,
"settings" is {}; when the file cannot be read at all, "settings" is {}, "diagnostics" "" and
"domain" null, with the one error in "findings".

A libvirt domain XML (virsh dumpxml NAME) is read as libvirt's libxl driver builds the domain
(src/libxl/libxl_conf.c): the output lists the libxl_domain_config fields the RMRR flow uses,
under libxl's own names (c_info.type, b_info.max_memkb, b_info.u.hvm.rdm, pcidevs[N], ...);
--json gives them as libxl's JSON prints them ("libxl_domain_config") next to "domain"."""

MAX_CONFIG = 4 << 20        # no real domain config comes near this


def add_arguments(p):
    p.add_argument("config", metavar="FILE", help="the xl domain config (.cfg), or a libvirt "
                   "domain XML (detected by content: it starts with '<')")
    add_common(p, default="running")


def run(args) -> int:
    import sys

    from xlrmrr.common import EXIT_INPUT, EXIT_OK, InputError
    from xlrmrr.files import read_input
    from xlrmrr.xlcfg import load_domain

    version = xen_version(args)
    try:
        data = read_input(args.config, "xl config", limit=MAX_CONFIG)
    except InputError as e:
        if args.json:
            _write(unreadable_json(str(e), args.config, latin1=not _utf8(b"", args.config)))
            args.json_written = True
        raise
    from xlrmrr.xlcfg import is_domain_xml
    if is_domain_xml(data):
        return _run_xml(args, data, version)
    domain, findings, cfg = load_domain(data, args.config, version)
    out = (json_text(cfg, domain, findings, args.config, latin1=not _utf8(data, args.config))
           if args.json else text(cfg, domain, findings))
    if not args.json:
        from xlrmrr.report.colour import paint

        out = paint(out, args)
    _write(out)
    fatal = refusals(findings)
    if fatal:
        why = cfg.diagnostics.split("\n", 1)[0] if not cfg.ok and not cfg.aborted \
            else fatal[0].message
        print(escape(f"xlrmrr cfg: error: xl would not accept {args.config}: {why}"),
              file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK


def _run_xml(args, data: bytes, version) -> int:
    """libvirt domain XML: the libxl_domain_config libvirt's libxl driver builds from it."""
    from xlrmrr.common import InputError
    from xlrmrr.report import libvirt as report
    from xlrmrr.xlcfg.libvirt import load_domain

    try:
        domain, findings, lv = load_domain(data, args.config, version)
    except InputError as e:
        if args.json:
            _write(unreadable_json(str(e), args.config, xml=True))
            args.json_written = True        # one object: not main()'s error object as well
        raise
    if args.json:
        _write(report.json_text(domain, findings, lv, args.config))
    else:
        from xlrmrr.report.colour import paint

        _write(paint(report.text(domain, findings, lv), args))
    return 0


def _write(out: str) -> None:
    import sys

    sys.stdout.flush()
    sys.stdout.buffer.write(out.encode("utf-8", "surrogateescape"))
    sys.stdout.flush()


def _utf8(data: bytes, source: str) -> bool:
    try:
        data.decode("utf-8")
        source.encode("utf-8")
    except UnicodeError:
        return False
    return True
