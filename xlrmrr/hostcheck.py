"""Several guests on one host (`xlrmrr check`): a device in two configs, an RMRR sharing group
split across guests, an RMRR identity-mapped into two guests. Kept out of xlrmrr.hypervisor so
that `xlrmrr create` does not load what only `check` uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_INPUT, EXIT_OK, Finding, Sbdf
from xlrmrr.host.groups import GROUP_PARTIAL, GroupUse, SharingGroup, sharing_groups
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.hypervisor.messages import rmrr_range
from xlrmrr.hypervisor.results import MAP_COUNTED, MAP_NEW, AssignResult
from xlrmrr.records import record

DOM0 = "dom0"


@record
class GuestCheck:
    """One guest of `xlrmrr check`."""

    label: str                          # the config file as given
    name: str
    verdict: str                        # the planner's: ok | blocked | degraded | unknown
    functions: tuple[Sbdf, ...]
    assign: AssignResult | None         # None: the create fails before assignment
    findings: tuple[Finding, ...] = ()
    causes: tuple = ()                  # the planner's causes.Cause for a degraded verdict

    def cell(self, sbdf: Sbdf) -> str:
        """The summary-table cell for one device."""
        if sbdf not in self.functions:
            return "-"
        if self.assign is None:
            return "no start"
        if sbdf in self.assign.absent:
            return "absent"
        for d in self.assign.devices:
            if d.sbdf == sbdf:
                if not d.succeeds:
                    return "FAILS"
                if d.handed_back:
                    return "not assigned"      # returns 0, the device went back (pre-XSA-400)
                if self.verdict == "unknown":
                    return "?"          # assigned, but the host data does not list the RMRRs
                # a degraded guest: what its cause means for this device (a split sharing
                # group, an RMRR outside the e820 ...), never "1:1" for what is not
                kind = next((c.kind for c in self.causes if sbdf in c.devices and c.kind), "")
                return kind or ("1:1" if d.honoured else "relaxed")
        return "not reached" if self.assign.blocked else "no RMRR"


@record
class HostCheck:
    guests: tuple[GuestCheck, ...]
    groups: tuple[SharingGroup, ...]
    placement: tuple[tuple[tuple[Sbdf, str], ...], ...]   # per group: (member, owner label)
    split: tuple[SharingGroup, ...]                        # members in two or more guests
    duplicates: tuple[tuple[Sbdf, tuple[str, ...]], ...]
    shared_ranges: tuple[tuple[Rmrr, tuple[str, ...]], ...]
    devices: tuple[Sbdf, ...]                              # the summary table's columns
    findings: tuple[Finding, ...]
    exit_status: int

    def cell(self, g: GuestCheck, sbdf: Sbdf) -> str:
        """The summary cell of one guest's device, with what the other guests do to it: a
        device in two guests' pci= lists goes to the one that starts first (the second's
        xl create fails), so it is 1:1 in neither for sure."""
        c = g.cell(sbdf)
        if c in ("1:1", "relaxed") and any(s == sbdf and g.label in ls
                                           for s, ls in self.duplicates):
            return "twice"
        return c

    def to_json(self) -> dict:
        from xlrmrr.common import span

        return {
            "exit_status": self.exit_status,
            "guests": [{"config": g.label, "guest": g.name or None, "verdict": g.verdict,
                        "devices": {str(s): self.cell(g, s) for s in self.devices},
                        "hypervisor": g.assign.to_json() if g.assign else None,
                        "findings": [f.to_json() for f in g.findings]} for g in self.guests],
            "groups": [dict(g.to_json(), placement={str(m): o for m, o in p})
                       for g, p in zip(self.groups, self.placement)],
            "split_groups": [[str(m) for m in g.members] for g in self.split],
            "duplicates": [{"device": str(s), "guests": list(gs)} for s, gs in self.duplicates],
            "shared_ranges": [{**span(r), "guests": list(gs)} for r, gs in self.shared_ranges],
            "findings": [f.to_json() for f in self.findings],
        }


def check_guests(host: Host, guests: Sequence[GuestCheck]) -> HostCheck:
    """The host as a whole: a device in two configs, a sharing group split across guests, an
    RMRR identity-mapped into two guests. Exit 1 for any of these or any guest that fails,
    3 when all start but some RMRR is not honoured (or a group partner stays in dom0), else 0."""
    findings: list[Finding] = []
    owners: dict[Sbdf, list[str]] = {}
    for g in guests:
        for s in dict.fromkeys(g.functions):
            owners.setdefault(s, []).append(g.label)
    duplicates = tuple((s, tuple(ls)) for s, ls in sorted(owners.items()) if len(ls) > 1)
    for s, ls in duplicates:
        findings.append(Finding(
            "error", "device-twice", "libxl",
            f"{s} is in the pci= list of {', '.join(ls)}: whichever guest starts second fails "
            f"with \"PCI device already attached to a domain\" (libxl), and the first must be "
            f"shut down before the other can start"))
    guests = [_placed(g, owners) for g in guests]
    groups = sharing_groups(host)
    placement = []
    split = []
    with_dom0 = []          # groups a guest shares with dom0 (degraded, not failing)
    for grp in groups:
        where = tuple((m, ",".join(owners.get(m, [])) or (
            "fixed" if m in grp.fixed else DOM0)) for m in grp.members)
        placement.append(where)
        labels = sorted({lab for m in grp.members for lab in owners.get(m, [])})
        members = ", ".join(str(m) for m in grp.members)
        rng = ", ".join(rmrr_range(r) for r in grp.rmrrs)
        if len(labels) > 1:
            split.append(grp)
            findings.append(Finding(
                "error", "group-split", "xen",
                f"RMRR sharing group {{{members}}} ({rng}) is split across guests "
                f"{', '.join(labels)}: each guest gets a 1:1 mapping of the same host memory, so "
                f"one guest's device DMA reaches memory the other guest reads and writes (a data "
                f"leak and corruption path between guests). Xen refuses it under strict and only "
                f"warns (\"It's risky\") under relaxed; xlrmrr refuses it either way. Put the "
                f"whole group into one guest",
                tuple(a for r in grp.rmrrs for a in (r.base, r.end))))
        elif labels and any(o == DOM0 for _, o in where):
            away = ", ".join(str(m) for m, o in where if o == DOM0)
            with_dom0.append(grp)
            findings.append(Finding(
                "warning", "group-dom0", "xen",
                f"RMRR sharing group {{{members}}} ({rng}): {labels[0]} takes part of it, "
                f"{away} stay(s) in dom0, which keeps its 1:1 mapping of the range",
                tuple(a for r in grp.rmrrs for a in (r.base, r.end))))
        elif labels:
            findings.append(Finding(
                "info", "group-whole", "xen",
                f"RMRR sharing group {{{members}}} ({rng}) is wholly inside {labels[0]}: no "
                f"other domain shares the range, so a relaxed policy on its devices is safe"))
    mapped: dict[tuple[int, int], tuple[Rmrr, list[str]]] = {}
    for g in guests:
        if g.assign is None:
            continue
        for d in g.assign.devices:
            for o in d.outcomes:
                if o.action in (MAP_NEW, MAP_COUNTED) and o.rc == 0:
                    entry = mapped.setdefault((o.rmrr.base, o.rmrr.end), (o.rmrr, []))
                    if g.label not in entry[1]:
                        entry[1].append(g.label)
    shared_ranges = tuple((r, tuple(ls)) for _, (r, ls) in sorted(mapped.items()) if len(ls) > 1)
    for r, ls in shared_ranges:
        findings.append(Finding(
            "error", "range-in-two-guests", "xen",
            f"RMRR {rmrr_range(r)} is identity-mapped into {', '.join(ls)}: both guests read and write "
            f"the same host memory through it", (r.base, r.end)))
    devices = tuple(sorted(owners))
    failing = any(g.verdict == "blocked" for g in guests)
    if failing or split or duplicates or shared_ranges:
        status = EXIT_FAIL
    elif any(g.verdict == "degraded" for g in guests) or with_dom0:
        status = EXIT_DEGRADED
    elif any(g.verdict == "unknown" for g in guests):
        status = EXIT_INPUT
    else:
        status = EXIT_OK
    return HostCheck(tuple(guests), groups, tuple(placement), tuple(split), duplicates,
                     shared_ranges, devices, tuple(findings), status)


def _where(m: Sbdf, owners: dict[Sbdf, list[str]], label: str) -> str:
    others = [lab for lab in owners.get(m, []) if lab != label]
    return f"{m} goes to {', '.join(others)}" if others else f"{m} stays in dom0"


def _placed_finding(f: Finding, use: GroupUse, owners: dict[Sbdf, list[str]], label: str
                    ) -> Finding:
    """A guest's group finding from the single-guest view, rewritten with where every other
    member really is."""
    g = use.group
    members = ", ".join(str(m) for m in g.members)
    rng = ", ".join(rmrr_range(r) for r in g.rmrrs)
    shared = [m for m in use.here if len(owners.get(m, [])) > 1]
    if use.kind == GROUP_PARTIAL:
        away = "; ".join(_where(m, owners, label) for m in use.elsewhere)
        in_guest = any(owners.get(m) for m in use.elsewhere)
        return replace(f, message=(
            f"RMRR sharing group {{{members}}} ({rng}) is split: this guest takes "
            f"{', '.join(str(m) for m in use.here)}, while {away}. Both sides keep a 1:1 "
            f"mapping of the same host memory: the other side's DMA reaches memory this guest "
            f"can read and write, and this guest's device (and the guest itself, through its 1:1 "
            f"mapping) reaches memory the other side uses"
            + (" (a path between guests: see the host-wide error on this split group)"
               if in_guest else "")
            + ". Assign the whole group to one guest"))
    if shared:
        away = "; ".join(f"{m} is also in {', '.join(x for x in owners[m] if x != label)}"
                         for m in shared)
        return replace(f, severity="warning", code="group-whole-shared", message=(
            f"RMRR sharing group {{{members}}} ({rng}) is whole in this guest, but {away}: "
            f"another guest maps the same range, so it is NOT safe here (see the host-wide errors "
            f"on the split group and on the device assigned twice)"))
    return f


def _placed(g: GuestCheck, owners: dict[Sbdf, list[str]]) -> GuestCheck:
    """The guest with its group findings rewritten for the known placement of every guest."""
    if g.assign is None or not g.assign.groups:
        return g
    by_addrs = {tuple(a for r in u.group.rmrrs for a in (r.base, r.end)): u
                for u in g.assign.groups}

    def fix(f: Finding) -> Finding:
        u = by_addrs.get(f.addrs)
        if u is None or f.code not in ("group-partial", "group-whole"):
            return f
        return _placed_finding(f, u, owners, g.label)

    assign = replace(g.assign, findings=tuple(fix(f) for f in g.assign.findings))
    return replace(g, assign=assign, findings=tuple(fix(f) for f in g.findings))
