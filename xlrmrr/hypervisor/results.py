"""What XEN_DOMCTL_assign_device leaves behind: page runs, identity maps, per-device outcomes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xlrmrr.common import PAGE_SHIFT, PAGE_SIZE, Finding, Sbdf, XenVersion, span
from xlrmrr.host.model import Rmrr
from xlrmrr.records import record

if TYPE_CHECKING:
    from xlrmrr.host.groups import GroupUse

DOMID = 1
SPECIAL_PAGES = (0xFEFF0000, 0xFF000000)   # ioreq-server + special pfns 0xfeff0..0xfefff

# What one run of an RMRR's pages ends up as in the guest p2m.
RUN_MAPPED = "mapped"            # was empty: now gfn == mfn, p2m_mmio_direct, rw
RUN_IDENTITY = "identity"        # already 1:1 p2m_mmio_direct rw: nothing to do
RUN_BUSY = "busy"                # occupied: -EBUSY (strict), the assignment fails here
RUN_KEPT = "kept"                # occupied, RELAXED: left as it is, device DMA hits guest RAM
RUN_NOT_REACHED = "not-reached"  # after the page that failed
RUN_IOMMU = "iommu"              # PV guest: entered into the IOMMU only, no p2m
ONE_TO_ONE = frozenset((RUN_MAPPED, RUN_IDENTITY, RUN_IOMMU))   # pages the device reaches 1:1

# What the per-domain identity-map list did with the range as a whole.
MAP_NEW = "new"                  # not yet listed: pages processed, listed with count 1
MAP_COUNTED = "counted"          # same range already listed: count++, no page touched
MAP_OVERLAP = "overlap"          # overlaps a different listed range: -EADDRINUSE (4.16+)
MAP_SKIPPED = "skipped"          # the assignment stopped before this RMRR

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
    # MAP_COUNTED: whether the listed range's pages are 1:1, as the device that listed it left
    # them (Xen only counts the range again and touches no page)
    listed_one_to_one: bool = True

    @property
    def shared(self) -> bool:
        return self.rmrr.shared

    @property
    def honoured(self) -> bool:
        """Every page is 1:1 in the guest: the device's DMA reaches the host's range."""
        if self.rc or self.action == MAP_SKIPPED:
            return False
        if self.action == MAP_COUNTED:
            return self.listed_one_to_one
        for r in self.runs:     # a loop, not all(genexpr): asked ~3 times per RMRR
            if r.state not in ONE_TO_ONE:
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
    # (device, RMRR) where the device sits below a bridge the RMRR's scope names and gets no
    # 1:1 mapping of it (Xen keeps only the bridge's BDF)
    below_bridge: tuple[tuple[Sbdf, Rmrr], ...] = ()

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
