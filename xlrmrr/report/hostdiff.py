"""`xlrmrr host diff A B`: the differences between two hosts (hostdiff.HostDiff) and the
guests whose verdict changes, as the JSON object of docs/json.md and as text."""

from __future__ import annotations

from xlrmrr.common import hexa, size_str


def _rng(r) -> str:
    return f"[{hexa(r.base)}, {hexa(r.end)}] {size_str(r.end - r.base + 1)}"


def _devs(r) -> str:
    return ", ".join(str(d) for d in r.devices) or "no device"


def diff_lines(d) -> list[str]:
    """The differences as report lines."""
    out = []
    if d.vtd[0] != d.vtd[1]:
        out.append("VT-d: " + ("enabled in A, DISABLED in B (Xen rejects B's DMAR: no "
                               "passthrough at all)" if d.vtd[0] else
                               "disabled in A, enabled in B"))
    for r in d.added:
        out.append(f"RMRR added: {_rng(r)} for {_devs(r)}")
    for r in d.removed:
        out.append(f"RMRR removed: {_rng(r)} (was for {_devs(r)})")
    for ra, rb in d.moved:
        out.append(f"RMRR moved: {_rng(ra)} -> [{hexa(rb.base)}, {hexa(rb.end)}] for {_devs(rb)}")
    for ra, rb in d.resized:
        out.append(f"RMRR resized: {_rng(ra)} -> {_rng(rb)} for {_devs(rb)}")
    for ra, rb in d.scope:
        gone = [str(x) for x in ra.devices if x not in rb.devices]
        new = [str(x) for x in rb.devices if x not in ra.devices]
        parts = ([f"+{x}" for x in new] + [f"-{x}" for x in gone]) or ["same devices, other order"]
        out.append(f"RMRR scope changed: [{hexa(ra.base)}, {hexa(ra.end)}]: {' '.join(parts)} "
                   f"(now {_devs(rb)})")
    for g in d.groups_added:
        out.append(f"sharing group new in B: {' '.join(map(str, g))} (assign all or none)")
    for g in d.groups_removed:
        out.append(f"sharing group gone in B: {' '.join(map(str, g))}")
    for f in d.findings_new:
        out.append(f"finding new in B: {f.severity} [{f.component}] {f.code}: {f.message}")
    for f in d.findings_gone:
        out.append(f"finding gone in B: {f.severity} [{f.component}] {f.code}: {f.message}")
    return out


def diff_json(d) -> dict:
    from xlrmrr.common import span

    def rm(r) -> dict:
        return {**span(r), "segment": r.segment, "devices": [str(x) for x in r.devices]}

    return {
        "vtd_enabled": list(d.vtd),
        "rmrrs_added": [rm(r) for r in d.added], "rmrrs_removed": [rm(r) for r in d.removed],
        "rmrrs_moved": [{"from": rm(a), "to": rm(b)} for a, b in d.moved],
        "rmrrs_resized": [{"from": rm(a), "to": rm(b)} for a, b in d.resized],
        "scope_changed": [{"from": rm(a), "to": rm(b)} for a, b in d.scope],
        "groups_added": [[str(x) for x in g] for g in d.groups_added],
        "groups_removed": [[str(x) for x in g] for g in d.groups_removed],
        "findings_new": [f.to_json() for f in d.findings_new],
        "findings_gone": [f.to_json() for f in d.findings_gone],
    }


def json_text(a: tuple, b: tuple, version, d, guests: list, status: int) -> str:
    """a, b: (source, kind) of each side."""
    from xlrmrr.report.document import dumps

    n = len(diff_lines(d)) + sum(1 for g in guests if g["a"] != g["b"])
    return dumps("host diff", {
        "a": {"source": a[0], "kind": a[1]}, "b": {"source": b[0], "kind": b[1]},
        "xen_version": str(version), "differences": n, **diff_json(d),
        "guests": guests, "exit_status": status}, indent=2)


def text(a: tuple, b: tuple, version, d, guests: list) -> str:
    from xlrmrr.report import lines_text

    lines = diff_lines(d)
    n = len(lines) + sum(1 for g in guests if g["a"] != g["b"])
    changed = sum(1 for g in guests if g["a"] != g["b"])
    outcome = (f"{n} difference{'s' if n != 1 else ''}"
               + (f", {changed} guest{'s' if changed != 1 else ''} changing verdict" if changed
                  else "") + " (exit 1)" if n else "no difference (exit 0)")
    out = [f"A: {a[0]} ({a[1]}); B: {b[0]} ({b[1]}); modelling Xen {version}: {outcome}"]
    if n == 0:
        out.append("no difference" + (f" (and {len(guests)} guest(s) keep their verdict)"
                                      if guests else ""))
    else:
        out.append(f"{n} difference{'s' if n != 1 else ''}:")
        out.extend(f"  {line}" for line in lines)
    for g in guests:
        what = f"{g['a']} -> {g['b']}" if g["a"] != g["b"] else f"{g['a']} (unchanged)"
        out.append(f"  guest {g['config']}: {what}" + (f"; on B: {g['why']}" if g["why"]
                                                       and g["a"] != g["b"] else ""))
    return lines_text(out)
