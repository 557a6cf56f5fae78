"""Questions the planner asks of a Host: a device's RMRRs, and who shares them."""

from __future__ import annotations

from xlrmrr.common import Sbdf
from xlrmrr.host.model import Host, Rmrr


def rmrr_devices(host: Host) -> tuple[Sbdf, ...]:
    """Every device some registered RMRR lists, sorted."""
    return tuple(sorted({d for r in host.rmrrs for d in r.devices}))


def device_roots(rmrrs) -> dict[Sbdf, Sbdf]:
    """Union-find over RMRR scopes: each listed device mapped to the smallest device it shares
    an RMRR with, transitively. O(n a(n)) in the number of scope entries."""
    parent: dict[Sbdf, Sbdf] = {}

    def find(x: Sbdf) -> Sbdf:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in rmrrs:
        for d in r.devices:
            find(d)
        for a, b in zip(r.devices, r.devices[1:]):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {d: find(d) for d in list(parent)}


def sharing_groups(host: Host) -> tuple[tuple[Sbdf, ...], ...]:
    """Devices tied together by shared RMRRs, transitively (A and B share one RMRR, B and C
    another: A, B, C are one group). Only groups of two or more; sorted."""
    groups: dict[Sbdf, list[Sbdf]] = {}
    for d, root in device_roots(host.rmrrs).items():
        groups.setdefault(root, []).append(d)
    return tuple(sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1))



def sharing_group(host: Host, sbdf: Sbdf) -> tuple[Sbdf, ...]:
    """The device's sharing group (just the device when it shares no RMRR)."""
    for g in sharing_groups(host):
        if sbdf in g:
            return g
    return (sbdf,)


def device_rmrrs(host: Host, sbdf: Sbdf) -> tuple[Rmrr, ...]:
    """for_each_rmrr_device filtered on one device: RMRRs in list order whose scope names it.

    An RMRR's scope walk stops at a device 00:00.0, as Xen's macro does. The plain walk that
    xlrmrr.host.index.RmrrIndex, which every stage asks, must agree with."""
    if not host.vtd_enabled:
        return ()
    out = []
    for rmrr in host.rmrrs:
        if rmrr.segment != sbdf.seg:
            continue
        for dev in rmrr.devices:
            if dev.bdf == 0:
                break
            if dev.bdf == sbdf.bdf:
                out.append(rmrr)
                break
    return tuple(out)
