"""`xlrmrr explain`: the recognised messages, their rules, owners and the re-plan, as the
JSON object of docs/json.md and as text read from that object."""

from __future__ import annotations


def choose_fix(remediation):
    """The change the planner recommends (remedies.rank: one wherever any is verified)."""
    return next((r for r in remediation if r.recommended), None)


def report(logs, cfg, messages, lines_read, fitting, version, outcome, status, notes, host,
           result, located) -> dict:
    """The explain object's body: every message with its rule, meaning, change and the host
    RMRRs that hold its range; with a re-planned config (result), the plan and its fix."""
    from xlrmrr.common import span
    from xlrmrr.explain.owners import owners, reproduced
    from xlrmrr.explain.releases import describe_releases

    out_messages = []
    for m in messages:
        j = m.to_json()
        j["meaning"] = m.rule.meaning
        j["change"] = m.rule.change
        j["owners"] = [{**span(o), "devices": list(o.devices), "classes": list(o.classes),
                        "shared": o.shared} for o in owners(m, host)]
        out_messages.append(j)
    plan_j = None
    if result is not None:
        fix = choose_fix(result.remediation)
        plan_j = {
            "config": cfg, "guest": result.domain.name, "verdict": result.verdict,
            "reproduced": [reproduced(m, result) for m in messages],
            "fix": None if fix is None else fix.to_json(),
            "fix_as_diff": (f"xlrmrr create {cfg} --dry-run --fix"
                            if fix is not None and result.options.reread is not None else None),
            "other_fixes": sum(1 for r in result.remediation if r.verified and r is not fix),
            "findings": [f.to_json() for f in result.findings if f.severity == "error"],
        }
    return {"sources": list(logs), "lines_read": lines_read,
            "releases": describe_releases(fitting),
            "releases_by_source_line": describe_releases(located),
            "xen_version": str(version),
            "host": (host.source or "host data") if host is not None else None,
            "outcome": outcome, "exit_status": status, "messages": out_messages,
            "notes": notes, "plan": plan_j}


_OUTCOME_TEXT = {
    "fails": "it failed here",
    "vtd-disabled": "Xen disabled VT-d: no passthrough at all",
    "degraded": "it went on without honouring the range",
    "info": "context only",
}


_HEADLINE = {
    "fails": "the log shows a failure",
    "vtd-disabled": "the log shows Xen disabling VT-d",
    "degraded": "the log shows a start with an RMRR not honoured",
    "info": "the log shows nothing failing",
}


def _range_text(j) -> str | None:
    from xlrmrr.common import hexa

    if j["start"] is not None and j["size"] is not None:
        return f"[{hexa(j['start'])}, {hexa(j['start'] + j['size'] - 1)}]"
    if j["addrs"]:
        a = j["addrs"]
        if len(a) == 1:
            return hexa(a[0])
        return f"{hexa(min(a))} ... {hexa(max(a))} ({len(a)} pages)"
    return None


def _first(r) -> str:
    """The first message that shows the log's outcome, for the first line: its number and
    the message without the log's prefixes (timestamps, "(XEN)", libxl's file:line:function)."""
    import re

    if r["outcome"] == "info":
        return ""
    for i, j in enumerate(r["messages"], 1):
        if j["outcome"] == r["outcome"]:
            text = re.sub(r"^(?:\[[\d\s.:-]+\]\s*|\(XEN\)\s*|\(d\d+\)\s*)*", "", j["text"])
            text = re.sub(r"^libxl: \w+: [\w.]+:\d+:\w+: ", "", text)
            return f": [{i}] {j['component']}: {text}"
    return ""


def _lines(r) -> list[str]:
    from xlrmrr.common import hexa, size_str

    n = len(r["messages"])
    lines = [f"{', '.join(r['sources'])}: {n} RDM-related message{'s' if n != 1 else ''} in "
             f"{r['lines_read']} lines; {_HEADLINE[r['outcome']]}{_first(r)} "
             f"(exit {r['exit_status']})",
             f"message forms fit Xen {r['releases']}"
             + (f", libxl's source lines {r['releases_by_source_line']}"
                if r["releases_by_source_line"] != r["releases"] else "")
             + f"; modelling Xen {r['xen_version']}"
             + (f"; host: {r['host']}" if r["host"] else "; no host data (give --dmar or "
                "--snapshot to name the devices)")]
    for note in r["notes"]:
        lines.append(f"  note: {note}")
    for i, j in enumerate(r["messages"], 1):
        lines.append("")
        times = f" (x{j['count']})" if j["count"] > 1 else ""
        lines.append(f"[{i}] {j['source']}:{j['line']}{times}: {j['text']}")
        lines.append(f"    rule: {j['component']} {j['where']}; this form is printed by Xen "
                     f"{j['releases']}")
        lines.append(f"    means: {j['meaning']}")
        what = _OUTCOME_TEXT[j["outcome"]]
        if j["domid"] is not None:
            what += f" (domain {j['domid']})"
        lines.append(f"    outcome: {what}")
        rng = _range_text(j)
        if rng or j["sbdf"]:
            parts = [p for p in (rng, j["sbdf"] and f"device {j['sbdf']}") if p]
            lines.append(f"    names: {', '.join(parts)}")
        for o in j["owners"]:
            devs = ", ".join(f"{d} ({c})" for d, c in zip(o["devices"], o["classes"]))
            lines.append(f"    host RMRR [{hexa(o['start'])}, {hexa(o['start'] + o['size'] - 1)}] "
                         f"{size_str(o['size'])}: {devs or 'no device'}"
                         + ("; shared: a sharing group" if o["shared"] else ""))
        if r["host"] and not j["owners"] and (j["addrs"] or j["start"] is not None):
            lines.append("    host: no RMRR of the host data holds this address")
        lines.append(f"    change: {j['change']}")
    p = r["plan"]
    if p is not None:
        lines.append("")
        lines.append(f"re-plan of {p['config']} under Xen {r['xen_version']}: verdict "
                     f"{p['verdict']}")
        for i, (j, rep) in enumerate(zip(r["messages"], p["reproduced"]), 1):
            if rep is None:
                continue
            lines.append(f"  [{i}] {'reproduced' if rep else 'NOT reproduced'}: "
                         f"{j['code']}" + ("" if rep else " (the log came from another config, "
                                           "host or release than the one planned)"))
        fix = p["fix"]
        if fix is None:
            lines.append("  fix: none verified" + (" (the plan is ok)" if p["verdict"] == "ok"
                                                   else "; see xlrmrr create --dry-run"))
        else:
            lines.append(f"  fix (recommended): {fix['change']}")
            lines.append(f"      why: {fix['why']}")
            lines.append(f"      {fix['result']}")
            if p["fix_as_diff"]:
                lines.append(f"  {p['fix_as_diff']} prints it as a diff of {p['config']}")
            if p["other_fixes"]:
                lines.append(f"  {p['other_fixes']} other verified change(s): xlrmrr create "
                             f"{p['config']} --dry-run lists them")
    return lines


def json_text(r: dict) -> str:
    from xlrmrr.report.document import dumps

    return dumps("explain", r, indent=2)


def text(r: dict) -> str:
    from xlrmrr.report import lines_text

    return lines_text(_lines(r))
