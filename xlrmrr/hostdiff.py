"""Two hosts compared as Xen sees them: RMRRs added, removed, moved or resized, scope and
sharing-group changes, VT-d on or off, firmware findings new or gone. Pure: takes two Hosts
(the CLI reads the files and plans the guests)."""

from __future__ import annotations

from xlrmrr.common import hexa, size_str
from xlrmrr.records import record


@record(eq=False)
class HostDiff:
    vtd: tuple[bool, bool]
    added: tuple = ()           # Rmrr of B not in A
    removed: tuple = ()         # Rmrr of A not in B
    moved: tuple = ()           # (Rmrr of A, Rmrr of B): same devices, other base, same size
    resized: tuple = ()         # (A, B): same devices, other size
    scope: tuple = ()           # (A, B): same range, other devices
    groups_added: tuple = ()    # sharing groups (tuples of Sbdf) only in B
    groups_removed: tuple = ()
    findings_new: tuple = ()    # Finding only in B
    findings_gone: tuple = ()

    @property
    def empty(self) -> bool:
        return (self.vtd[0] == self.vtd[1] and not any(
            (self.added, self.removed, self.moved, self.resized, self.scope, self.groups_added,
             self.groups_removed, self.findings_new, self.findings_gone)))


def _key(r) -> tuple:
    return (r.segment, r.base, r.end)


def _finding_key(f, source: str) -> tuple:
    msg = f.message.replace(source, "<host>") if source else f.message
    return (f.severity, f.code, f.component, msg)


def diff_hosts(a, b) -> HostDiff:
    """What differs from host a to host b."""
    from xlrmrr.host.query import sharing_groups

    ka = {_key(r): r for r in a.rmrrs}
    kb = {_key(r): r for r in b.rmrrs}
    only_a = [r for k, r in ka.items() if k not in kb]
    only_b = [r for k, r in kb.items() if k not in ka]
    moved, resized = [], []
    for ra in list(only_a):
        match = next((rb for rb in only_b if rb.devices == ra.devices and rb.segment == ra.segment),
                     None)
        if match is None:
            continue
        only_a.remove(ra)
        only_b.remove(match)
        if match.end - match.base == ra.end - ra.base:
            moved.append((ra, match))
        else:
            resized.append((ra, match))
    scope = [(ka[k], kb[k]) for k in ka if k in kb and ka[k].devices != kb[k].devices]
    ga, gb = set(sharing_groups(a)), set(sharing_groups(b))
    fa = {_finding_key(f, a.source): f for f in a.findings if f.severity != "info"}
    fb = {_finding_key(f, b.source): f for f in b.findings if f.severity != "info"}
    return HostDiff((a.vtd_enabled, b.vtd_enabled), tuple(only_b), tuple(only_a), tuple(moved),
                    tuple(resized), tuple(scope), tuple(sorted(gb - ga)), tuple(sorted(ga - gb)),
                    tuple(f for k, f in fb.items() if k not in fa),
                    tuple(f for k, f in fa.items() if k not in fb))


def _rng(r) -> str:
    return f"[{hexa(r.base)}, {hexa(r.end)}] {size_str(r.end - r.base + 1)}"


def _devs(r) -> str:
    return ", ".join(str(d) for d in r.devices) or "no device"


def diff_lines(d: HostDiff) -> list[str]:
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


def diff_json(d: HostDiff) -> dict:
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
