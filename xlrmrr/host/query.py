"""Questions the planner asks of a Host: a device's RMRRs, and who shares them."""

from __future__ import annotations

from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr, reported


def rmrrs_of(host: Host, sbdf: Sbdf) -> tuple[Rmrr, ...]:
    """Every registered RMRR whose scope lists the device (what intel_iommu_assign_device maps),
    in Xen's list order."""
    return tuple(r for r in host.rmrrs if any(d.seg == sbdf.seg and d.bdf == sbdf.bdf
                                              for d in r.devices))


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


def rdm_by_device(host: Host, version: XenVersion | None = None
                  ) -> dict[Sbdf, tuple[tuple[int, int], ...]]:
    """reserved_device_memory_map(host, sbdf, version) for every listed device at once, in one
    pass (O(total scope entries) instead of O(RMRRs) per device)."""
    out: dict[Sbdf, list[tuple[int, int]]] = {}
    if not host.vtd_enabled:
        return {}
    for r in host.rmrrs:
        if not reported(r, version):
            continue
        seen = set()
        for d in r.devices:
            if d.bdf == 0:
                break
            key = Sbdf(d.seg, d.bus, d.dev, d.fn)
            if key not in seen:
                seen.add(key)
                out.setdefault(key, []).append((r.start_pfn, r.nr_pages))
    return {k: tuple(v) for k, v in out.items()}


def rmrrs_by_device(host: Host) -> dict[Sbdf, tuple[Rmrr, ...]]:
    """rmrrs_of() for every listed device at once."""
    out: dict[Sbdf, list[Rmrr]] = {}
    for r in host.rmrrs:
        for d in dict.fromkeys(r.devices):
            out.setdefault(d, []).append(r)
    return {k: tuple(v) for k, v in out.items()}


def device_rmrrs(host: Host, sbdf: Sbdf) -> tuple[Rmrr, ...]:
    """for_each_rmrr_device filtered on one device: RMRRs in list order whose scope names it.

    An RMRR's scope walk stops at a device 00:00.0, as Xen's macro does."""
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
