"""The hypervisor at device assignment: shared-RMRR rule, identity maps, refcounts, groups.

Models, for a guest whose memory libxc has populated, what XEN_DOMCTL_assign_device does for
each passthrough device in the order libxl assigns them (config order),
docs/xen/flow.md#hypervisor-device-assignment:
intel_iommu_assign_device (vtd/iommu.c) refuses (-EPERM) or warns about an RMRR whose scope
lists more than one entry, then iommu_identity_mapping (x86/iommu.c; rmrr_identity_mapping
before 4.16) refcounts each RMRR range per domain, and p2m_add_identity_entry (x86/mm/p2m.c)
installs gfn == mfn p2m_mmio_direct rw entries where the p2m is empty, leaves existing 1:1
entries alone, and refuses (-EBUSY) or, with XEN_DOMCTL_DEV_RDM_RELAXED, skips pages that
already hold guest RAM.

Page state is kept as sorted byte intervals, never page lists: a guest may have TiBs.
Xen prints the domain as %pd (Dom%d before 4.15); the domain id is not known before `xl create`,
so messages use a placeholder: d1 (the first domain created after boot) for one guest, and
d1, d2 ... in the order given for several.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from xlrmrr.common import (
    FOUR_GB,
    PAGE_SHIFT,
    PAGE_SIZE,
    Finding,
    Sbdf,
    XenVersion,
    hexa,
    size_str,
    span,
)
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.host.query import device_roots
from xlrmrr.records import record
from xlrmrr.releases import XEN_ASSIGN_MAPS_FIRST, XEN_IOMMU_IDENTITY_MAPPING, XEN_PD_FORMAT
from xlrmrr.xlcfg.domain import (
    LIBXL_PCI_FUNC_ALL,
    POLICY_INVALID,
    POLICY_RELAXED,
    POLICY_STRICT,
    DomainConfig,
    PciDevice,
)

DOMID = 1

# Xen's errno values (xen/include/public/errno.h, the Linux x86 numbers).
EPERM = 1
ENOENT = 2
EBUSY = 16
ENODEV = 19
EADDRINUSE = 98
ERRNO_NAMES = {-EPERM: "-EPERM", -ENOENT: "-ENOENT", -EBUSY: "-EBUSY", -ENODEV: "-ENODEV",
               -EADDRINUSE: "-EADDRINUSE"}

SPECIAL_PAGES = (0xFEFF0000, 0xFF000000)   # ioreq-server + special pfns 0xfeff0..0xfefff

# What one run of an RMRR's pages ends up as in the guest p2m.
RUN_MAPPED = "mapped"            # was empty: now gfn == mfn, p2m_mmio_direct, rw
RUN_IDENTITY = "identity"        # already 1:1 p2m_mmio_direct rw: nothing to do
RUN_BUSY = "busy"                # occupied: -EBUSY (strict), the assignment fails here
RUN_KEPT = "kept"                # occupied, RELAXED: left as it is, device DMA hits guest RAM
RUN_NOT_REACHED = "not-reached"  # after the page that failed
RUN_IOMMU = "iommu"              # PV guest: entered into the IOMMU only, no p2m
_ONE_TO_ONE = frozenset((RUN_MAPPED, RUN_IDENTITY, RUN_IOMMU))   # pages the device reaches 1:1

# What the per-domain identity-map list did with the range as a whole.
MAP_NEW = "new"                  # not yet listed: pages processed, listed with count 1
MAP_COUNTED = "counted"          # same range already listed: count++, no page touched
MAP_OVERLAP = "overlap"          # overlaps a different listed range: -EADDRINUSE (4.16+)
MAP_SKIPPED = "skipped"          # the assignment stopped before this RMRR

# How a guest uses an RMRR sharing group.
GROUP_WHOLE = "whole"            # every assignable member is in this guest
GROUP_PARTIAL = "partial"        # some members are elsewhere (dom0 or another guest)


# ---------------------------------------------------------------------------------------------
# Result types

@record(eq=False, hot=True)
class PageRun:
    """Consecutive guest pages [start, end) of one RMRR that share an outcome."""

    start: int
    end: int
    state: str
    occupant: str = ""          # what held the pages before: guest RAM, special pages ...

    @property
    def pages(self) -> int:
        return (self.end - self.start) >> PAGE_SHIFT

    def to_json(self) -> dict:
        return {"start": self.start, "size": self.end - self.start, "state": self.state,
                "occupant": self.occupant}


@record(eq=False, hot=True)
class IdentityOutcome:
    """One RMRR of one assigned device: what the identity mapping did with it."""

    rmrr: Rmrr
    sharers: tuple[Sbdf, ...]          # the other scope entries (shared RMRR)
    exposed: bool                      # E820_RESERVED in the guest's e820 (libxl kept it)
    action: str                        # MAP_*
    runs: tuple[PageRun, ...]
    rc: int                            # 0 or a negative errno
    count: int = 0                     # the range's refcount afterwards

    @property
    def shared(self) -> bool:
        return self.rmrr.shared

    @property
    def honoured(self) -> bool:
        """Every page is 1:1 in the guest: the device's DMA reaches the host's range."""
        if self.rc or self.action == MAP_SKIPPED:
            return False
        for r in self.runs:     # a loop, not all(genexpr): asked ~3 times per RMRR
            if r.state not in _ONE_TO_ONE:
                return False
        return True

    @property
    def start(self) -> int:
        return self.rmrr.base >> PAGE_SHIFT << PAGE_SHIFT

    @property
    def end(self) -> int:
        """PAGE_ALIGN(end_address), exclusive: iommu_identity_mapping's end_pfn << 12."""
        return (self.rmrr.end + PAGE_SIZE - 1) >> PAGE_SHIFT << PAGE_SHIFT

    def to_json(self) -> dict:
        return {**span(self.rmrr), "shared": self.shared,
                "sharers": [str(s) for s in self.sharers], "exposed": self.exposed,
                "action": self.action, "rc": self.rc, "count": self.count,
                "honoured": self.honoured, "runs": [r.to_json() for r in self.runs]}


