"""libxl_dm.c: libxl__domain_device_construct_rdm, which RDMs the guest gets and where low RAM
ends around them (docs/xen/flow.md#libxl-construct-rdm)."""

from __future__ import annotations

from xlrmrr.common import (
    FOUR_GB,
    PAGE_SHIFT,
    hexa,
)
from xlrmrr.host.index import RmrrIndex
from xlrmrr.host.model import Rmrr, reported, reserved_device_memory_map
from xlrmrr.libxl.model import TWO_MB, Rdm
from xlrmrr.libxl.model import libxl_finding as _finding
from xlrmrr.ranges import overlaps
from xlrmrr.releases import (
    LIBXL_ALL_DEVICE_RDMS,
    LIBXL_HAP_2M_ROUNDING,
    LIBXL_HIGHMEM_NOT_FORCED,
)
from xlrmrr.xlcfg.domain import (
    LIBXL_PCI_FUNC_ALL,
    POLICY_INVALID,
    POLICY_STRICT,
    STRATEGY_HOST,
    STRATEGY_IGNORE,
)


def construct_rdm(domain, host, version, devices, strategy, policy, boundary, hap,
                   lowmem_end, highmem_end, findings):
    """libxl__domain_device_construct_rdm (docs/xen/flow.md#libxl-construct-rdm). Returns
    (rdms, lowmem_end, highmem_end, ran, ok)."""
    if strategy == STRATEGY_IGNORE and not domain.pci:
        return [], lowmem_end, highmem_end, False, True
    index = RmrrIndex.of(host)
    rdms: list[dict] = []
    by_start: dict[int, int] = {}
    rmrr_at: dict[int, Rmrr] = {}
    for rmrr in host.rmrrs if host.vtd_enabled else ():
        if reported(rmrr, version):
            rmrr_at.setdefault(rmrr.start_pfn << PAGE_SHIFT, rmrr)

    def scope(start):
        rmrr = rmrr_at.get(start)
        return rmrr.devices if rmrr else ()

    if strategy == STRATEGY_HOST:
        entries = reserved_device_memory_map(host, version=version)   # XENMEM_RDM_ALL
        if not entries:
            findings.append(_finding(
                "info", "no-rdm",
                "XENMEM_reserved_device_memory_map (XENMEM_RDM_ALL) returned no entries: libxl "
                "skips the per-device queries and leaves the layout unchanged"))
            return [], lowmem_end, highmem_end, True, True
        for start_pfn, nr in entries:
            start = start_pfn << PAGE_SHIFT
            by_start.setdefault(start, len(rdms))
            rdms.append({"start": start, "size": nr << PAGE_SHIFT, "policy": policy,
                         "source": "host", "assigned": []})
    for dp in devices:
        if dp.sbdf is None:
            findings.append(_finding(
                "warning", "pci-by-name",
                f"pci= entry {dp.device.spec!r} names its device by name=; xlrmrr cannot resolve it "
                f"to a host BDF, so its RMRRs are not checked"))
            continue
        device_entries = index.rdm(dp.sbdf, version)
        if not device_entries:
            continue
        entries = device_entries if LIBXL_ALL_DEVICE_RDMS.in_effect(version) else device_entries[:1]
        for start_pfn, nr in entries:
            start = start_pfn << PAGE_SHIFT
            i = by_start.get(start)
            if i is not None:
                rdms[i]["policy"] = dp.policy_at_build
                if dp.sbdf not in rdms[i]["assigned"]:
                    rdms[i]["assigned"].append(dp.sbdf)
            else:
                by_start[start] = len(rdms)
                rdms.append({"start": start, "size": nr << PAGE_SHIFT, "policy": dp.policy_at_build,
                             "source": "device", "assigned": [dp.sbdf]})
        if len(entries) < len(device_entries):
            skipped = ", ".join(hexa(p << PAGE_SHIFT) for p, _ in device_entries[1:])
            findings.append(_finding(
                "warning", "rdm-first-entry-only",
                f"{dp.sbdf} has {len(device_entries)} RMRRs; Xen {version} libxl uses only the "
                f"first one and ignores {skipped} (all are honoured from 4.14, 3bdb073643)"))
        if dp.device.vfunc_mask == LIBXL_PCI_FUNC_ALL:
            findings.append(_finding(
                "info", "pci-all-functions",
                f"pci= entry {dp.device.spec!r} assigns every function, but construct_rdm queries only "
                f"{dp.sbdf}: RMRRs of the other functions are not reserved unless strategy=host"))

    if not LIBXL_HIGHMEM_NOT_FORCED.in_effect(version) and highmem_end == 0:
        highmem_end = FOUR_GB
    relocated = set()
    for i, r in enumerate(rdms):
        start = r["start"]
        if start < lowmem_end and start > boundary:
            if hap and start > TWO_MB and LIBXL_HAP_2M_ROUNDING.in_effect(version):
                start &= ~(TWO_MB - 1)
            if highmem_end == 0:
                highmem_end = FOUR_GB
            highmem_end += lowmem_end - start
            lowmem_end = start
            relocated.add(i)

    out = []
    ok = True
    for i, r in enumerate(rdms):
        start, end = r["start"], r["start"] + r["size"]
        conflict = overlaps(start, end, 0, lowmem_end) or (
            highmem_end != 0 and overlaps(start, end, FOUR_GB, highmem_end))
        requested = r["policy"]
        final = requested
        if conflict and ok:
            if requested == POLICY_STRICT:
                findings.append(_finding("error", "rdm-conflict", f"RDM conflict at {hexa(start)}.", start))
                ok = False
            else:
                findings.append(_finding("warning", "rdm-conflict-ignored",
                                         f"Ignoring RDM conflict at {hexa(start)}.", start))
                final = POLICY_INVALID
        out.append(Rdm(start, r["size"], final, scope(r["start"]), tuple(r["assigned"]), requested,
                       r["source"], conflict, i in relocated))
    return out, lowmem_end, highmem_end, True, ok
