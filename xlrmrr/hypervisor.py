"""The hypervisor at device assignment: shared-RMRR rule, identity maps, refcounts.

Models, for an HVM guest whose memory libxc has populated, what XEN_DOMCTL_assign_device does
for each passthrough device in the order libxl assigns them (config order):
intel_iommu_assign_device (vtd/iommu.c) refuses or warns about RMRRs shared with other devices,
then iommu_identity_mapping (x86/iommu.c) refcounts each RMRR range per domain and
p2m_add_identity_entry (x86/mm/p2m.c) installs gfn == mfn p2m_mmio_direct entries where the
p2m is empty, leaves existing 1:1 entries alone, and refuses (-EBUSY) or, with the RELAXED flag,
silently skips pages that already hold guest RAM.

Page state is kept as sorted byte intervals, never page lists: a guest may have TiBs.
Xen prints the domain as %pd; the domain id is not known before `xl create`, so every message
uses the placeholder d1 (the first domain created after boot).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xlrmrr.common import PAGE_SHIFT, PAGE_SIZE, Finding, Sbdf, hexa
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.xlcfg.domain import (
    LIBXL_PCI_FUNC_ALL,
    POLICY_INVALID,
    POLICY_RELAXED,
    POLICY_STRICT,
    DomainConfig,
    PciDevice,
)

DOMID = 1
DOMAIN = f"d{DOMID}"

# Xen's errno values (xen/include/public/errno.h, same as Linux on x86).
EPERM = 1
ENOENT = 2
EBUSY = 16
ENODEV = 19
EADDRINUSE = 98
ERRNO_NAMES = {0: "0", -EPERM: "-EPERM", -ENOENT: "-ENOENT", -EBUSY: "-EBUSY",
               -ENODEV: "-ENODEV", -EADDRINUSE: "-EADDRINUSE"}

# What one run of an RMRR's pages ends up as in the guest p2m.
RUN_MAPPED = "mapped"          # was empty: now gfn == mfn, p2m_mmio_direct, rw
RUN_IDENTITY = "identity"      # already 1:1 p2m_mmio_direct rw: nothing to do
RUN_BUSY = "busy"              # occupied (guest RAM): -EBUSY under strict
RUN_KEPT = "kept"              # occupied, RELAXED flag: left as it is, DMA hits guest RAM
RUN_NOT_REACHED = "not-reached"  # after the page that failed

# What iommu_identity_mapping did with the range as a whole.
MAP_NEW = "new"                # not yet in the domain's list: pages processed
MAP_COUNTED = "counted"        # same range already listed: count++, no page touched
MAP_OVERLAP = "overlap"        # overlaps a different listed range: -EADDRINUSE
MAP_SKIPPED = "skipped"        # the assignment stopped before this RMRR


@dataclass(frozen=True)
class PageRun:
    """Consecutive guest pages [start, end) of one RMRR that share an outcome."""

    start: int
    end: int
    state: str
    occupant: str = ""         # what held the pages before (guest RAM, identity map ...)

    @property
    def pages(self) -> int:
        return (self.end - self.start) >> PAGE_SHIFT


@dataclass(frozen=True)
class IdentityOutcome:
    """One RMRR of one device: what iommu_identity_mapping did with it."""

    rmrr: Rmrr
    sharers: tuple[Sbdf, ...]          # the other scope entries of a shared RMRR
    exposed: bool                      # the guest e820 has it as RESERVED (libxl kept it)
    action: str                        # MAP_*
    runs: tuple[PageRun, ...]
    rc: int                            # 0 or a negative errno
    count: int = 0                     # the range's refcount afterwards

    @property
    def shared(self) -> bool:
        return self.rmrr.shared

    @property
    def honoured(self) -> bool:
        """Every page of the RMRR is 1:1 in the guest: device DMA reaches the host range."""
        return self.rc == 0 and self.action != MAP_SKIPPED and all(
            r.state in (RUN_MAPPED, RUN_IDENTITY) for r in self.runs)

    @property
    def first_page(self) -> int:
        return self.rmrr.base >> PAGE_SHIFT << PAGE_SHIFT

    @property
    def end_page(self) -> int:
        """PAGE_ALIGN(end) as iommu_identity_mapping computes it (end is inclusive)."""
        return (self.rmrr.end + PAGE_SIZE - 1) >> PAGE_SHIFT << PAGE_SHIFT


@dataclass(frozen=True)
class DeviceAssignment:
    """XEN_DOMCTL_assign_device for one PCI function."""

    sbdf: Sbdf
    spec: str
    policy: str                        # after libxl__device_pci_setdefault
    relaxed: bool                      # XEN_DOMCTL_DEV_RDM_RELAXED in the flags
    rc: int
    outcomes: tuple[IdentityOutcome, ...]
    log: tuple[str, ...]               # Xen console lines, in order

    @property
    def assigned(self) -> bool:
        return self.rc == 0

    @property
    def honoured(self) -> bool:
        return self.assigned and all(o.honoured for o in self.outcomes)


@dataclass(frozen=True)
class IdentityMap:
    """An entry of the domain's identity_maps list (struct identity_map)."""

    base: int
    end: int                           # inclusive, as the RMRR gives it
    count: int
    devices: tuple[Sbdf, ...]


