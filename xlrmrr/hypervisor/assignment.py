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

from xlrmrr.common import PAGE_SHIFT, PAGE_SIZE, Finding, Sbdf, XenVersion
from xlrmrr.host.groups import GROUP_PARTIAL, group_uses, sharing_groups
from xlrmrr.host.index import RmrrIndex
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.hypervisor import explanations as ex
from xlrmrr.hypervisor.messages import (
    EADDRINUSE,
    EBUSY,
    EPERM,
    busy_message,
    map_failed_message,
    shared_rmrr_message,
)
from xlrmrr.hypervisor.results import (
    DOMID,
    MAP_COUNTED,
    MAP_NEW,
    MAP_OVERLAP,
    MAP_SKIPPED,
    ONE_TO_ONE,
    RUN_BUSY,
    RUN_IDENTITY,
    RUN_IOMMU,
    RUN_KEPT,
    RUN_MAPPED,
    RUN_NOT_REACHED,
    SPECIAL_PAGES,
    AssignResult,
    DeviceAssignment,
    IdentityMap,
    IdentityOutcome,
    PageRun,
)
from xlrmrr.libxl.create import effective_policy
from xlrmrr.ranges import clip, intersect, normalise, overlaps, subtract
from xlrmrr.releases import XEN_ASSIGN_MAPS_FIRST, XEN_IOMMU_IDENTITY_MAPPING
from xlrmrr.xlcfg.domain import (
    LIBXL_PCI_FUNC_ALL,
    POLICY_INVALID,
    POLICY_RELAXED,
    POLICY_STRICT,
    DomainConfig,
    PciDevice,
)


def _occupant(start: int) -> str:
    if SPECIAL_PAGES[0] <= start < SPECIAL_PAGES[1]:
        return "special pages"
    return "guest RAM"

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


def assigned_rmrr_starts(domain: DomainConfig, host: Host) -> set[int]:
    """Start addresses of the host RMRRs Xen maps for the functions libxl assigns. An RMRR
    [X, X] with X page-aligned has no page: Xen reserves and maps none of it, any release."""
    index = RmrrIndex.of(host)
    return {r.start_pfn << PAGE_SHIFT for s in guest_functions(domain, host)
            for r in index.rmrrs(s) if r.nr_pages}


class _HostIndex:
    """The host and libxl's RDMs looked up once: a device's RMRRs (xlrmrr.host.index), its PCI
    function, whether libxl put an RMRR in the guest's e820. Assigning D devices over R RMRRs
    costs O(R + D), not O(R * D)."""

    def __init__(self, host: Host, rdms):
        self.host = host
        rmrr_index = RmrrIndex.of(host)
        self.rmrrs, self.below = rmrr_index.rmrrs, rmrr_index.below
        self.functions = {f.sbdf: f for f in host.devices}
        self.exposed: dict[int, bool] = {}
        for r in rdms:
            self.exposed.setdefault(r.start, getattr(r, "policy", POLICY_STRICT) != POLICY_INVALID)

    def is_exposed(self, rmrr: Rmrr) -> bool:
        return self.exposed.get(rmrr.start_pfn << PAGE_SHIFT, False)


class _Domain:
    """The guest's p2m occupancy and identity-map list while devices are assigned (private,
    mutated only inside this module's functions)."""

    def __init__(self, populated, translated: bool, version: XenVersion, mappings=(),
                 domid: int = DOMID, kept_lines: bool = True):
        self.domid = domid
        self.kept_lines = kept_lines    # Xen's console lines for pages a relaxed map leaves
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
                          + [(*intersect(s, e, start, end), False, label)
                             for s, e, label in self.mappings if overlaps(s, e, start, end)])
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
                if self.kept_lines:
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
            return MAP_COUNTED, (), 0, [], m[0], m[2]
        if self._overlaps_listed(rmrr.base, rmrr.end) and XEN_IOMMU_IDENTITY_MAPPING.in_effect(self.version):
            return MAP_OVERLAP, (), -EADDRINUSE, [], 0, True
        runs, rc, log = self.pages(rmrr, relaxed)
        if rc == 0:
            # [refcount, devices, every page 1:1 as this first mapping left it]
            self.maps[key] = [1, [sbdf], all(r.state in ONE_TO_ONE for r in runs)]
            bisect.insort(self.sorted_maps, key)
        return MAP_NEW, runs, rc, log, 1 if rc == 0 else 0, True

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
            action, runs, rc, lines, count, listed_ok = self.identity_mapping(rmrr, relaxed, sbdf)
            log.extend(lines)
            if rc:
                log.append(map_failed_message(rmrr, rc, self.version, self.domid))
                handed_back = handed_back or not maps_first
            elif action in (MAP_NEW, MAP_COUNTED):
                undo.append((rmrr.base, rmrr.end))
            outcomes.append(IdentityOutcome(rmrr, _sharers(rmrr, sbdf), index.is_exposed(rmrr),
                                            action, runs, rc, count, listed_ok))
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
            self.identity = subtract(self.identity, base, end)

