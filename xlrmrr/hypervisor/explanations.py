"""Why an assignment came out as it did: findings in the project's words, citing Xen's source,
and what the p2m and the IOMMU hold for each RMRR."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from xlrmrr.common import FOUR_GB, PAGE_SHIFT, PAGE_SIZE, Finding, Sbdf, XenVersion, hexa, size_str
from xlrmrr.host.groups import GROUP_WHOLE, GroupUse
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.hypervisor.messages import (
    EPERM,
    ERRNO_NAMES,
    busy_message,
    map_failed_message,
    rmrr_range,
    shared_rmrr_message,
)
from xlrmrr.hypervisor.results import (
    DOMID,
    MAP_OVERLAP,
    RUN_BUSY,
    RUN_IDENTITY,
    RUN_KEPT,
    DeviceAssignment,
    IdentityOutcome,
    PageTableState,
)
from xlrmrr.ranges import overlaps
from xlrmrr.releases import XEN_IOMMU_IDENTITY_MAPPING
from xlrmrr.xlcfg.domain import DomainConfig


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

PRE_4_6_TABLES = (
    "before Xen 4.6 (not modelled) RMRRs of HVM guests went through intel_iommu_map_page only: "
    "with shared EPT tables that call did nothing (no mapping at all, DMA faulted), with separate "
    "tables the IOMMU got the 1:1 entries while the p2m kept guest RAM at the same addresses "
    "(DMA and the guest CPU saw different memory); USB RMRRs were skipped for HVM entirely. "
    "4.6 (5ae03990c1) made the identity map a p2m entry in both modes, as modelled here")


def no_iommu_finding(sbdfs: Sequence[Sbdf], translated: bool) -> Finding:
    """Assignment on a Xen without an IOMMU: iommu_do_domctl answers -ENOSYS; libxl fails an
    HVM guest at xc_test_assign_device and ignores the error for a PV guest (libxl_pci.c)."""
    if translated:
        return Finding(
            "error", "no-iommu", "libxl",
            f"PCI device {sbdfs[0]} cannot be assigned - no IOMMU? (xc_test_assign_device "
            f"fails: Xen runs without VT-d, it rejected the host's DMAR table; libxl "
            f"destroys the guest it has built and `xl create` fails)")
    return Finding(
        "warning", "no-iommu-pv", "libxl",
        f"Xen runs without VT-d (it rejected the host's DMAR table): xc_assign_device fails "
        f"with ENOSYS, which libxl ignores for a PV guest, so {_names(sbdfs)} "
        f"{'is' if len(sbdfs) == 1 else 'are'} passed through without an IOMMU: the device's "
        f"DMA reaches any host memory and no RMRR is mapped or checked")


def rdm_flag_unknown_finding(sbdf: Sbdf, policy: str) -> Finding:
    return Finding(
        "error", "rdm-flag-unknown", "libxl",
        f"{sbdf}: unknown rdm check flag. (rdm_policy is {policy!r}: xl copied an "
        f"uninitialised value (tools/xl/xl_parse.c:parse_config_data copies the rdm= policy "
        f"xlu_rdm_parse never set); libxl fails the assignment "
        f"(tools/libs/light/libxl_pci.c:pci_add_dm_done) unless the value happens to be "
        f"0 (strict) or 1 (relaxed). Write rdm_policy=strict or "
        f"rdm_policy=relaxed in the pci= entry)")


def assign_failed_finding(da: DeviceAssignment) -> Finding:
    return Finding(
        "error", "assign-failed", "libxl",
        "xc_assign_device failed" + (
            f" ({da.sbdf}: {ERRNO_NAMES.get(da.rc, da.rc)}); `xl pci-attach` fails"
            if da.hotplug else f" ({da.sbdf}: {ERRNO_NAMES.get(da.rc, da.rc)}); libxl "
            f"destroys the half-built domain and `xl create` fails"))


def below_bridge(sbdf: Sbdf, rmrr: Rmrr) -> str:
    """The fact of rmrr-below-bridge in words (the finding's first clause, a degraded cause)."""
    return f"{sbdf} sits below a bridge named in the scope of RMRR {rmrr_range(rmrr)}"


def below_bridge_finding(sbdf: Sbdf, rmrr: Rmrr) -> Finding:
    return Finding(
        "warning", "rmrr-below-bridge", "xen",
        f"{below_bridge(sbdf, rmrr)}: Xen "
        f"keeps only the bridge's own BDF for reserved-memory queries and device "
        f"assignment, so this device gets no 1:1 mapping of the range and libxl "
        f"does not reserve it. If the device uses the range its DMA faults in the "
        f"IOMMU (DMAR faults in `xl dmesg`)", (rmrr.base, rmrr.end))


PRESENCE_ASSUMED = Finding(
    "info", "device-presence-assumed", "libxl",
    "the host's PCI topology is not known (the host data lists no PCI devices; give "
    "--host-json, or a --snapshot taken on the host): xlrmrr assumes "
    "every assigned device exists and is assignable (bound to pciback); libxl fails the "
    "assignment of one that is not")


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


def unused_rdm_state(rdm) -> PageTableState:
    """An RDM in the guest's e820 that no device of this guest maps (strategy=host reserves
    every host RMRR): E820_RESERVED, but nothing behind it."""
    from xlrmrr import devices as dc
    pseudo = Rmrr(rdm.start, rdm.start + rdm.size - 1, 0, tuple(getattr(rdm, "devices", ())),
                  len(getattr(rdm, "devices", ())))
    return PageTableState(pseudo, True, "nothing (no device of this guest uses the range)",
                          "nothing", "nothing", dc.ACCESS_UNMAPPED,
                          "no device of this guest targets it")


def class_findings(domain: DomainConfig, functions: Mapping,
                   devices: Sequence[DeviceAssignment]) -> list[Finding]:
    """Device-class consequences: IGD without gfx_passthru, the OpRegion the device model maps."""
    from xlrmrr import devices as dc
    out = []
    for d in devices:
        cls = dc.classify(functions.get(d.sbdf))
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
        from xlrmrr.hvmloader.model import IGD_OPREGION_ADDR, IGD_OPREGION_PAGES
        op = (IGD_OPREGION_ADDR, IGD_OPREGION_ADDR + IGD_OPREGION_PAGES * PAGE_SIZE)
        for o in d.outcomes:
            if overlaps(o.start, o.end, *op):
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

def device_findings(functions: Mapping, da: DeviceAssignment, version: XenVersion,
                     domid: int = DOMID, explain: bool = True) -> list[Finding]:
    """What one device's assignment means, per RMRR. explain=False: the warnings and notes that
    are not made (assign_devices keeps only the errors then) are not written either."""
    from xlrmrr import devices as dc
    cls = dc.classify(functions.get(da.sbdf))
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
        elif o.shared and da.relaxed and da.rc != -EPERM and explain:
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
        if explain and any(x.state == RUN_IDENTITY for x in o.runs) \
                and not XEN_IOMMU_IDENTITY_MAPPING.in_effect(version):
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
        if kept and explain:
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


def group_findings(host: Host, use: GroupUse, devices: Sequence[DeviceAssignment]
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


def open_issue_findings(domain: DomainConfig, host: Host, rdms,
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
