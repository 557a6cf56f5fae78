"""RMRR sharing groups: devices joined by shared RMRRs, and how one guest uses each group.

intel_iommu_assign_device (vtd/iommu.c) refuses or warns about an RMRR whose scope lists more
than one entry; devices tied by such RMRRs form a group that is safe to pass through only whole
(docs/xen/hypervisor.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from xlrmrr.common import Sbdf, span
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.host.query import device_roots
from xlrmrr.records import record

# How a guest uses an RMRR sharing group.
GROUP_WHOLE = "whole"            # every assignable member is in this guest
GROUP_PARTIAL = "partial"        # some members are elsewhere (dom0 or another guest)

@record(eq=False)
class SharingGroup:
    """Devices that share an RMRR, transitively (A shares with B, B with C: one group)."""

    members: tuple[Sbdf, ...]          # every scope device of the group's RMRRs
    rmrrs: tuple[Rmrr, ...]
    fixed: tuple[Sbdf, ...] = ()       # bridges and other functions that are never assigned

    @property
    def assignable(self) -> tuple[Sbdf, ...]:
        return tuple(m for m in self.members if m not in self.fixed)

    def to_json(self) -> dict:
        return {"members": [str(m) for m in self.members], "fixed": [str(m) for m in self.fixed],
                "rmrrs": [span(r) for r in self.rmrrs]}


@record(eq=False)
class GroupUse:
    """How one guest uses one sharing group."""

    group: SharingGroup
    here: tuple[Sbdf, ...]             # members assigned to this guest
    elsewhere: tuple[Sbdf, ...]        # assignable members not in this guest
    kind: str                          # GROUP_WHOLE | GROUP_PARTIAL

    def to_json(self) -> dict:
        return {"group": self.group.to_json(), "here": [str(s) for s in self.here],
                "elsewhere": [str(s) for s in self.elsewhere], "kind": self.kind}

def _fixed(functions: dict, sbdf: Sbdf) -> bool:
    """Scope entries that are never passed through: bridges and host bridges, and, when the
    host's PCI topology is known, entries that are no PCI function (IOAPIC, HPET)."""
    fn = functions.get(sbdf)
    if fn is None:
        return bool(functions)
    if fn.header_type is not None and fn.header_type & 0x7F in (1, 2):
        return True
    return fn.class_code is not None and fn.class_code >> 16 == 0x06


def sharing_groups(host: Host) -> tuple[SharingGroup, ...]:
    """Every group of devices joined by shared RMRRs (scope_count > 1), sorted by first member.

    Union-find over (segment, bdf): O(n α(n)) in the number of scope entries."""
    shared = [r for r in host.rmrrs if r.shared] if host.vtd_enabled else []
    roots = device_roots(shared)
    members: dict[Sbdf, list[Sbdf]] = {}
    for d, root in roots.items():
        members.setdefault(root, []).append(d)
    rmrrs: dict[Sbdf, list[Rmrr]] = {}
    for r in shared:
        if r.devices:
            rmrrs.setdefault(roots[r.devices[0]], []).append(r)
    functions = {f.sbdf: f for f in host.devices}
    out = []
    for root in sorted(members):
        ms = tuple(sorted(members[root]))
        out.append(SharingGroup(ms, tuple(rmrrs.get(root, ())),
                                tuple(m for m in ms if _fixed(functions, m))))
    return tuple(out)

def group_uses(groups: Sequence[SharingGroup], here: set[Sbdf]) -> tuple[GroupUse, ...]:
    out = []
    for g in groups:
        mine = tuple(m for m in g.members if m in here)
        if not mine:
            continue
        away = tuple(m for m in g.assignable if m not in here)
        out.append(GroupUse(g, mine, away, GROUP_PARTIAL if away else GROUP_WHOLE))
    return tuple(out)