def _sharers(rmrr: Rmrr, sbdf: Sbdf) -> tuple[Sbdf, ...]:
    return tuple(d for d in rmrr.devices if d != sbdf)


def assign_devices(domain: DomainConfig, host: Host, rdms=(), populated=(),
                   xen_version: XenVersion | None = None, shared_pt: bool | None = None,
                   extra: tuple[tuple[str, Sbdf, str], ...] = (),
                   mappings: tuple[tuple[int, int, str], ...] = (),
                   domid: int = DOMID, explain: bool = True) -> AssignResult:
    """Assign every pci= device of the guest after libxc populated its memory.

    rdms: the libxl stage's RDM entries (start, size, policy); an entry whose policy is
    "invalid" is not in the guest e820. populated: (start, end) byte ranges holding guest RAM or
    special pages. extra: devices hot-plugged afterwards, as (spec, sbdf, policy); mappings:
    other p2m entries present by then, as (start, end, label), e.g. passthrough BARs the device
    model mapped after boot. domid: the id Xen's messages show (unknown before xl create: d1
    for one guest, d1, d2 ... in start order for several). explain=False: the assignments and
    the error findings only, no warning, note, page table or console line for the pages a
    relaxed map leaves (the release comparison's plans, which compare verdicts, the first error
    and layouts: driver.Options.explain).
    Assignment stops at the first failing device, as libxl's create does."""
    version = xen_version or domain.xen_version
    translated = domain.type != "pv"
    if shared_pt is None:
        shared_pt = translated and domain.hap is not False
    dom = _Domain(populated, translated, version, mappings, domid, kept_lines=explain)
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
        findings.append(ex.no_iommu_finding(tuple(s for _, s, _, _ in todo), translated))
        return AssignResult((), (), tuple(findings), translated, False, (), (), shared_pt,
                            dom.ram, version, domid)
    for spec, sbdf, policy, hotplug in todo:
        if host.topology_known and sbdf not in index.functions:
            absent.append(sbdf)
            findings.append(ex.absent_device_finding(sbdf, host, translated, hotplug))
            blocked = True
            break
        if policy not in (POLICY_STRICT, POLICY_RELAXED):
            findings.append(ex.rdm_flag_unknown_finding(sbdf, policy))
            blocked = True
            break
        da = dom.assign(index, spec, sbdf, policy, hotplug)
        devices.append(da)
        findings.extend(ex.device_findings(index.functions, da, version, domid, explain))
        if not da.succeeds:
            findings.append(ex.assign_failed_finding(da))
            blocked = True
            break
    maps = tuple(IdentityMap(b, e, c, tuple(d)) for (b, e), (c, d, _ok) in dom.maps.items())
    here = set(guest_functions(domain, host)) | {s for _, s, _ in extra}
    uses = group_uses(sharing_groups(host), here)
    for use in uses:
        findings.extend(ex.group_findings(host, use, devices))
    findings.extend(ex.open_issue_findings(domain, host, rdms, devices))
    below = [(d.sbdf, rmrr) for d in devices for rmrr in index.below(d.sbdf)
             if rmrr not in index.rmrrs(d.sbdf)]
    findings.extend(ex.below_bridge_finding(sbdf, rmrr) for sbdf, rmrr in below)
    degraded = not blocked and (
        any(not d.honoured for d in devices)
        or any(u.kind == GROUP_PARTIAL for u in uses)
        or bool(below))
    tables = []
    covered: set[int] = set()
    for d in devices if explain else ():
        for o in d.outcomes:
            if o.action != MAP_SKIPPED and o.rmrr.start_pfn not in covered:
                covered.add(o.rmrr.start_pfn)
                tables.append(ex.page_table_state(o, shared_pt, translated, d))
    tables.extend(ex.unused_rdm_state(r) for r in rdms
                  if getattr(r, "policy", POLICY_STRICT) != POLICY_INVALID
                  and (r.start >> PAGE_SHIFT) not in covered and translated and explain)
    findings.extend(ex.class_findings(domain, index.functions, devices))
    if todo and not host.topology_known:
        findings.append(ex.PRESENCE_ASSUMED)
    if not explain:
        findings = [f for f in findings if f.severity == "error"]
    return AssignResult(tuple(devices), maps, tuple(findings), blocked, degraded, uses,
                        tuple(tables), shared_pt, dom.ram, version, domid, tuple(absent),
                        tuple(below))