@record(eq=False, hot=True)
class DeviceAssignment:
    """XEN_DOMCTL_assign_device for one PCI function."""

    sbdf: Sbdf
    spec: str
    policy: str                        # after libxl__device_pci_setdefault
    relaxed: bool                      # XEN_DOMCTL_DEV_RDM_RELAXED in the flags
    rc: int                            # what XEN_DOMCTL_assign_device returns
    outcomes: tuple[IdentityOutcome, ...]
    log: tuple[str, ...]               # Xen console lines, in order
    hotplug: bool = False
    # Up to the XSA-400 fix (XEN_ASSIGN_MAPS_FIRST): a failing map handed the device back to
    # its previous owner, yet a later RMRR of the device that maps made the call return 0.
    handed_back: bool = False
    undone: bool = False               # XSA-400 on: the call failed and this device's maps were undone

    @property
    def succeeds(self) -> bool:
        """xc_assign_device returns 0: libxl goes on, xl create (or pci-attach) succeeds."""
        return self.rc == 0

    @property
    def assigned(self) -> bool:
        """The device is the guest's afterwards."""
        return self.rc == 0 and not self.handed_back

    @property
    def honoured(self) -> bool:
        if self.rc or self.handed_back:     # not self.assigned
            return False
        for o in self.outcomes:
            if not o.honoured:
                return False
        return True

    @property
    def hidden_failures(self) -> tuple[IdentityOutcome, ...]:
        """RMRRs whose map failed although the assignment returns 0 (a later RMRR of the device
        mapped: intel_iommu_assign_device's `break` leaves only the inner loop)."""
        return tuple(o for o in self.outcomes if o.rc) if self.rc == 0 else ()

    def to_json(self) -> dict:
        return {"sbdf": str(self.sbdf), "spec": self.spec, "policy": self.policy,
                "flag": "XEN_DOMCTL_DEV_RDM_RELAXED" if self.relaxed else "0",
                "rc": self.rc, "assigned": self.assigned, "honoured": self.honoured,
                "hotplug": self.hotplug, "rmrrs": [o.to_json() for o in self.outcomes],
                "xen_log": list(self.log)}


@record(eq=False, hot=True)
class IdentityMap:
    """An entry of the domain's identity-map list (struct identity_map / mapped_rmrr)."""

    base: int
    end: int                           # inclusive, as the RMRR gives it
    count: int
    devices: tuple[Sbdf, ...]

    def to_json(self) -> dict:
        return {**span(self), "count": self.count, "devices": [str(d) for d in self.devices]}


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


@record(eq=False, hot=True)
class PageTableState:
    """What the guest's p2m and the IOMMU hold for one RMRR, in shared and non-shared mode."""

    rmrr: Rmrr
    exposed: bool
    p2m: str
    iommu_shared: str
    iommu_separate: str
    cpu_access: str
    dma: str

    def to_json(self) -> dict:
        return {**span(self.rmrr), "exposed": self.exposed,
                "p2m": self.p2m, "iommu_shared_ept": self.iommu_shared,
                "iommu_separate": self.iommu_separate, "cpu_access": self.cpu_access,
                "dma": self.dma}


@record(eq=False)
class AssignResult:
    """XEN_DOMCTL_assign_device for every passthrough device of one guest, in libxl's order."""

    devices: tuple[DeviceAssignment, ...]
    identity_maps: tuple[IdentityMap, ...]
    findings: tuple[Finding, ...]
    blocked: bool                      # an assignment fails: libxl aborts the create
    degraded: bool                     # all assigned, but some RMRR is not 1:1 in the guest
    groups: tuple[GroupUse, ...] = ()
    page_tables: tuple[PageTableState, ...] = ()
    shared_pt: bool = True             # the IOMMU uses the EPT tables (iommu=sharept default)
    populated: tuple[tuple[int, int], ...] = ()
    xen_version: XenVersion | None = None
    domid: int = DOMID
    absent: tuple[Sbdf, ...] = ()      # assigned devices the known host topology lacks

    @property
    def log(self) -> tuple[str, ...]:
        return tuple(line for d in self.devices for line in d.log)

    def to_json(self) -> dict:
        return {"blocked": self.blocked, "degraded": self.degraded,
                "domain": f"d{self.domid} (placeholder: the id is chosen at xl create)",
                "shared_pt": self.shared_pt,
                "devices": [d.to_json() for d in self.devices],
                "identity_maps": [m.to_json() for m in self.identity_maps],
                "groups": [g.to_json() for g in self.groups],
                "page_tables": [p.to_json() for p in self.page_tables],
                "xen_log": list(self.log),
                "findings": [f.to_json() for f in self.findings]}


# ---------------------------------------------------------------------------------------------
# Interval helpers: sorted, disjoint, half-open byte ranges.