@dataclass(frozen=True)
class AssignResult:
    devices: tuple[DeviceAssignment, ...]
    identity_maps: tuple[IdentityMap, ...]
    findings: tuple[Finding, ...]
    blocked: bool                      # an assignment fails: libxl aborts the create
    degraded: bool                     # all assigned, but some RMRR is not 1:1 in the guest

    @property
    def log(self) -> tuple[str, ...]:
        return tuple(line for d in self.devices for line in d.log)


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


def _clip(ranges: Sequence[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of sorted disjoint ranges inside [start, end)."""
    import bisect
    i = bisect.bisect_right(ranges, (start, 1 << 128)) - 1
    i = max(i, 0)
    out = []
    for s, e in ranges[i:]:
        if s >= end:
            break
        lo, hi = max(s, start), min(e, end)
        if lo < hi:
            out.append((lo, hi))
    return out


# ---------------------------------------------------------------------------------------------

def device_rmrrs(host: Host, sbdf: Sbdf) -> tuple[Rmrr, ...]:
    """for_each_rmrr_device filtered on the device: RMRRs in list order whose scope names it.

    The walk of an RMRR's scope stops at a device 00:00.0, as Xen's macro does."""
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


def effective_policy(dev: PciDevice) -> str:
    """libxl__device_pci_setdefault: an INVALID per-device policy becomes STRICT."""
    return POLICY_STRICT if dev.rdm_policy == POLICY_INVALID else dev.rdm_policy


def assigned_functions(dev: PciDevice, host: Host) -> tuple[Sbdf, ...]:
    """The functions libxl assigns for one pci= entry (`.*` means every function present)."""
    if dev.sbdf is None:
        return ()
    if dev.vfunc_mask == LIBXL_PCI_FUNC_ALL:
        fns = tuple(d.sbdf for d in host.devices
                    if (d.sbdf.seg, d.sbdf.bus, d.sbdf.dev) == (dev.sbdf.seg, dev.sbdf.bus, dev.sbdf.dev))
        return fns or (dev.sbdf,)
    return (dev.sbdf,)


def _exposed(rdms, rmrr: Rmrr) -> bool:
    start = rmrr.start_pfn << PAGE_SHIFT
    for r in rdms:
        if r.start == start:
            return getattr(r, "policy", POLICY_STRICT) != POLICY_INVALID
    return False


def shared_rmrr_message(sbdf: Sbdf, rmrr: Rmrr, relaxed: bool) -> str:
    word = "risky" if relaxed else "disallowed"
    return (f"[VT-D] It's {word} to assign {sbdf} with shared RMRR at {rmrr.base:x} "
            f"for {DOMAIN}.")


def map_failed_message(rmrr: Rmrr, rc: int) -> str:
    return f"{DOMAIN}: cannot map reserved region [{rmrr.base:x},{rmrr.end:x}]: {rc}"


def busy_message(gfn: int) -> str:
    """p2m_add_identity_entry's warning. The mfn behind guest RAM is chosen at run time."""
    return (f"Cannot setup identity map d{DOMID}:{gfn:x}, gfn already mapped to <mfn>.")


@dataclass
class _DomainState:
    """Mutable only inside assign_devices: the p2m occupancy and the identity_maps list."""

    ram: tuple[tuple[int, int], ...]
    identity: list[tuple[int, int]]        # byte ranges installed 1:1 p2m_mmio_direct
    maps: list[list]                       # [base, end, count, devices]


def _identity_pages(state: _DomainState, rmrr: Rmrr, relaxed: bool, sbdf: Sbdf
                    ) -> tuple[tuple[PageRun, ...], int, list[str]]:
    """set_identity_p2m_entry over the RMRR's pages, as runs. Returns runs, rc, log."""
    start = rmrr.base >> PAGE_SHIFT << PAGE_SHIFT
    end = (rmrr.end + PAGE_SIZE - 1) >> PAGE_SHIFT << PAGE_SHIFT
    if end <= start:
        return (), 0, []
    busy = [(s, e, "guest RAM") for s, e in _clip(state.ram, start, end)]
    ident = normalise(state.identity)
    same = [(s, e, "identity map") for s, e in _clip(ident, start, end)]
    occupied = sorted(busy + same)
    runs: list[PageRun] = []
    log: list[str] = []
    cur = start
    rc = 0
    for s, e, what in occupied:
        if s > cur:
            runs.append(PageRun(cur, s, RUN_MAPPED))
        if what == "identity map":
            runs.append(PageRun(s, e, RUN_IDENTITY, what))
        elif relaxed:
            runs.append(PageRun(s, e, RUN_KEPT, what))
            log.append(busy_message(s >> PAGE_SHIFT)
                       + (f" (and for each of the next {((e - s) >> PAGE_SHIFT) - 1} pages, "
                          f"up to {hexa(e - 1)})" if e - s > PAGE_SIZE else ""))
        else:
            runs.append(PageRun(s, s + PAGE_SIZE, RUN_BUSY, what))
            log.append(busy_message(s >> PAGE_SHIFT))
            if s + PAGE_SIZE < end:
                runs.append(PageRun(s + PAGE_SIZE, end, RUN_NOT_REACHED))
            rc = -EBUSY
            cur = end
            break
        cur = e
    if cur < end:
        runs.append(PageRun(cur, end, RUN_MAPPED))
    for r in runs:
        if r.state == RUN_MAPPED:
            state.identity.append((r.start, r.end))
    return tuple(runs), rc, log


def _identity_mapping(state: _DomainState, rmrr: Rmrr, relaxed: bool, sbdf: Sbdf):
    """iommu_identity_mapping(d, p2m_access_rw, base, end, flag)."""
    for m in state.maps:
        if m[0] == rmrr.base and m[1] == rmrr.end:
            m[2] += 1
            m[3].append(sbdf)
            return MAP_COUNTED, (), 0, [], m[2]
        if rmrr.end >= m[0] and m[1] >= rmrr.base:
            return MAP_OVERLAP, (), -EADDRINUSE, [], 0
    runs, rc, log = _identity_pages(state, rmrr, relaxed, sbdf)
    if rc == 0:
        state.maps.append([rmrr.base, rmrr.end, 1, [sbdf]])
    return MAP_NEW, runs, rc, log, 1 if rc == 0 else 0


def assign_devices(domain: DomainConfig, host: Host, rdms=(), populated=()) -> AssignResult:
    """Assign every pci= device of an HVM guest after libxc populated its memory.

    rdms: the libxl stage's RDM entries (start, size, policy); an entry whose policy is INVALID
    was dropped from the guest e820. populated: (start, end) byte ranges holding guest RAM or
    special pages. Assignment stops at the first failing device, as libxl's create does."""
    state = _DomainState(ram=normalise(populated), identity=[], maps=[])
    devices: list[DeviceAssignment] = []
    findings: list[Finding] = []
    blocked = degraded = False
    for dev in domain.pci:
        if dev.sbdf is None:
            findings.append(Finding(
                "info", "assign-by-name", "xen",
                f"pci entry {dev.spec!r} names its device ({dev.name}); its RMRRs cannot be "
                f"checked without knowing which function that is"))
            continue
        policy = effective_policy(dev)
        if policy not in (POLICY_STRICT, POLICY_RELAXED):
            findings.append(Finding(
                "error", "rdm-flag-unknown", "libxl",
                f"{dev.sbdf}: unknown rdm check flag. (the device's rdm_policy is undefined: "
                f"xl copied an unset value; give rdm_policy=strict or rdm_policy=relaxed)"))
            blocked = True
            break
        relaxed = policy == POLICY_RELAXED
        for sbdf in assigned_functions(dev, host):
            da = _assign_one(state, host, rdms, dev, sbdf, policy, relaxed)
            devices.append(da)
            findings.extend(_device_findings(da))
            if not da.assigned:
                blocked = True
                break
            if not da.honoured:
                degraded = True
        if blocked:
            break
    maps = tuple(IdentityMap(b, e, c, tuple(d)) for b, e, c, d in state.maps)
    return AssignResult(tuple(devices), maps, tuple(findings), blocked, degraded and not blocked)


def _assign_one(state: _DomainState, host: Host, rdms, dev: PciDevice, sbdf: Sbdf,
                policy: str, relaxed: bool) -> DeviceAssignment:
    rmrrs = device_rmrrs(host, sbdf)
    log: list[str] = []
    for rmrr in rmrrs:
        if rmrr.shared:
            log.append(shared_rmrr_message(sbdf, rmrr, relaxed))
            if not relaxed:
                outcomes = tuple(IdentityOutcome(r, _sharers(r, sbdf), _exposed(rdms, r),
                                                 MAP_SKIPPED, (), 0) for r in rmrrs)
                return DeviceAssignment(sbdf, dev.spec, policy, relaxed, -EPERM, outcomes,
                                        tuple(log))
    outcomes = []
    rc = 0
    for rmrr in rmrrs:
        if rc:
            outcomes.append(IdentityOutcome(rmrr, _sharers(rmrr, sbdf), _exposed(rdms, rmrr),
                                            MAP_SKIPPED, (), 0))
            continue
        action, runs, rc, lines, count = _identity_mapping(state, rmrr, relaxed, sbdf)
        log.extend(lines)
        if rc:
            log.append(map_failed_message(rmrr, rc))
        outcomes.append(IdentityOutcome(rmrr, _sharers(rmrr, sbdf), _exposed(rdms, rmrr),
                                        action, runs, rc, count))
    return DeviceAssignment(sbdf, dev.spec, policy, relaxed, rc, tuple(outcomes), tuple(log))


def _sharers(rmrr: Rmrr, sbdf: Sbdf) -> tuple[Sbdf, ...]:
    return tuple(d for d in rmrr.devices if d != sbdf)


def _device_findings(da: DeviceAssignment) -> list[Finding]:
    out = []
    for o in da.outcomes:
        r = o.rmrr
        rng = f"[{hexa(r.base)}, {hexa(r.end)}]"
        if da.rc == -EPERM and o.shared:
            out.append(Finding(
                "error", "shared-rmrr", "xen",
                f"{da.sbdf}: {shared_rmrr_message(da.sbdf, r, False)} The RMRR {rng} is also "
                f"used by {_names(o.sharers)}; Xen refuses (-EPERM) under the strict policy "
                f"because the other device's DMA to this range would reach this guest",
                (r.base, r.end)))
        elif o.shared and da.relaxed:
            out.append(Finding(
                "warning", "shared-rmrr-risky", "xen",
                f"{da.sbdf}: {shared_rmrr_message(da.sbdf, r, True)} The RMRR {rng} is also "
                f"used by {_names(o.sharers)}",
                (r.base, r.end)))
        if o.action == MAP_OVERLAP:
            out.append(Finding(
                "error", "identity-overlap", "xen",
                f"{da.sbdf}: {map_failed_message(r, o.rc)}: the RMRR {rng} overlaps a different "
                f"reserved range already identity-mapped into this guest (-EADDRINUSE)",
                (r.base, r.end)))
        busy = [x for x in o.runs if x.state == RUN_BUSY]
        kept = [x for x in o.runs if x.state == RUN_KEPT]
        if busy:
            b = busy[0]
            out.append(Finding(
                "error", "identity-busy", "xen",
                f"{da.sbdf}: {busy_message(b.start >> PAGE_SHIFT)} "
                f"{map_failed_message(r, o.rc)}: the RMRR {rng} lies in guest RAM at "
                f"{hexa(b.start)}; under the strict policy Xen refuses the 1:1 mapping (-EBUSY)",
                (r.base, r.end)))
        if kept:
            pages = sum(x.pages for x in kept)
            out.append(Finding(
                "warning", "identity-relaxed", "xen",
                f"{da.sbdf}: RMRR {rng}: {pages} page(s) hold guest RAM; with the relaxed "
                f"policy Xen leaves them (\"Cannot setup identity map ...\" once per page) and "
                f"the device's DMA to this range lands in guest RAM instead of the host's "
                f"reserved memory", (r.base, r.end)))
    return out


def _names(sbdfs: Iterable[Sbdf]) -> str:
    return ", ".join(str(s) for s in sbdfs) or "no other device"
