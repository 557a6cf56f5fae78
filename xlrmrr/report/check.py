"""Reports for `xlrmrr check`: several guests on one host, as text or one JSON object."""

from __future__ import annotations

from xlrmrr.common import hexa
from xlrmrr.report import lines_text
from xlrmrr.report.hypervisor import findings_lines, text_lines

VERDICT_WORDS = {0: "fine", 1: "FAILS", 2: "UNKNOWN: the host data does not list the host's RMRRs",
                 3: "every guest starts, but some assigned device's RMRR is not honoured or "
                    "its RMRR sharing group is split"}


# The summary's cells beyond 1:1, relaxed, FAILS and -, explained where they occur.
CELL_WORDS = (("?", "assigned, RMRRs unknown"),
              ("split", "1:1 here, but its RMRR sharing group is split (another domain maps the "
                        "same range)"),
              ("not in e820", "mapped, but the guest's e820 does not reserve the RMRR"),
              ("bridge", "below a bridge in an RMRR's scope: no 1:1 mapping of that RMRR"),
              ("overlaid", "hvmloader puts a BAR or guest RAM over its RMRR"))


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
        cause = f": {g.causes[0].text}" + (f" (and {len(g.causes) - 1} more)"
                                           if len(g.causes) > 1 else "") if g.causes else ""
        out.append(f"  {g.label} ({g.name or 'unnamed'}): {g.verdict}{cause}")
    if hc.devices:
        out.append("")
        rows = [["guest"] + [str(s) for s in hc.devices]]
        rows += [[g.label] + [g.cell(s) for s in hc.devices] for g in hc.guests]
        cells = {c for r in rows[1:] for c in r[1:]}
        out.append("Summary (1:1 = every RMRR identity-mapped; relaxed = assigned, RMRR not "
                   "honoured; FAILS = assignment refused; - = not in this guest"
                   + "".join(f"; {c} = {what}" for c, what in CELL_WORDS if c in cells) + "):")
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
