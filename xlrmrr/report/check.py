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
              ("overlaid", "hvmloader puts a BAR or guest RAM over its RMRR"),
              ("twice", "also in another guest's pci= list: only the guest started first gets "
                        "it, the other's xl create fails"))


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


# The first line's outcome per exit status, and what follows it when there is no cause to name.
HEADLINES = {0: ("fine", "every guest can be created and every assigned device gets all its "
                         "RMRRs"),
             1: ("FAILS", "see the findings"),
             2: ("UNKNOWN", "the host data does not list the host's RMRRs, so whether the "
                            "guests' devices get theirs cannot be told"),
             3: ("DEGRADED", "every guest starts, but see the findings")}


def _problems(hc) -> list[str]:
    """What makes the host's outcome what it is, worst first: a guest that cannot be created,
    a device in two guests, a sharing group or RMRR across guests, then a degraded guest and a
    sharing group partly in dom0."""
    out = [f"{g.label} cannot be created" + (f": {g.causes[0].text}" if g.causes else "")
           for g in hc.guests if g.verdict == "blocked"]
    out += [f"{s} is in the pci= list of {', '.join(labels)}: whichever guest starts second "
            f"fails" for s, labels in hc.duplicates]
    out += [f.message.split(": each guest", 1)[0] for f in hc.findings
            if f.code in ("group-split", "range-in-two-guests") and f.severity == "error"]
    out += [f"{g.label} starts, but " + (g.causes[0].text if g.causes else
                                         "an assigned device's RMRR is not honoured")
            for g in hc.guests if g.verdict == "degraded"]
    out += [f.message for f in hc.findings if f.code == "group-dom0"]
    return out


def headline(hc, xen_version) -> str:
    """The first line: how many guests, the release, the outcome and its first cause."""
    word, otherwise = HEADLINES.get(hc.exit_status, (str(hc.exit_status), ""))
    problems = _problems(hc) if hc.exit_status in (1, 3) else []
    if hc.exit_status == 3 and problems:
        otherwise = "every guest starts, but not safely"
    cause = problems[0] if problems else otherwise
    more = len(problems) - 1
    return (f"xlrmrr check: {len(hc.guests)} guest(s) on one host, Xen {xen_version}: {word}: "
            f"{cause}" + (f" (and {more} more problem{'s' if more > 1 else ''}: see below)"
                          if more > 0 else "") + f" (exit {hc.exit_status})")


def _shared_with_others(hc, g) -> list[str]:
    """What another guest does to one that plans ok alone: the same device, a split group."""
    out = []
    for s, labels in hc.duplicates:
        if g.label in labels:
            others = ", ".join(lab for lab in labels if lab != g.label)
            out.append(f"{s} is also in the pci= list of {others} (whichever guest starts "
                       f"second fails)")
    for grp in hc.split:
        if any(m in g.functions for m in grp.members):
            out.append(f"its RMRR sharing group {{{', '.join(str(m) for m in grp.members)}}} is "
                       f"split across guests")
    return out


def text(hc, xen_version) -> str:
    out = [headline(hc, xen_version), ""]
    out.append("Guests:")
    for g in hc.guests:
        cause = f": {g.causes[0].text}" + (f" (and {len(g.causes) - 1} more)"
                                           if len(g.causes) > 1 else "") if g.causes else ""
        if g.verdict == "ok":
            shared = _shared_with_others(hc, g)
            if shared:
                cause = " by itself; but " + "; ".join(shared)
        out.append(f"  {g.label} ({g.name or 'unnamed'}): {g.verdict}{cause}")
    if hc.devices:
        out.append("")
        rows = [["guest"] + [str(s) for s in hc.devices]]
        rows += [[g.label] + [hc.cell(g, s) for s in hc.devices] for g in hc.guests]
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
