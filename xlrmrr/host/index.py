"""Which RMRRs a device gets: Xen's for_each_rmrr_device over the host, walked once.

for_each_rmrr_device (xen/drivers/passthrough/vtd/dmar.h) walks the RMRR list in order and each
RMRR's scope in order, naming a device PCI_SBDF(rmrr->segment, bdf), and ends an RMRR's walk at
a BDF of 0 (00:00.0); with VT-d disabled there is no list at all. intel_iommu_assign_device
(vtd/iommu.c) maps what it finds for the device being assigned, get_reserved_device_memory
(xen/common/memory.c) reports it for XENMEM_reserved_device_memory_map (docs/xen/hypervisor.md).
Every stage that asks which RMRRs a device has asks this index: libxl's construct_rdm, the
hypervisor's assignment, the driver's verdict and the host command. host.query.device_rmrrs and
host.model.reserved_device_memory_map are the plain walks it agrees with.
"""

from __future__ import annotations

from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr, reported


class RmrrIndex:
    """The host's RMRRs by device (list order, each RMRR once per device), and the RMRRs whose
    bridge scope a device sits below. O(scope entries) to build, O(answer) per question."""

    __slots__ = ("_by_device", "_below")

    def __init__(self, host: Host):
        self._by_device: dict[tuple[int, int], list[Rmrr]] = {}
        self._below: dict[Sbdf, list[Rmrr]] = {}
        if not host.vtd_enabled:
            return
        for rmrr in host.rmrrs:
            for dev in rmrr.devices:
                if dev.bdf == 0:
                    break
                lst = self._by_device.setdefault((rmrr.segment, dev.bdf), [])
                if not lst or lst[-1] is not rmrr:
                    lst.append(rmrr)
            for dev in rmrr.below_bridges:
                self._below.setdefault(dev, []).append(rmrr)

    @classmethod
    def of(cls, host: Host) -> RmrrIndex:
        """The index of `host`, built once for the Host last asked about: one plan asks for it
        in libxl, the hypervisor and the verdict, and a Host is immutable. The Host is kept
        with its index, so that the identity check cannot be fooled by a recycled id."""
        last = _LAST[0]
        if last is not None and last[0] is host:
            return last[1]
        index = cls(host)
        _LAST[0] = (host, index)
        return index

    def rmrrs(self, sbdf: Sbdf) -> tuple[Rmrr, ...]:
        """What intel_iommu_assign_device identity-maps for the device, in Xen's order."""
        return tuple(self._by_device.get((sbdf.seg, sbdf.bdf), ()))

    def rdm(self, sbdf: Sbdf, version: XenVersion | None = None) -> tuple[tuple[int, int], ...]:
        """XENMEM_reserved_device_memory_map for the device: (start_pfn, nr_pages) per RMRR as
        Xen `version` reports it (None: the newest modelled release)."""
        return tuple((r.start_pfn, r.nr_pages) for r in self._by_device.get((sbdf.seg, sbdf.bdf), ())
                     if reported(r, version))

    def below(self, sbdf: Sbdf) -> tuple[Rmrr, ...]:
        """RMRRs that name a bridge above the device: Xen keeps only the bridge's BDF, so the
        device itself gets none of them (unless it is also named directly)."""
        return tuple(self._below.get(sbdf, ()))


_LAST: list = [None]     # (Host, RmrrIndex) of RmrrIndex.of's last answer
