"""Reports for `xlrmrr check`: several guests on one host, as text or one JSON object."""

from __future__ import annotations

from xlrmrr.common import hexa
from xlrmrr.report import lines_text
from xlrmrr.report.hypervisor import findings_lines, text_lines

VERDICT_WORDS = {0: "fine", 1: "FAILS", 2: "UNKNOWN: the host data does not list the host's RMRRs",
                 3: "starts, but some RMRR is not honoured"}


def to_json(hc, xen_version) -> dict:
    out = hc.to_json()
    out["xen_version"] = str(xen_version)
    return out


def json_text(hc, xen_version) -> str:
    from xlrmrr.report.document import dumps

    return dumps("check", to_json(hc, xen_version), indent=2, sort_keys=True)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def text(hc, xen_version) -> str:
    out = [f"xlrmrr check: {len(hc.guests)} guest(s) on one host, Xen {xen_version}", ""]
    out.append("Guests:")
    for g in hc.guests:
        out.append(f"  {g.label} ({g.name or 'unnamed'}): {g.verdict}")
    if hc.devices:
        out.append("")
        out.append("Summary (1:1 = every RMRR identity-mapped; relaxed = assigned, RMRR not "
                   "honoured; FAILS = assignment refused; - = not in this guest"
                   + ("; ? = assigned, RMRRs unknown" if any(g.verdict == "unknown" for g in hc.guests)
                      else "") + "):")
        rows = [["guest"] + [str(s) for s in hc.devices]]
        rows += [[g.label] + [g.cell(s) for s in hc.devices] for g in hc.guests]
        out.extend(_table(rows))
    out.append("")
    if hc.groups:
        out.append("RMRR sharing groups on this host:")
        for grp, where in zip(hc.groups, hc.placement):
            rng = ", ".join(f"[{hexa(r.base)}, {hexa(r.end)}]" for r in grp.rmrrs)
            out.append(f"  {rng}: " + ", ".join(f"{m} -> {o}" for m, o in where))
    else:
        out.append("RMRR sharing groups on this host: none")
    for g in hc.guests:
        if g.assign is not None and g.assign.devices:
            out.append("")
            out.extend(text_lines(g.assign, f"{g.label}: device assignment", detail=False))
    host_findings = list(hc.findings)
    guest_findings = [(g.label, f) for g in hc.guests for f in g.findings
                      if f.severity in ("error", "warning")]
    if host_findings or guest_findings:
        out.append("")
        out.append("Findings:")
        out.extend(findings_lines(host_findings))
        for label, f in guest_findings:
            out.extend(findings_lines([f], f"  {label}: "))
    out.append("")
    out.append(f"Verdict: {VERDICT_WORDS.get(hc.exit_status, hc.exit_status)} "
               f"(exit status {hc.exit_status})")
    return lines_text(out)
