"""The host as Xen sees it after parsing the DMAR: the contract between host and libxl stages."""

from __future__ import annotations

from xlrmrr.common import NEWEST_XEN, PAGE_SHIFT, PAGE_SIZE, E820Entry, Finding, Sbdf, XenVersion
from xlrmrr.records import record
from xlrmrr.releases import XEN_RDM_ZERO_PAGES_SKIPPED


@record(hot=True)
class Rmrr:
    """One registered RMRR (acpi_rmrr_unit), or a `rmrr=` command-line range."""

    base: int                      # base_address
    end: int                       # end_address, inclusive
    segment: int
    devices: tuple[Sbdf, ...]      # scope devices in scope order, as Xen stores them
    scope_count: int               # Xen's scope.devices_cnt (endpoint/bridge/IOAPIC/HPET entries)
    source: str = ""               # where it came from, e.g. "DMAR+0x90" or "rmrr= option"
    unresolved: tuple[str, ...] = ()       # scope entries whose device cannot be known (why)
    below_bridges: tuple[Sbdf, ...] = ()   # functions below sub-hierarchy (bridge) scopes

    @property
    def start_pfn(self) -> int:
        return self.base >> PAGE_SHIFT

    @property
    def nr_pages(self) -> int:
        """PFN_UP(end) - PFN_DOWN(base): every page the inclusive range touches."""
        return ((self.end + PAGE_SIZE - 1) >> PAGE_SHIFT) - self.start_pfn

    @property
    def shared(self) -> bool:
        return self.scope_count > 1


@record
class Bar:
    """One BAR of a host PCI function (size from the host; where it goes is hvmloader's)."""

    index: int
    size: int
    is_64bit: bool = False
    prefetchable: bool = False
    is_io: bool = False


@record
class PciFunction:
    """What the host knows of one PCI function (from sysfs or a snapshot)."""

    sbdf: Sbdf
    class_code: int | None = None          # 24-bit class/subclass/prog-if
    vendor: int | None = None
    device: int | None = None
    header_type: int | None = None
    secondary_bus: int | None = None       # bridges: config 0x19
    subordinate_bus: int | None = None     # bridges: config 0x1A
    bars: tuple[Bar, ...] = ()
    reset_method: str | None = None
    iommu_group: int | None = None
    config: bytes = b""                    # first bytes of config space (a snapshot keeps 64)


@record
class Host:
    """Everything the planner needs to know about the host."""

    rmrrs: tuple[Rmrr, ...]                 # in Xen's list order (reverse DMAR order; rmrr= first)
    vtd_enabled: bool = True                # False: Xen rejected the DMAR, no RDM at all
    devices: tuple[PciFunction, ...] = ()   # sorted by sbdf; empty when no topology is known
    e820: tuple[E820Entry, ...] = ()        # host memory map, empty when unknown
    xen_version: XenVersion | None = None   # of the snapshot's hypervisor, when known
    findings: tuple[Finding, ...] = ()
    firmware_rmrrs: tuple[Rmrr, ...] = ()   # every RMRR of the table, in table order, as decoded
    topology_known: bool = False            # devices is the complete PCI topology
    source: str = ""                        # where the host data came from (file names)
    # ANDD entries: (ACPI device number, object name, offsets of the DRHDs whose namespace
    # scopes name it). Xen ignores them; listed so that nobody tries to pass them through.
    namespace_devices: tuple[tuple[int, str, tuple[int, ...]], ...] = ()
    # Why the host data cannot tell every RMRR (a boot log without RMRR lines, or with lines that
    # do not parse); "" when it can. A guest whose devices could have RMRRs is then "unknown".
    rmrrs_unknown: str = ""

    def device(self, sbdf: Sbdf) -> PciFunction | None:
        for d in self.devices:
            if d.sbdf == sbdf:
                return d
        return None


def reported(rmrr: Rmrr, version: XenVersion | None) -> bool:
    """Whether XENMEM_reserved_device_memory_map can report the RMRR at all: from 4.16
    get_reserved_device_memory (xen/common/memory.c) skips one of 0 pages (docs/xen/hypervisor.md).
    version None: the newest modelled release."""
    return rmrr.nr_pages != 0 or not XEN_RDM_ZERO_PAGES_SKIPPED.in_effect(version or NEWEST_XEN)


def reserved_device_memory_map(host: Host, sbdf: Sbdf | None = None,
                               version: XenVersion | None = None) -> tuple[tuple[int, int], ...]:
    """XENMEM_reserved_device_memory_map: (start_pfn, nr_pages) per RMRR, as Xen `version`
    answers it (None: the newest modelled release).

    With sbdf None this is the XENMEM_RDM_ALL query. Xen walks its RMRR list in order and each
    RMRR's devices in scope order, stops an RMRR's walk at a device 00:00.0 (BDF 0), and reports
    each RMRR at most once. An RMRR whose devices are all unresolved (behind bridges, no
    topology) is still reported by the ALL query, as Xen would. An RMRR of 0 pages is not
    reported from 4.16 (reported()).
    """
    if not host.vtd_enabled:
        return ()
    out = []
    for rmrr in host.rmrrs:
        if not reported(rmrr, version):
            continue
        if sbdf is None and rmrr.unresolved and not rmrr.devices:
            # Xen reads the bridges' secondary bus and finds a device (never 00:00.0 behind a
            # bridge): the ALL query reports the RMRR even though xlrmrr cannot name it.
            out.append((rmrr.start_pfn, rmrr.nr_pages))
            continue
        for dev in rmrr.devices:
            if dev.bdf == 0:
                break
            if sbdf is None or (dev.seg == sbdf.seg and dev.bdf == sbdf.bdf):
                out.append((rmrr.start_pfn, rmrr.nr_pages))
                break
    return tuple(out)
