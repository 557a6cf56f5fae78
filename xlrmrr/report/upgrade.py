"""`xlrmrr upgrade`: per guest, what a Xen upgrade changes and why, as the JSON object of
docs/json.md and as text read from that object."""

from __future__ import annotations


def report(frm, to, host, steps, status: int, results) -> dict:
    """The upgrade object's body: the release steps planned and, per guest, its verdict at
    each step and every aspect that changes with the named release changes behind it."""
    return {"from": str(frm), "to": str(to), "host": host.source or "this host",
            "steps": [str(v) for v in steps], "exit_status": status,
            "guests": [{"config": g.config, "guest": g.name or None, "from_verdict": g.before,
                        "to_verdict": g.after, "worse": g.worse,
                        "verdicts": dict(zip((str(v) for v in steps), g.verdicts)),
                        "changes": [c.to_json() for c in g.changes]} for g in results]}


def json_text(r: dict) -> str:
    from xlrmrr.report.document import dumps

    return dumps("upgrade", r, indent=2)


def text(r: dict) -> str:
    from xlrmrr.report import lines_text

    return lines_text(_lines(r))


def _aspects_at(g, release) -> list[str]:
    return [c["aspect"] for c in g["changes"] if any(a["release"] == release for a in c["at"])]


_WORSE = {"stops": "STOPS STARTING", "degrades": "DEGRADED", "": ""}


def _lines(r) -> list[str]:
    stops = sum(1 for g in r["guests"] if g["worse"] == "stops")
    degr = sum(1 for g in r["guests"] if g["worse"] == "degrades")
    n = len(r["guests"])
    lines = [f"upgrade Xen {r['from']} -> {r['to']} on {r['host']}: {n} guest"
             f"{'s' if n != 1 else ''}, {stops} stop{'s' if stops == 1 else ''} starting, "
             f"{degr} degraded (exit {r['exit_status']})",
             f"release steps planned: {', '.join(r['steps'])}"]
    from xlrmrr.upgrade import ASPECT_NAMES

    for g in r["guests"]:
        lines.append("")
        label = f"{g['config']}" + (f" ({g['guest']})" if g["guest"] else "")
        tag = f"  <- {_WORSE[g['worse']]}" if g["worse"] else ""
        lines.append(f"{label}: {g['from_verdict']} -> {g['to_verdict']}{tag}")
        if not g["changes"]:
            lines.append("  nothing changes")
        why: dict = {}       # release -> (aspect names, {change key: (change, aspects)})
        for c in g["changes"]:
            name = ASPECT_NAMES[c["aspect"]]
            if len(c["from"]) + len(c["to"]) < 80:
                lines.append(f"  {name}: {c['from']} -> {c['to']}")
            else:
                lines.append(f"  {name}:")
                lines.append(f"    {r['from']}: {c['from']}")
                lines.append(f"    {r['to']}: {c['to']}")
            for at in c["at"]:
                names, changes = why.setdefault(at["release"], ([], {}))
                names.append(name)
                for x in at["changes"]:
                    key = (x["commit"], x["what"])
                    changes.setdefault(key, (x, []))[1].append(c["aspect"])
        if why:
            lines.append("  why:")
        for release, (names, changes) in why.items():
            lines.append(f"    at {release}:")
            explained = {a for _x, aspects in changes.values() for a in aspects}
            for x, aspects in changes.values():
                undone = "" if x["takes_effect"] else "no longer in effect: "
                commit = f" {x['commit']}" if x["commit"] else ""
                lines.append(f"      {undone}{x['component']}{commit}: {x['what']} "
                             f"({', '.join(aspects)})")
            rest = [n for n, a in zip(names, _aspects_at(g, release)) if a not in explained]
            if rest:
                lines.append(f"      no named change for: {', '.join(rest)}")
    return lines
