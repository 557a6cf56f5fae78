"""Several guests on one host (`xlrmrr check`): a device in two configs, an RMRR sharing group
split across guests, an RMRR identity-mapped into two guests. Kept out of xlrmrr.hypervisor so
that `xlrmrr create` does not load what only `check` uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_OK, Finding, Sbdf
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.hypervisor import MAP_COUNTED, MAP_NEW, AssignResult, SharingGroup, rmrr_range, sharing_groups

DOM0 = "dom0"


@dataclass(frozen=True)
class GuestCheck:
    """One guest of `xlrmrr check`."""

    label: str                          # the config file as given
    name: str
    verdict: str                        # the planner's: ok | blocked | degraded
    functions: tuple[Sbdf, ...]
    assign: AssignResult | None         # None: the create fails before assignment
    findings: tuple[Finding, ...] = ()

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
                if not d.assigned:
                    return "FAILS"
                return "1:1" if d.honoured else "relaxed"
        return "not reached" if self.assign.blocked else "no RMRR"


@dataclass(frozen=True)
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

    def to_json(self) -> dict:
        return {
            "exit_status": self.exit_status,
            "guests": [{"config": g.label, "name": g.name, "verdict": g.verdict,
                        "devices": {str(s): g.cell(s) for s in self.devices},
                        "hypervisor": g.assign.to_json() if g.assign else None,
                        "findings": [f.to_json() for f in g.findings]} for g in self.guests],
            "groups": [dict(g.to_json(), placement={str(m): o for m, o in p})
                       for g, p in zip(self.groups, self.placement)],
            "split_groups": [[str(m) for m in g.members] for g in self.split],
            "duplicates": [{"device": str(s), "guests": list(gs)} for s, gs in self.duplicates],
            "shared_ranges": [{"base": r.base, "end": r.end, "guests": list(gs)}
                              for r, gs in self.shared_ranges],
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
    groups = sharing_groups(host)
    placement = []
    split = []
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
    elif any(g.verdict == "degraded" for g in guests) or any(
            f.code == "group-dom0" for f in findings):
        status = EXIT_DEGRADED
    else:
        status = EXIT_OK
    return HostCheck(tuple(guests), groups, tuple(placement), tuple(split), duplicates,
                     shared_ranges, devices, tuple(findings), status)
