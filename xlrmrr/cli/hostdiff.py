"""`xlrmrr host diff A B [--cfg GUEST.cfg]...`: two hosts' data compared as Xen sees them, and
which guests change verdict. Called by `xlrmrr host` (cli/host.py) for its diff action.

`--json` prints one object: a, b (source and kind), xen_version, differences (the count),
vtd_enabled [A, B], rmrrs_added, rmrrs_removed, rmrrs_moved, rmrrs_resized, scope_changed
({from, to} of {start, size, segment, devices}), groups_added, groups_removed, findings_new,
findings_gone, guests [{config, guest, a, b, why}] (verdicts), exit_status; schema_version and
command first (docs/json.md).
"""

from __future__ import annotations

KINDS = ("DMAR table", "snapshot", "host JSON", "acpidump output", "boot log")


def detect(data: bytes) -> str:
    """Which kind of host data the bytes are (one of KINDS), or "" when none."""
    import re

    if data[:4] in (b"DMAR", b"RMAD") and not re.match(rb"\w{4}\s+@\s+0x", data):
        return "DMAR table"
    if data[:2] == b"\x1f\x8b" or data[257:262] == b"ustar":
        return "snapshot"
    if data.lstrip()[:1] == b"{":
        return "host JSON"
    text = data[:1 << 22].decode("latin-1")
    if re.search(r"DMAR\s+@\s+0x[0-9A-Fa-f]+", text):
        return "acpidump output"
    if re.search(r"\(XEN\)|DMAR:|dmar\d*:|RMRR|^\s*\[\s*\d+\.\d+\]", text, re.M):
        return "boot log"
    return ""


def _inputs(path: str, host_json: str | None):
    from xlrmrr.common import InputError
    from xlrmrr.files import read_input
    from xlrmrr.host.load import read_host_inputs

    data = read_input(path, "host data")
    kind = detect(data)
    if kind == "DMAR table":
        return kind, read_host_inputs(dmar=data, dmar_name=path, host_json=host_json, live=False)
    if kind == "snapshot":
        return kind, read_host_inputs(snapshot=path, host_json=host_json, live=False)
    if kind == "host JSON":
        return kind, read_host_inputs(host_json=path, live=False)
    if kind == "acpidump output":
        return kind, read_host_inputs(acpidump=path, host_json=host_json, live=False)
    if kind == "boot log":
        return kind, read_host_inputs(xen_log=path, host_json=host_json, live=False)
    raise InputError(f"{path}: not host data xlrmrr reads (a DMAR table, a snapshot, host JSON, "
                     f"acpidump output or an xl dmesg / boot log)")


def run(args) -> int:
    import sys

    from xlrmrr.common import NEWEST_XEN, InputError, XenVersion
    from xlrmrr.host.load import host_for
    from xlrmrr.hostdiff import diff_hosts
    from xlrmrr.report.colour import paint
    from xlrmrr.report.hostdiff import diff_lines, json_text, text

    if not args.out or not args.other:
        raise InputError("host diff: give two host data files, A and B")
    explicit = XenVersion.parse(args.xen_version) if args.xen_version else None
    kind_a, in_a = _inputs(args.out, args.host_json)
    kind_b, in_b = _inputs(args.other, args.host_json)
    version = explicit or in_a.desc.xen_version or in_b.desc.xen_version or NEWEST_XEN
    a, b = host_for(in_a, version), host_for(in_b, version)
    d = diff_hosts(a, b)
    guests = [_guest(cfg, a, b, version, args) for cfg in args.cfg]
    changed = [g for g in guests if g["a"] != g["b"]]
    status = 1 if diff_lines(d) or changed else 0
    sides = (args.out, kind_a), (args.other, kind_b)
    sys.stdout.write(json_text(*sides, version, d, guests, status) if args.json else
                     paint(text(*sides, version, d, guests), args))
    return status


def _guest(cfg: str, a, b, version, args) -> dict:
    from xlrmrr.cli.guest import load_guest, refuse_if_xl_exits
    from xlrmrr.driver import Options, plan
    from xlrmrr.files import read_input

    domain, findings, _parse = load_guest(read_input(cfg, "xl config"), cfg, version)
    refuse_if_xl_exits(findings, cfg)
    options = Options(remediate=False, compare_versions=False)
    pa, pb = plan(domain, a, version, options), plan(domain, b, version, options)
    errors = [f for f in pb.findings if f.severity == "error"]
    why = f"{errors[0].component}: {errors[0].message.split('. ')[0]}" if errors else ""
    return {"config": cfg, "guest": domain.name, "a": pa.verdict, "b": pb.verdict, "why": why}
