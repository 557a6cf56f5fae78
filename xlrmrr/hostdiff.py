"""Two hosts compared as Xen sees them: RMRRs added, removed, moved or resized, scope and
sharing-group changes, VT-d on or off, firmware findings new or gone. Pure: takes two Hosts
(the CLI reads the files and plans the guests)."""

from __future__ import annotations

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