def normalise(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort and merge half-open ranges; drop empty ones."""
    out: list[list[int]] = []
    for s, e in sorted(r for r in ranges if r[1] > r[0]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return tuple((s, e) for s, e in out)


def clip(ranges: Sequence[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of sorted disjoint ranges inside [start, end), in O(log n + answer)."""
    i = max(bisect.bisect_right(ranges, (start, 1 << 128)) - 1, 0)
    out = []
    while i < len(ranges):
        s, e = ranges[i]
        if s >= end:
            break
        lo, hi = max(s, start), min(e, end)
        if lo < hi:
            out.append((lo, hi))
        i += 1
    return out


def _occupant(start: int) -> str:
    if SPECIAL_PAGES[0] <= start < SPECIAL_PAGES[1]:
        return "special pages"
    return "guest RAM"


# ---------------------------------------------------------------------------------------------
# Messages as Xen prints them (VTDPREFIX is "[VT-D]").

def _dom(version: XenVersion, domid: int = DOMID) -> str:
    return f"d{domid}" if XEN_PD_FORMAT.in_effect(version) else f"Dom{domid}"


def shared_rmrr_message(sbdf: Sbdf, rmrr: Rmrr, relaxed: bool, version: XenVersion,
                        domid: int = DOMID) -> str:
    word = "risky" if relaxed else "disallowed"
    return (f"[VT-D] It's {word} to assign {sbdf} with shared RMRR at {rmrr.base:x} "
            f"for {_dom(version, domid)}.")


def map_failed_message(rmrr: Rmrr, rc: int, version: XenVersion, domid: int = DOMID) -> str:
    """intel_iommu_assign_device's report of a failed identity map (vtd/iommu.c): the XSA-400
    text ("%pd: ...", 78a40f8b5d: 4.17, 4.13.5, 4.14.5, 4.15.3, 4.16.1), before it the 4.6 text,
    which prints Dom%d on every release that has it (4.16.0 included)."""
    if XEN_ASSIGN_MAPS_FIRST.in_effect(version):
        return f"[VT-D]d{domid}: cannot map reserved region [{rmrr.base:x},{rmrr.end:x}]: {rc}"
    return (f"[VT-D] cannot map reserved region ({rmrr.base:x},{rmrr.end:x}] for "
            f"Dom{domid} ({rc})")


def busy_message(gfn: int, domid: int = DOMID) -> str:
    """p2m_add_identity_entry's warning. The mfn behind a guest RAM page is chosen at run time,
    so it is shown as <mfn>."""
    return f"Cannot setup identity map d{domid}:{gfn:x}, gfn already mapped to <mfn>."


# ---------------------------------------------------------------------------------------------
# Host-side facts

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


def effective_policy(dev: PciDevice) -> str:
    """libxl__device_pci_setdefault: an INVALID per-device policy becomes STRICT."""
    return POLICY_STRICT if dev.rdm_policy == POLICY_INVALID else dev.rdm_policy


def assigned_functions(dev: PciDevice, host: Host) -> tuple[Sbdf, ...]:
    """The functions libxl assigns for one pci= entry (`.*`: every function the host has)."""
    if dev.sbdf is None:
        return ()
    if dev.vfunc_mask == LIBXL_PCI_FUNC_ALL:
        key = (dev.sbdf.seg, dev.sbdf.bus, dev.sbdf.dev)
        fns = tuple(d.sbdf for d in host.devices if (d.sbdf.seg, d.sbdf.bus, d.sbdf.dev) == key)
        return fns or (dev.sbdf,)
    return (dev.sbdf,)


def guest_functions(domain: DomainConfig, host: Host) -> tuple[Sbdf, ...]:
    return tuple(s for d in domain.pci for s in assigned_functions(d, host))


# ---------------------------------------------------------------------------------------------
# The assignment

class _HostIndex:
    """The host looked up by device once, so that assigning D devices over R RMRRs costs
    O((R + D) log R), not O(R * D)."""

    def __init__(self, host: Host, rdms):
        self.host = host
        self.by_device: dict[tuple[int, int], list[Rmrr]] = {}
        if host.vtd_enabled:
            for rmrr in host.rmrrs:
                for dev in rmrr.devices:
                    if dev.bdf == 0:
                        break
                    lst = self.by_device.setdefault((rmrr.segment, dev.bdf), [])
                    if not lst or lst[-1] is not rmrr:
                        lst.append(rmrr)
        self.functions = {f.sbdf: f for f in host.devices}
        self.below: dict[Sbdf, list[Rmrr]] = {}
        for rmrr in host.rmrrs if host.vtd_enabled else ():
            for dev in getattr(rmrr, "below_bridges", ()):
                self.below.setdefault(dev, []).append(rmrr)
        self.exposed: dict[int, bool] = {}
        for r in rdms:
            self.exposed.setdefault(r.start, getattr(r, "policy", POLICY_STRICT) != POLICY_INVALID)

    def rmrrs(self, sbdf: Sbdf) -> tuple[Rmrr, ...]:
        return tuple(self.by_device.get((sbdf.seg, sbdf.bdf), ()))

    def is_exposed(self, rmrr: Rmrr) -> bool:
        return self.exposed.get(rmrr.start_pfn << PAGE_SHIFT, False)


class _Domain:
    """The guest's p2m occupancy and identity-map list while devices are assigned (private,
    mutated only inside this module's functions)."""

    def __init__(self, populated, translated: bool, version: XenVersion, mappings=(),
                 domid: int = DOMID):
        self.domid = domid
        self.ram = normalise(populated)
        self.mappings = tuple(sorted(mappings))    # (start, end, label): other p2m entries
        self.identity: list[tuple[int, int]] = []   # sorted, disjoint: installed 1:1 runs
        self.maps: dict[tuple[int, int], list] = {}  # (base, end) -> [count, [devices]]
        self.sorted_maps: list[tuple[int, int]] = []
        self.translated = translated
        self.version = version

    def pages(self, rmrr: Rmrr, relaxed: bool) -> tuple[tuple[PageRun, ...], int, list[str]]:
        """set_identity_p2m_entry over every page of the RMRR, as runs."""
        start = rmrr.base >> PAGE_SHIFT << PAGE_SHIFT
        end = (rmrr.end + PAGE_SIZE - 1) >> PAGE_SHIFT << PAGE_SHIFT
        if end <= start:
            return (), 0, []
        if not self.translated:
            return (PageRun(start, end, RUN_IOMMU),), 0, []
        occupied = sorted([(s, e, False, _occupant(s)) for s, e in clip(self.ram, start, end)]
                          + [(s, e, True, "") for s, e in clip(self.identity, start, end)]
                          + [(max(s, start), min(e, end), False, label)
                             for s, e, label in self.mappings if s < end and start < e])
        runs: list[PageRun] = []
        log: list[str] = []
        cur, rc = start, 0
        for s, e, identity, what in occupied:
            s = max(s, cur)
            if s >= e:
                continue
            if s > cur:
                runs.append(PageRun(cur, s, RUN_MAPPED))
            if identity:
                runs.append(PageRun(s, e, RUN_IDENTITY, "identity map"))
            elif relaxed:
                runs.append(PageRun(s, e, RUN_KEPT, what))
                more = (e - s) // PAGE_SIZE - 1
                log.append(busy_message(s >> PAGE_SHIFT, self.domid) + (
                    f" [repeated for each of the next {more} page(s), up to gfn "
                    f"{(e >> PAGE_SHIFT) - 1:x}; guest-level messages are rate-limited]"
                    if more else ""))
            else:
                runs.append(PageRun(s, s + PAGE_SIZE, RUN_BUSY, what))
                log.append(busy_message(s >> PAGE_SHIFT, self.domid))
                if s + PAGE_SIZE < end:
                    runs.append(PageRun(s + PAGE_SIZE, end, RUN_NOT_REACHED))
                # the pages before the failing one stay 1:1 (set_identity_p2m_entry is called
                # page by page and nothing undoes them; the range is not listed)
                for r in runs:
                    if r.state == RUN_MAPPED:
                        bisect.insort(self.identity, (r.start, r.end))
                return tuple(runs), -EBUSY, log
            cur = e
        if cur < end:
            runs.append(PageRun(cur, end, RUN_MAPPED))
        for r in runs:
            if r.state == RUN_MAPPED:
                bisect.insort(self.identity, (r.start, r.end))
        return tuple(runs), rc, log

    def _overlaps_listed(self, base: int, end: int) -> bool:
        """A listed range with end >= base and listed_end >= base' (inclusive, as Xen compares).
        From 4.16 listed ranges never overlap each other, so the neighbours decide."""
        i = bisect.bisect_left(self.sorted_maps, (base, -1))
        if i > 0 and self.sorted_maps[i - 1][1] >= base:
            return True
        return i < len(self.sorted_maps) and self.sorted_maps[i][0] <= end

    def identity_mapping(self, rmrr: Rmrr, relaxed: bool, sbdf: Sbdf):
        """iommu_identity_mapping(d, p2m_access_rw, base, end, flag) (4.16+), or
        rmrr_identity_mapping(d, 1, rmrr, flag) before: no overlap check there."""
        key = (rmrr.base, rmrr.end)
        m = self.maps.get(key)
        if m is not None:
            m[0] += 1
            m[1].append(sbdf)
            return MAP_COUNTED, (), 0, [], m[0]
        if XEN_IOMMU_IDENTITY_MAPPING.in_effect(self.version) and self._overlaps_listed(rmrr.base, rmrr.end):
            return MAP_OVERLAP, (), -EADDRINUSE, [], 0
        runs, rc, log = self.pages(rmrr, relaxed)
        if rc == 0:
            self.maps[key] = [1, [sbdf]]
            bisect.insort(self.sorted_maps, key)
        return MAP_NEW, runs, rc, log, 1 if rc == 0 else 0

    def assign(self, index: _HostIndex, spec: str, sbdf: Sbdf, policy: str,
               hotplug: bool = False) -> DeviceAssignment:
        """intel_iommu_assign_device."""
        relaxed = policy == POLICY_RELAXED
        rmrrs = index.rmrrs(sbdf)
        log: list[str] = []
        for rmrr in rmrrs:
            if rmrr.shared:
                log.append(shared_rmrr_message(sbdf, rmrr, relaxed, self.version, self.domid))
                if not relaxed:
                    outcomes = tuple(IdentityOutcome(r, _sharers(r, sbdf), index.is_exposed(r),
                                                     MAP_SKIPPED, (), 0) for r in rmrrs)
                    return DeviceAssignment(sbdf, spec, policy, relaxed, -EPERM, outcomes,
                                            tuple(log), hotplug)
        # for_each_rmrr_device is two nested loops (vtd/dmar.h): the `break` after a failing
        # map leaves only the inner one, so every RMRR of the device is tried and the call
        # returns the result of the last. Up to XSA-400 the device is handed to the guest
        # first and back to its previous owner at each failure; from XSA-400 it is handed over
        # only if that result is 0, else this device's maps are undone.
        maps_first = XEN_ASSIGN_MAPS_FIRST.in_effect(self.version)
        outcomes = []
        rc = 0
        handed_back = False
        undo = []
        for rmrr in rmrrs:
            action, runs, rc, lines, count = self.identity_mapping(rmrr, relaxed, sbdf)
            log.extend(lines)
            if rc:
                log.append(map_failed_message(rmrr, rc, self.version, self.domid))
                handed_back = handed_back or not maps_first
            elif action in (MAP_NEW, MAP_COUNTED):
                undo.append((rmrr.base, rmrr.end))
            outcomes.append(IdentityOutcome(rmrr, _sharers(rmrr, sbdf), index.is_exposed(rmrr),
                                            action, runs, rc, count))
        if rc and maps_first:
            for key in undo:
                self.unmap(key, sbdf)
        return DeviceAssignment(sbdf, spec, policy, relaxed, rc, tuple(outcomes), tuple(log),
                                hotplug, handed_back and rc == 0, bool(rc and maps_first and undo))

    def unmap(self, key: tuple[int, int], sbdf: Sbdf) -> None:
        """iommu_identity_mapping(d, p2m_access_x, base, end, 0): count--, and at 0 the range's
        pages leave the p2m and the list."""
        m = self.maps.get(key)
        if m is None:
            return
        m[0] -= 1
        if sbdf in m[1]:
            m[1].remove(sbdf)
        if m[0] == 0:
            del self.maps[key]
            self.sorted_maps.remove(key)
            base = key[0] >> PAGE_SHIFT << PAGE_SHIFT
            end = (key[1] + PAGE_SIZE - 1) >> PAGE_SHIFT << PAGE_SHIFT
            self.identity = [r for part in self.identity
                             for r in ((part[0], min(part[1], base)), (max(part[0], end), part[1]))
                             if r[1] > r[0]]


def absent_device_finding(sbdf: Sbdf, host: Host, translated: bool, hotplug: bool) -> Finding:
    """libxl__device_pci_add of a device the host does not have. For an HVM guest its
    xc_test_assign_device fails first (Xen knows no such device); otherwise the device is
    missing from pciback's assignable list."""
    if translated:
        said = (f"xc_test_assign_device fails (Xen has no such device) and libxl logs \"PCI "
                f"device {sbdf} already assigned to a different guest?\"")
    else:
        said = (f"libxl logs \"PCI device {sbdf.seg:x}:{sbdf.bus:x}:{sbdf.dev:x}.{sbdf.fn:x} is "
                f"not assignable\"")
    fails = "`xl pci-attach` fails" if hotplug else "`xl create` fails"
    where = f" ({host.source})" if host.source else ""
    return Finding(
        "error", "device-absent", "libxl",
        f"{sbdf} is not a PCI function of this host: the known PCI topology{where} has no such "
        f"device. {said}; {fails}. Check the address (`lspci -D`, `xl pci-assignable-list`), "
        f"correct the pci= entry or the device given, or give host data taken from this host")


def _sharers(rmrr: Rmrr, sbdf: Sbdf) -> tuple[Sbdf, ...]:
    return tuple(d for d in rmrr.devices if d != sbdf)


def assign_devices(domain: DomainConfig, host: Host, rdms=(), populated=(),
                   xen_version: XenVersion | None = None, shared_pt: bool | None = None,
                   extra: tuple[tuple[str, Sbdf, str], ...] = (),
                   mappings: tuple[tuple[int, int, str], ...] = (),
                   domid: int = DOMID) -> AssignResult:
    """Assign every pci= device of the guest after libxc populated its memory.

    rdms: the libxl stage's RDM entries (start, size, policy); an entry whose policy is
    "invalid" is not in the guest e820. populated: (start, end) byte ranges holding guest RAM or
    special pages. extra: devices hot-plugged afterwards, as (spec, sbdf, policy); mappings:
    other p2m entries present by then, as (start, end, label), e.g. passthrough BARs the device
    model mapped after boot. domid: the id Xen's messages show (unknown before xl create: d1
    for one guest, d1, d2 ... in start order for several).
    Assignment stops at the first failing device, as libxl's create does."""
    version = xen_version or domain.xen_version
    translated = domain.type != "pv"
    if shared_pt is None:
        shared_pt = translated and domain.hap is not False
    dom = _Domain(populated, translated, version, mappings, domid)
    index = _HostIndex(host, rdms)
    devices: list[DeviceAssignment] = []
    findings: list[Finding] = []
    blocked = False
    todo = []
    for dev in domain.pci:
        if dev.sbdf is None:
            continue          # libxl reports pci-by-name; nothing to model without a BDF
        todo.extend((dev.spec, sbdf, effective_policy(dev), False)
                    for sbdf in assigned_functions(dev, host))
    todo.extend((spec, sbdf, policy, True) for spec, sbdf, policy in extra)
    absent: list[Sbdf] = []
    if todo and not host.vtd_enabled:
        # Xen runs without an IOMMU: iommu_do_domctl answers every assignment domctl with
        # -ENOSYS (-EOPNOTSUPP in later releases). libxl__device_pci_add tests an HVM guest's
        # device first and fails; for a PV guest do_pci_add ignores xc_assign_device's ENOSYS
        # (libxl_pci.c). From 4.13 libxl refuses such a guest before building it, so only the
        # earlier releases get here.
        sbdf = todo[0][1]
        if translated:
            findings.append(Finding(
                "error", "no-iommu", "libxl",
                f"PCI device {sbdf} cannot be assigned - no IOMMU? (xc_test_assign_device "
                f"fails: Xen runs without VT-d, it rejected the host's DMAR table; libxl "
                f"destroys the guest it has built and `xl create` fails)"))
            return AssignResult((), (), tuple(findings), True, False, (), (), shared_pt, dom.ram,
                                version, domid)
        findings.append(Finding(
            "warning", "no-iommu-pv", "libxl",
            f"Xen runs without VT-d (it rejected the host's DMAR table): xc_assign_device fails "
            f"with ENOSYS, which libxl ignores for a PV guest, so {_names(s for _, s, _, _ in todo)} "
            f"{'is' if len(todo) == 1 else 'are'} passed through without an IOMMU: the device's "
            f"DMA reaches any host memory and no RMRR is mapped or checked"))
        return AssignResult((), (), tuple(findings), False, False, (), (), shared_pt, dom.ram,
                            version, domid)
    for spec, sbdf, policy, hotplug in todo:
        if host.topology_known and sbdf not in index.functions:
            absent.append(sbdf)
            findings.append(absent_device_finding(sbdf, host, translated, hotplug))
            blocked = True
            break
        if policy not in (POLICY_STRICT, POLICY_RELAXED):
            findings.append(Finding(
                "error", "rdm-flag-unknown", "libxl",
                f"{sbdf}: unknown rdm check flag. (rdm_policy is {policy!r}: xl copied an "
                f"uninitialised value (tools/xl/xl_parse.c:parse_config_data copies the rdm= policy "
                f"xlu_rdm_parse never set); libxl fails the assignment "
                f"(tools/libs/light/libxl_pci.c:pci_add_dm_done) unless the value happens to be "
                f"0 (strict) or 1 (relaxed). Write rdm_policy=strict or "
                f"rdm_policy=relaxed in the pci= entry)"))
            blocked = True
            break
        da = dom.assign(index, spec, sbdf, policy, hotplug)
        devices.append(da)
        findings.extend(_device_findings(index, da, version, domid))
        if not da.succeeds:
            findings.append(Finding(
                "error", "assign-failed", "libxl",
                "xc_assign_device failed" + (
                    f" ({sbdf}: {ERRNO_NAMES.get(da.rc, da.rc)}); `xl pci-attach` fails"
                    if hotplug else f" ({sbdf}: {ERRNO_NAMES.get(da.rc, da.rc)}); libxl "
                    f"destroys the half-built domain and `xl create` fails")))
            blocked = True
            break
    maps = tuple(IdentityMap(b, e, c, tuple(d)) for (b, e), (c, d) in dom.maps.items())
    here = set(guest_functions(domain, host)) | {s for _, s, _ in extra}
    uses = group_uses(sharing_groups(host), here)
    for use in uses:
        findings.extend(_group_findings(host, use, devices))
    findings.extend(_open_issue_findings(domain, host, rdms, devices))
    for d in devices:
        for rmrr in index.below.get(d.sbdf, ()):
            if rmrr not in index.rmrrs(d.sbdf):
                findings.append(Finding(
                    "warning", "rmrr-below-bridge", "xen",
                    f"{d.sbdf} sits below a bridge named in the scope of RMRR {rmrr_range(rmrr)}: Xen "
                    f"keeps only the bridge's own BDF for reserved-memory queries and device "
                    f"assignment, so this device gets no 1:1 mapping of the range and libxl "
                    f"does not reserve it. If the device uses the range its DMA faults in the "
                    f"IOMMU (DMAR faults in `xl dmesg`)", (rmrr.base, rmrr.end)))
    degraded = not blocked and (
        any(not d.honoured for d in devices)
        or any(u.kind == GROUP_PARTIAL for u in uses)
        or any(f.code == "rmrr-below-bridge" for f in findings))
    tables = []
    covered: set[int] = set()
    for d in devices:
        for o in d.outcomes:
            if o.action != MAP_SKIPPED and o.rmrr.start_pfn not in covered:
                covered.add(o.rmrr.start_pfn)
                tables.append(page_table_state(o, shared_pt, translated, d))
    tables.extend(_unused_rdm_state(r) for r in rdms
                  if getattr(r, "policy", POLICY_STRICT) != POLICY_INVALID
                  and (r.start >> PAGE_SHIFT) not in covered and translated)
    findings.extend(_class_findings(domain, index, devices))
    if todo and not host.topology_known:
        findings.append(Finding(
            "info", "device-presence-assumed", "libxl",
            "the host's PCI topology is not known (the host data lists no PCI devices; give "
            "--host-json, or a --snapshot taken on the host): xlrmrr assumes "
            "every assigned device exists and is assignable (bound to pciback); libxl fails the "
            "assignment of one that is not"))
    return AssignResult(tuple(devices), maps, tuple(findings), blocked, degraded, uses,
                        tuple(tables), shared_pt, dom.ram, version, domid, tuple(absent))


def group_uses(groups: Sequence[SharingGroup], here: set[Sbdf]) -> tuple[GroupUse, ...]:
    out = []
    for g in groups:
        mine = tuple(m for m in g.members if m in here)
        if not mine:
            continue
        away = tuple(m for m in g.assignable if m not in here)
        out.append(GroupUse(g, mine, away, GROUP_PARTIAL if away else GROUP_WHOLE))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Explanations

PRE_4_6_TABLES = (
    "before Xen 4.6 (not modelled) RMRRs of HVM guests went through intel_iommu_map_page only: "
    "with shared EPT tables that call did nothing (no mapping at all, DMA faulted), with separate "
    "tables the IOMMU got the 1:1 entries while the p2m kept guest RAM at the same addresses "
    "(DMA and the guest CPU saw different memory); USB RMRRs were skipped for HVM entirely. "
    "4.6 (5ae03990c1) made the identity map a p2m entry in both modes, as modelled here")


def page_table_state(o: IdentityOutcome, shared_pt: bool, translated: bool = True,
                     device: DeviceAssignment | None = None) -> PageTableState:
    """What the p2m and the IOMMU hold for one RMRR after the assignment.

    With a shared page table (HAP/EPT with iommu=sharept, the default on VT-d when EPT and the
    IOMMU support the same superpage sizes) VT-d walks the EPT itself; otherwise (hap=0,
    iommu=no-sharept, mismatched superpages) Xen keeps separate VT-d tables and mirrors every
    IOMMU-visible p2m change into them, so the two hold the same translations."""
    from xlrmrr import devices as dc
    if not translated:
        return PageTableState(o.rmrr, o.exposed, "no p2m (PV guest: it uses machine addresses)",
                              "-", "1:1 rw entries in the domain's VT-d tables",
                              "the guest maps the machine pages itself if allowed",
                              "reaches the host's reserved range")
    kept = any(r.state == RUN_KEPT for r in o.runs)
    if device is not None and device.undone:
        return PageTableState(o.rmrr, o.exposed, "nothing (mapped, then undone: the assignment "
                              "failed)", "nothing for this range", "nothing for this range",
                              dc.ACCESS_UNMAPPED, "the device is not assigned")
    if o.honoured:
        p2m = "gfn == mfn, p2m_mmio_direct, rw"
        cpu, dma = dc.ACCESS_IDENTITY, "reaches the host's reserved range (1:1)"
    elif kept:
        p2m = "guest RAM pages (gfn -> the guest's own mfn), unchanged: relaxed skip"
        cpu, dma = dc.ACCESS_RAM, "lands in guest RAM, not in the host's reserved range"
    elif device is not None and device.succeeds and o.rc:
        # a failed map the device's later RMRR hid: the assignment returned 0
        held = next((r.occupant for r in o.runs if r.state == RUN_BUSY), "") or "what was there"
        p2m = (f"not 1:1: the map failed ({ERRNO_NAMES.get(o.rc, o.rc)}); what the guest had "
               f"there ({held}) stays, pages before the failing one are 1:1, the range is not "
               f"listed")
        cpu = (f"the p2m's entries there are unchanged ({held}): the guest accesses its own "
               f"pages, not the host's reserved memory")
        dma = ("the device went back to its previous owner: its DMA is not translated for this "
               "guest" if device.handed_back else
               f"does not reach the host's reserved range: it lands in {held} where the p2m "
               f"holds it, and faults where nothing is mapped")
        return PageTableState(o.rmrr, o.exposed, p2m, "the EPT itself: the same entries",
                              "a copy of the same entries (mirrored on every p2m change)", cpu, dma)
    else:
        p2m = "nothing new (the assignment failed and is rolled back)"
        cpu, dma = dc.ACCESS_UNMAPPED, "the device is not assigned"
    if o.honoured or kept:
        shared = "the EPT itself: the same entries"
        separate = "a copy of the same entries (mirrored on every p2m change)"
    else:
        shared = separate = "nothing for this range"
    return PageTableState(o.rmrr, o.exposed, p2m, shared, separate, cpu, dma)


def _unused_rdm_state(rdm) -> PageTableState:
    """An RDM in the guest's e820 that no device of this guest maps (strategy=host reserves
    every host RMRR): E820_RESERVED, but nothing behind it."""
    from xlrmrr import devices as dc
    pseudo = Rmrr(rdm.start, rdm.start + rdm.size - 1, 0, tuple(getattr(rdm, "devices", ())),
                  len(getattr(rdm, "devices", ())))
    return PageTableState(pseudo, True, "nothing (no device of this guest uses the range)",
                          "nothing", "nothing", dc.ACCESS_UNMAPPED,
                          "no device of this guest targets it")


def _class_findings(domain: DomainConfig, index: _HostIndex,
                    devices: Sequence[DeviceAssignment]) -> list[Finding]:
    """Device-class consequences: IGD without gfx_passthru, the OpRegion the device model maps."""
    from xlrmrr import devices as dc
    out = []
    for d in devices:
        cls = dc.classify(index.functions.get(d.sbdf))
        if cls.kind in (dc.KIND_USB, dc.KIND_IGD) and d.outcomes:
            out.append(_class_info(d, cls))
        if cls.kind != dc.KIND_IGD or not d.assigned:
            continue
        if not domain.gfx_passthru:
            out.append(Finding(
                "info", "igd-no-gfx-passthru", "libxl",
                f"{d.sbdf} is Intel integrated graphics assigned without gfx_passthru: it is a "
                f"secondary display; the guest driver still needs its stolen-memory RMRR 1:1, "
                f"but gets no IGD OpRegion from hvmloader/QEMU"))
            continue
        op = (dc.IGD_OPREGION, dc.IGD_OPREGION + dc.IGD_OPREGION_SIZE)
        for o in d.outcomes:
            if o.start < op[1] and op[0] < o.end:
                out.append(Finding(
                    "warning", "igd-opregion-rmrr", "xen",
                    f"{d.sbdf}: RMRR {rmrr_range(o.rmrr)} covers the guest address where hvmloader "
                    f"puts the IGD OpRegion ({hexa(op[0])}); QEMU later maps the host OpRegion "
                    f"there with XEN_DOMCTL_memory_mapping over the 1:1 entries",
                    (o.rmrr.base, op[0])))
    return out


def _class_info(d: DeviceAssignment, cls) -> Finding:
    """Why a USB controller or an IGD has its RMRRs, whatever became of them."""
    ranges = ", ".join(rmrr_range(o.rmrr) for o in d.outcomes)
    if d.handed_back:
        state = "the device went back to its previous owner, so it does not use this guest's maps"
    elif not d.assigned:
        state = "the assignment fails, so the range is not mapped into this guest"
    elif d.honoured:
        state = "here every range is honoured (identity-mapped 1:1), as the device needs"
    else:
        state = "here a range is NOT honoured (guest RAM or nothing behind it)"
    return Finding(
        "info", "device-class", "xen",
        f"{d.sbdf} is {cls.a_name}: its RMRR(s) {ranges} are for {cls.purpose}; {state}. A "
        f"relaxed policy is {cls.relaxed_safe}. When the range is not honoured: {cls.breaks}",
        tuple(o.rmrr.base for o in d.outcomes))


def rmrr_range(r: Rmrr) -> str:
    """An RMRR as Xen prints a range: [base, end]."""
    return f"[{hexa(r.base)}, {hexa(r.end)}]"


def _device_findings(index: _HostIndex, da: DeviceAssignment, version: XenVersion,
                     domid: int = DOMID) -> list[Finding]:
    from xlrmrr import devices as dc
    cls = dc.classify(index.functions.get(da.sbdf))
    out = []
    said = None         # _class_text(cls), built once per device
    for o in da.outcomes:
        r = o.rmrr
        if da.rc == -EPERM and o.shared:
            out.append(Finding(
                "error", "shared-rmrr", "xen",
                f"{da.sbdf}: {shared_rmrr_message(da.sbdf, r, False, version, domid)} The RMRR "
                f"{rmrr_range(r)} is also in the scope of {_names(o.sharers, r)}. Under the strict policy "
                f"Xen refuses (-EPERM): a device sharing the range could DMA into memory this guest "
                f"sees. Assign the whole group to this guest with rdm_policy=relaxed on each "
                f"device, or leave the device in dom0. {said or (said := _class_text(cls))}",
                (r.base, r.end)))
        elif o.shared and da.relaxed and da.rc != -EPERM:
            out.append(Finding(
                "info", "shared-rmrr-risky", "xen",
                f"{da.sbdf}: {shared_rmrr_message(da.sbdf, r, True, version, domid)} (the RMRR "
                f"{rmrr_range(r)} is also in the scope of {_names(o.sharers, r)}; see the group verdict)",
                (r.base, r.end)))
        hidden = o.rc != 0 and da.rc == 0     # a later RMRR of the device mapped (see below)
        if o.action == MAP_OVERLAP:
            out.append(Finding(
                "warning" if hidden else "error", "identity-overlap", "xen",
                f"{da.sbdf}: {map_failed_message(r, o.rc, version, domid)}: the RMRR "
                f"{rmrr_range(r)} overlaps a different range already identity-mapped into this guest; "
                f"iommu_identity_mapping refuses with -EADDRINUSE whatever the policy",
                (r.base, r.end)))
        if not XEN_IOMMU_IDENTITY_MAPPING.in_effect(version) and any(x.state == RUN_IDENTITY for x in o.runs):
            out.append(Finding(
                "warning", "identity-overlap-old", "xen",
                f"{da.sbdf}: RMRR {rmrr_range(r)} overlaps a different range already identity-mapped "
                f"into this guest. Xen {version} has no check for this and shares the pages; "
                f"the XSA-378 fixes (in 4.16, backported to 4.13.4, 4.14.3, 4.15.1 and later "
                f"point releases) refuse it with -EADDRINUSE, failing the assignment",
                (r.base, r.end)))
        busy = [x for x in o.runs if x.state == RUN_BUSY]
        kept = [x for x in o.runs if x.state == RUN_KEPT]
        if busy:
            b = busy[0]
            out.append(Finding(
                "warning" if hidden else "error", "identity-busy", "xen",
                f"{da.sbdf}: {busy_message(b.start >> PAGE_SHIFT, domid)} then "
                f"{map_failed_message(r, o.rc, version, domid)}: the RMRR {rmrr_range(r)} lies in "
                f"{b.occupant} at {hexa(b.start)}; with the strict policy Xen refuses the 1:1 "
                f"mapping (-EBUSY). {said or (said := _class_text(cls))}", (r.base, r.end)))
        if kept:
            pages = sum(x.pages for x in kept)
            out.append(Finding(
                "warning", "identity-relaxed", "xen",
                f"{da.sbdf}: RMRR {rmrr_range(r)}: {pages} page(s) ({size_str(pages * PAGE_SIZE)}) "
                f"hold {kept[0].occupant}; with the relaxed policy Xen leaves them (\"Cannot setup "
                f"identity map ...\" once per page) and the device's DMA to this range lands in "
                f"guest RAM, not in the host's reserved memory. "
                f"{said or (said := _class_text(cls))}", (r.base, r.end)))
    if da.hidden_failures:
        out.append(_hidden_failure_finding(da, version))
    return out


def _hidden_failure_finding(da: DeviceAssignment, version: XenVersion) -> Finding:
    """A failing identity map that a later RMRR of the same device hides (vtd/iommu.c
    intel_iommu_assign_device;
    docs/xen/hypervisor.md#device-assignment-a-failing-map-that-a-later-rmrr-hides)."""
    failed = da.hidden_failures
    last = da.outcomes[-1].rmrr
    ranges = ", ".join(rmrr_range(o.rmrr) for o in failed)
    errs = ", ".join(ERRNO_NAMES.get(o.rc, str(o.rc)) for o in failed)
    why = (f"XEN_DOMCTL_assign_device still returns 0: the `break` after \"cannot map reserved "
           f"region\" leaves only the inner of for_each_rmrr_device's two loops, and the device's "
           f"later RMRR {rmrr_range(last)} maps and sets the result back to 0, so xl create "
           f"succeeds")
    if da.handed_back:
        what = (f"Xen {version} handed the device to the guest before mapping and back to its "
                f"previous owner (dom0, or dom_io when quarantined) at the failure: the guest "
                f"sees the device through the device model, but the IOMMU does not translate "
                f"its DMA for the guest. The device will not work (its DMA faults, or reaches "
                f"the previous owner's memory)")
    else:
        what = (f"Xen {version} maps first and hands the device over when the result is 0: the "
                f"device is the guest's with {ranges} not (fully) mapped 1:1, so its DMA there "
                f"does not reach the host's reserved memory (it lands in what the guest has at "
                f"those addresses, or faults where nothing is mapped: DMAR faults in `xl "
                f"dmesg`) and what needs that range will not work")
    return Finding(
        "warning", "identity-failure-hidden", "xen",
        f"{da.sbdf}: the 1:1 mapping of RMRR {ranges} fails ({errs}), yet {why}. {what}. Keep "
        f"guest RAM off the range (it must be reserved in the guest's e820: policy strict and "
        f"lowmem_end below it) or leave the device out", tuple(o.rmrr.base for o in failed))


def _class_text(cls) -> str:
    """What the range is for, whether relaxed is safe, what breaks when it is not honoured.
    Without the device's class none of that is known, and the sentence says so once."""
    from xlrmrr import devices as dc

    if cls.kind == dc.KIND_UNKNOWN:
        return (f"The device's class is not known (the host data has no PCI topology: give "
                f"--snapshot or --host-json), so neither what the range is for nor whether a "
                f"relaxed policy is safe can be said. When the range is not honoured: {cls.breaks}")
    return (f"For this {cls.name} the range is for {cls.purpose}. A relaxed policy is "
            f"{cls.relaxed_safe}. When the range is not honoured: {cls.breaks}")


def _names(sbdfs: Iterable[Sbdf], rmrr: Rmrr | None = None) -> str:
    names = [str(s) for s in sbdfs]
    if rmrr is not None and rmrr.scope_count > len(rmrr.devices):
        n = rmrr.scope_count - len(rmrr.devices)
        names.append(f"{n} more scope entr{'y' if n == 1 else 'ies'} (bridge, IOAPIC or HPET)")
    return ", ".join(names) or "a bridge, IOAPIC or HPET scope entry"


def _group_findings(host: Host, use: GroupUse, devices: Sequence[DeviceAssignment]
                    ) -> list[Finding]:
    rng = ", ".join(rmrr_range(r) for r in use.group.rmrrs)
    members = ", ".join(str(m) for m in use.group.members)
    addrs = tuple(a for r in use.group.rmrrs for a in (r.base, r.end))
    if use.kind == GROUP_WHOLE:
        relaxed = all(d.relaxed for d in devices if d.sbdf in use.here)
        if relaxed:
            return [Finding(
                "info", "group-whole", "xen",
                f"RMRR sharing group {{{members}}} ({rng}) is assigned whole to this guest with "
                f"the relaxed policy: Xen warns \"It's risky\", but no other guest uses the "
                f"range, so this is safe (dom0 keeps the 1:1 mapping it got at boot, "
                f"setup_hwdom_rmrr; dom0 is trusted)", addrs)]
        return []
    away = ", ".join(str(m) for m in use.elsewhere)
    return [Finding(
        "warning", "group-partial", "xen",
        f"RMRR sharing group {{{members}}} ({rng}) is split: this guest takes "
        f"{', '.join(str(m) for m in use.here)}, while {away} stay(s) in dom0 (or go to another "
        f"guest). Both sides keep a 1:1 mapping of the same host memory: the other device's DMA "
        f"reaches memory this guest can read and write, and this guest's device (and the guest "
        f"itself, through its 1:1 mapping) reaches memory the other side uses. Assign the whole "
        f"group to one guest", addrs)]


def _open_issue_findings(domain: DomainConfig, host: Host, rdms,
                         devices: Sequence[DeviceAssignment]) -> list[Finding]:
    """The original design's open issue: something that may later populate or map RDMs."""
    out = []
    pod = (domain.type == "hvm" and domain.max_memkb is not None
           and domain.target_memkb is not None and domain.max_memkb > domain.target_memkb)
    sizes = (f"maxmem ({domain.max_memkb // 1024} MiB) > memory ({domain.target_memkb // 1024} "
             f"MiB)") if pod else ""
    plugged = [d for d in devices if d.hotplug]
    if pod and domain.pci:
        out.append(Finding(
            "info", "open-ballooning", "xen",
            f"{sizes}: the guest would start populate-on-demand and balloon later, populating "
            f"pages after the identity maps were set, possibly inside an RDM that was skipped "
            f"under relaxed. Xen's toolstack refuses PoD together with passthrough; set maxmem = "
            f"memory"))
    elif pod and plugged:
        out.append(Finding(
            "warning", "open-ballooning", "xen",
            f"{plugged[0].sbdf}: {sizes} and no pci= at creation: the guest runs "
            f"populate-on-demand, and Xen refuses device assignment (-EXDEV, "
            f"arch_iommu_use_permitted) while PoD is still active, i.e. until the guest's balloon "
            f"driver has brought it down to memory=; the pages it balloons in later are "
            f"populated after the identity maps were set. Set maxmem = memory at creation"))
    for d in devices:
        for o in d.outcomes:
            if (o.honoured and o.runs and not o.exposed and domain.type == "hvm"
                    and not 0xFC000000 <= o.rmrr.base < FOUR_GB):
                who = ("the guest OS, which assigns the BARs of hot-plugged devices in the "
                       "e820 holes," if d.hotplug else "hvmloader")
                out.append(Finding(
                    "warning", "open-device-model", "xen",
                    f"{d.sbdf}: RMRR {rmrr_range(o.rmrr)} is identity-mapped but not in the guest's "
                    f"e820, so {who} does not avoid it: a BAR placed there is then mapped by the "
                    f"device model (XEN_DOMCTL_memory_mapping) over the 1:1 entries",
                    (o.rmrr.base,)))
    return out


# ---------------------------------------------------------------------------------------------
# Plans: the driver's result for one guest, whether or not it ran this stage itself

def populated_from_layout(layout) -> tuple[tuple[int, int], ...]:
    """What meminit_hvm and alloc_magic_pages_hvm populate, from libxl's lowmem_end/highmem_end:
    [0, 0xa0000) and [0xc0000, lowmem_end), [4G, highmem_end), the special pages."""
    if getattr(layout, "guest_type", "hvm") == "pv":
        return ()
    ranges = [(0, 0xA0000), (0xC0000, layout.lowmem_end), SPECIAL_PAGES]
    if layout.highmem_end > FOUR_GB:
        ranges.append((FOUR_GB, layout.highmem_end))
    return normalise(ranges)


def assign_for_plan(plan, extra=(), domid: int = DOMID) -> AssignResult | None:
    """The plan's assignment (recomputed when hot-plugged devices are added), or None when the
    create fails before devices are assigned (libxl or libxc refuses the domain)."""
    layout = plan.libxl
    if layout is None or layout.failed:
        return None
    if plan.hypervisor is not None and not extra and domid == plan.hypervisor.domid:
        return plan.hypervisor
    libxc = plan.libxc
    if libxc is not None and getattr(libxc, "failed", False):
        return None
    populated = libxc.populated if libxc is not None else populated_from_layout(layout)
    return assign_devices(plan.domain, plan.host, layout.rdms, populated, plan.xen_version,
                          shared_pt=None if layout.guest_type == "pv" else layout.hap, extra=extra,
                          mappings=running_mappings(plan) if extra else (), domid=domid)


def running_mappings(plan) -> tuple[tuple[int, int, str], ...]:
    """p2m entries of a running guest besides its RAM, where hvmloader placed the BARs:
    passthrough BARs, which the device model maps (XEN_DOMCTL_memory_mapping, p2m_mmio_direct
    to the host BAR); the emulated VGA frame buffer, whose video RAM QEMU moves to BAR 0
    (XENMAPSPACE_gmfn_range); and the Xen platform device's BAR 1, where PV drivers map the
    grant table (XENMEM_add_to_physmap). Other emulated BARs stay empty in the p2m."""
    loader = getattr(plan, "hvmloader", None)
    if loader is None:
        return ()
    vram = plan.libxl.video_memkb * 1024 if plan.libxl is not None else 0
    out = []
    for b in loader.bars:
        if b.base is None:
            continue
        if b.device == "vga":
            if b.index == 0 and vram:
                out.append((b.base, b.base + min(vram, b.size),
                            "the VGA frame buffer (video RAM QEMU moved to BAR 0)"))
        elif b.device == "xen-platform":
            out.append((b.base, b.base + b.size,
                        "BAR 1 of the Xen platform device, where PV drivers map the grant "
                        "table (if the guest runs them)"))
        else:
            out.append((b.base, b.base + b.size,
                        f"BAR {b.index} of {b.device}, mapped by the device model"))
    return tuple(out)
