"""The libxl stage: defaults, guest memory layout, reserved-device-memory selection and the
XENMEM_set_memory_map payload (docs/xen/flow.md#libxl-defaults and the libxl sections after it).

Reproduces libxl__rdm_setdefault, libxl__device_pci_setdefault, the layout part of
libxl__build_hvm, libxl__domain_device_construct_rdm and domain_construct_memmap, per Xen release.
"""

from __future__ import annotations

from xlrmrr.common import (
    E820_RAM,
    E820_RESERVED,
    FOUR_GB,
    MB,
    PAGE_SHIFT,
    E820Entry,
    Finding,
    Sbdf,
    XenVersion,
    hexa,
    size_str,
)
from xlrmrr.host.index import RmrrIndex
from xlrmrr.host.model import Host, Rmrr, reported, reserved_device_memory_map
from xlrmrr.ranges import overlaps
from xlrmrr.records import record
from xlrmrr.releases import (
    LIBXL_ALL_DEVICE_RDMS,
    LIBXL_HAP_2M_ROUNDING,
    LIBXL_HIGHMEM_NOT_FORCED,
    LIBXL_PASSTHROUGH_SETDEFAULT,
    LIBXL_PER_DEVICE_DEFAULT,
    LIBXL_POD_IOMMU_MESSAGE,
)
from xlrmrr.xlcfg.domain import (
    POLICY_INVALID,
    POLICY_RELAXED,
    POLICY_STRICT,
    POLICY_UNSET,
    STRATEGY_HOST,
    STRATEGY_IGNORE,
    DomainConfig,
    PciDevice,
)

HVM_BELOW_4G_MMIO_START = 0xF0000000
HVM_BELOW_4G_MMIO_LENGTH = FOUR_GB - HVM_BELOW_4G_MMIO_START
PVH_MMIO_START = min(0xFEFF8000, 0xFEE00000, 0xFC000000)
LIBXL_RDM_MEM_BOUNDARY_MEMKB_DEFAULT = 2048 * 1024
LIBXL_MAXMEM_DEFAULT_KB = 32 * 1024
LIBXL_VGA_HOLE_SIZE = 0x20
HVM_LOWMEM_START = 0x100000
E820MAX = 128
U64_MASK = (1 << 64) - 1
LIBXL_MEMKB_DEFAULT_BYTES = ((1 << 64) - 1) * 1024 & U64_MASK   # ~0ULL KiB, as libxl multiplies it
TWO_MB = 2 * MB
MMIO_HOLE_MIN = 256 * MB
MMIO_HOLE_MAX = 3840 * MB

HVM_MAX_VCPUS = 128     # xen/include/public/hvm/hvm_info_table.h


@record(eq=False, hot=True)
class Rdm:
    """One libxl_device_rdm in d_config.rdms, after construct_rdm.

    policy is the entry's final policy: "invalid" means libxl will not put it in the memory map
    (never exposed to hvmloader). "unset" is a policy copied from uninitialised memory by xl
    (docs/xen/flow.md#xl-rdm): libxl treats it like relaxed in the conflict pass but exposes it.
    """

    start: int
    size: int
    policy: str                              # "strict" | "relaxed" | "invalid" | "unset"
    devices: tuple[Sbdf, ...] = ()           # the RMRR's device scope on the host
    assigned: tuple[Sbdf, ...] = ()          # the guest's pci= devices whose query returned it
    requested_policy: str = POLICY_RELAXED   # policy before the conflict pass
    source: str = "host"                     # "host" (XENMEM_RDM_ALL) | "device" (per-device query)
    conflict: bool = False                   # overlapped guest RAM in the policy pass
    relocated: bool = False                  # lowmem_end was moved below it

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def exposed(self) -> bool:
        """In the XENMEM_set_memory_map payload, hence in the guest's e820."""
        return self.policy != POLICY_INVALID


@record(eq=False, hot=True)
class DevicePolicy:
    """A pci= device with the rdm_policy libxl uses at construct_rdm and at assignment."""

    device: PciDevice
    sbdf: Sbdf | None
    policy_at_build: str        # as construct_rdm sees it (INVALID defaulted to STRICT on 4.14+)
    policy_at_assign: str       # after libxl__device_pci_setdefault at device add


@record(eq=False)
class LibxlLayout:
    """What libxl__build_hvm decided: sizes, the RDM list and the memory map it sends to Xen."""

    xen_version: XenVersion
    guest_type: str
    hap: bool
    max_memkb: int
    target_memkb: int
    video_memkb: int
    mem_size: int               # (max_memkb - video_memkb) * 1024
    mmio_start: int
    mmio_size: int
    lowmem_end: int
    highmem_end: int            # 0: no highmem
    lowmem_end_initial: int     # before construct_rdm
    highmem_end_initial: int
    total_pages: int            # what xc_dom_mem_init gets (integer MiB << 8)
    target_pages: int
    pod: bool
    strategy: str
    policy: str                 # global policy after libxl__rdm_setdefault
    rdm_mem_boundary: int       # bytes
    mmio_hole_xenstore: int     # platform/mmio_hole_size written for hvmloader, 0 if not written
    rdms: tuple[Rdm, ...]
    devices: tuple[DevicePolicy, ...]
    memory_map: tuple[E820Entry, ...]   # XENMEM_set_memory_map entries, libxl order
    findings: tuple[Finding, ...]
    failed: bool
    construct_rdm_ran: bool = True
    # Why libxl built no layout although the guest is HVM/PVH: "" (it did), STOPPED_SETDEFAULT
    # (its setdefault checks refused the config before libxl__build_hvm) or STOPPED_UNMODELLED
    # (libxl__build_hvm's arithmetic goes where xlrmrr does not follow; `findings` says why). The
    # size fields then hold what xlrmrr computed, not anything Xen built: reports show none.
    stopped: str = ""

    @property
    def exposed_rdms(self) -> tuple[Rdm, ...]:
        return tuple(r for r in self.rdms if r.exposed)


STOPPED_SETDEFAULT = "setdefault"
STOPPED_UNMODELLED = "not modelled"


def _finding(severity: str, code: str, message: str, *addrs: int, component: str = "libxl") -> Finding:
    return Finding(severity, code, component, message, tuple(addrs))


def default_video_memkb(domain: DomainConfig) -> tuple[int, Finding | None]:
    """libxl's video RAM default and minimum per vga kind (libxl_create.c
    libxl__domain_build_info_setdefault). vga = "none" sets 0 only when videoram was left at its
    default (LIBXL_MEMKB_DEFAULT); an explicit videoram is kept, with no minimum. The finding is
    libxl's refusal (an error), or for qemu-xen-traditional's cirrus a warning: libxl keeps any
    videoram there and only warns that it is not 4 MB."""
    if domain.vga == "none":
        return (0 if domain.video_memkb is None else domain.video_memkb), None
    if domain.device_model_version == "qemu-xen-traditional":
        if domain.vga == "qxl":
            return (domain.video_memkb or 0), _finding("error", "videoram-too-small",
                                                       "qemu upstream required for qxl vga")
        if domain.vga != "stdvga":
            if domain.video_memkb is None:
                return 4 * 1024, None
            if domain.video_memkb != 4 * 1024:
                return domain.video_memkb, _finding(
                    "warning", "videoram-ignored",
                    "ignoring videoram other than 4 MB for CIRRUS on QEMU_XEN_TRADITIONAL")
            return domain.video_memkb, None
        table = {"stdvga": (8, "STDVGA on QEMU_XEN_TRADITIONAL")}
    else:
        table = {"stdvga": (16, "STDVGA on QEMU_XEN"), "cirrus": (8, "CIRRUS on QEMU_XEN"),
                 "qxl": (128, "qxl")}
    mb, what = table.get(domain.vga, table.get("cirrus", (0, "")))
    if domain.video_memkb is None:
        return mb * 1024, None
    if domain.video_memkb < mb * 1024:
        text = ("128 Mib videoram is the minimum for qxl default" if domain.vga == "qxl"
                else f"videoram must be at least {mb} MB for {what}")
        return domain.video_memkb, _finding("error", "videoram-too-small", text)
    return domain.video_memkb, None


def _device_policies(domain: DomainConfig, version: XenVersion) -> tuple[DevicePolicy, ...]:
    out = []
    for dev in domain.pci:
        build = dev.rdm_policy
        if build == POLICY_INVALID and LIBXL_PER_DEVICE_DEFAULT.in_effect(version):
            build = POLICY_STRICT
        assign = POLICY_STRICT if dev.rdm_policy == POLICY_INVALID else dev.rdm_policy
        out.append(DevicePolicy(dev, dev.sbdf, build, assign))
    return tuple(out)


def build(domain: DomainConfig, host: Host, version: XenVersion | None = None,
          hap_available: bool = True) -> LibxlLayout:
    """libxl's part of creating the domain, up to XENMEM_set_memory_map."""
    version = version or domain.xen_version
    findings: list[Finding] = []
    failed = False
    hvm = domain.type == "hvm"
    pvh = domain.type == "pvh"

    hap = domain.hap if domain.hap is not None else hap_available
    max_memkb = domain.max_memkb
    target_memkb = domain.target_memkb
    if max_memkb is None:
        max_memkb = target_memkb if target_memkb is not None else LIBXL_MAXMEM_DEFAULT_KB
    if target_memkb is None:
        target_memkb = max_memkb
    video_memkb = 0
    vf = None
    if hvm:
        video_memkb, vf = default_video_memkb(domain)
    strategy = domain.rdm.strategy
    policy = domain.rdm.policy
    boundary_kb = domain.rdm_mem_boundary_memkb
    if hvm:     # libxl__rdm_setdefault runs for HVM only
        if policy == POLICY_INVALID:
            policy = POLICY_RELAXED
        if boundary_kb is None:
            boundary_kb = LIBXL_RDM_MEM_BOUNDARY_MEMKB_DEFAULT
    boundary = (boundary_kb * 1024) & U64_MASK if boundary_kb is not None else LIBXL_MEMKB_DEFAULT_BYTES
    devices = _device_policies(domain, version)
    pod = domain.type != "pv" and target_memkb < max_memkb

    if strategy == POLICY_UNSET or domain.rdm.policy == POLICY_UNSET:
        findings.append(_finding(
            "warning", "rdm-unset",
            "xl copied an uninitialised value into b_info.u.hvm.rdm (a key missing from rdm=: "
            "tools/xl/xl_parse.c:parse_config_data copies the whole struct xlu_rdm_parse filled in): "
            "the outcome depends on stack contents; modelled as neither strict nor "
            "ignore", component="xl"))
    refusal = setdefault_refusal(domain, host, version, pod, vf)
    stopped = STOPPED_SETDEFAULT if refusal else ""
    findings.extend(refusal)
    if vf is not None and vf.severity != "error" and not stopped:
        findings.append(vf)
    failed = bool(refusal)

    if domain.type == "pv" and not stopped:
        findings.append(_finding(
            "info", "pv-guest",
            "PV guest: libxl builds no guest memory map and runs no reserved-device-memory check; "
            "assigned devices' RMRRs are only entered into the IOMMU "
            "(xen/arch/x86/mm/physmap.c:set_identity_p2m_entry)"))
    if pvh and domain.pci and not stopped:
        # Before 4.13 libxl has no check for it (LIBXL_PASSTHROUGH_SETDEFAULT): it builds the
        # guest and adds the device as for a PV guest, which xlrmrr does not follow.
        findings.append(_finding(
            "error", "pvh-passthrough",
            f"passthrough to a PVH guest is not supported: Xen {version}'s libxl does not refuse it "
            f"before building (4.13+ does: \"passthrough not yet supported for x86 PVH guests\") and "
            f"adds the device as for a PV guest; not modelled: xlrmrr plans it as failing"))
        failed = True
    if stopped:
        pass
    elif target_memkb > max_memkb:
        findings.append(_finding(
            "warning", "memory-above-maxmem",
            f"memory ({target_memkb // 1024} MiB) is above maxmem ({max_memkb // 1024} MiB): neither xl nor "
            f"libxl checks this; the guest is built with maxmem (mem_size and the populated pages come "
            f"from max_memkb, no populate-on-demand) and the larger memory only becomes a balloon target "
            f"it can never reach. Set maxmem >= memory, or drop maxmem"))
    nr_vcpus = domain.max_vcpus or domain.vcpus
    if domain.type != "pv" and nr_vcpus > HVM_MAX_VCPUS and not stopped:
        findings.append(_finding(
            "error", "too-many-vcpus",
            f"Requested vCPUs ({nr_vcpus}) exceeds max ({HVM_MAX_VCPUS}): Xen refuses more than "
            f"HVM_MAX_VCPUS vCPUs for an HVM or PVH guest (-EINVAL when libxl creates the domain; "
            f"hvm_info's vcpu_online bitmap has room for {HVM_MAX_VCPUS}). Set maxvcpus "
            f"(or vcpus) to at most {HVM_MAX_VCPUS}", component="xen"))
        failed = True
    if max_memkb <= video_memkb and not stopped:
        implied = ", from memory= as maxmem= is absent" if domain.max_memkb is None else ""
        findings.append(_finding(
            "error", "memory-too-small",
            f"maxmem ({max_memkb // 1024} MiB{implied}) does not exceed videoram "
            f"({video_memkb // 1024} MiB): no guest RAM is left, so the build fails; give memory "
            f"(and maxmem) more than videoram"))
        findings.append(_finding(
            "info", "not-modelled",
            "not modelled: libxl__build_hvm's mem_size = (max_memkb - video_memkb) * 1024 wraps "
            "around as a u64 below zero; what libxl and libxc then build, and where it fails, is "
            "not followed"))
        failed = True
        stopped = STOPPED_UNMODELLED
    mem_size = max(0, (max_memkb - video_memkb) * 1024)
    if mem_size > U64_MASK and not stopped:
        findings.append(_finding(
            "error", "memory-overflow",
            f"maxmem ({max_memkb // 1024} MiB) does not fit libxl's 64-bit byte arithmetic: "
            f"no such guest can be built"))
        findings.append(_finding(
            "info", "not-modelled",
            "not modelled: libxl__build_hvm's mem_size = (max_memkb - video_memkb) * 1024 "
            "overflows a u64; what libxl and libxc then build, and where it fails, is not "
            "followed"))
        failed = True
        stopped = STOPPED_UNMODELLED
    mem_size &= U64_MASK

    hole_bytes = domain.mmio_hole_memkb * 1024
    mmio_hole_xenstore = 0
    if hvm and hole_bytes and not MMIO_HOLE_MIN <= hole_bytes <= MMIO_HOLE_MAX:
        findings.append(_finding("error", "mmio-hole-invalid",
                                 f'ERROR: invalid value {hole_bytes // MB} for "mmio_hole"', component="xl"))
        failed = True
    if hole_bytes and FOUR_GB - hole_bytes < HVM_BELOW_4G_MMIO_START:
        mmio_size = hole_bytes
    elif pvh:
        mmio_size = FOUR_GB - PVH_MMIO_START
    else:
        mmio_size = HVM_BELOW_4G_MMIO_LENGTH
    if hvm and hole_bytes and FOUR_GB - hole_bytes <= HVM_BELOW_4G_MMIO_START:
        mmio_hole_xenstore = hole_bytes
    mmio_start = FOUR_GB - mmio_size
    lowmem_end = mem_size
    highmem_end = 0
    if lowmem_end > mmio_start:
        highmem_end = FOUR_GB + (lowmem_end - mmio_start)
        lowmem_end = mmio_start
    lowmem_end_initial, highmem_end_initial = lowmem_end, highmem_end
    total_pages = ((max_memkb - video_memkb) // 1024) << 8 if max_memkb > video_memkb else 0
    target_pages = max(0, (target_memkb - video_memkb) // 4)

    rdms: list[Rdm] = []
    ran = False
    if domain.type != "pv" and not stopped:
        rdms, lowmem_end, highmem_end, ran, ok = _construct_rdm(
            domain, host, version, devices, strategy, policy, boundary, hap,
            lowmem_end, highmem_end, findings)
        if not ok:
            failed = True
            findings.append(_finding("error", "construct-rdm-failed",
                                     "checking reserved device memory failed"))

    memory_map: tuple[E820Entry, ...] = ()
    if domain.type != "pv" and not failed:
        memory_map, ok = _construct_memmap(pvh, lowmem_end, highmem_end, rdms, findings)
        if not ok:
            failed = True
    return LibxlLayout(
        xen_version=version, guest_type=domain.type, hap=hap, max_memkb=max_memkb,
        target_memkb=target_memkb, video_memkb=video_memkb, mem_size=mem_size,
        mmio_start=mmio_start, mmio_size=mmio_size, lowmem_end=lowmem_end, highmem_end=highmem_end,
        lowmem_end_initial=lowmem_end_initial, highmem_end_initial=highmem_end_initial,
        total_pages=total_pages, target_pages=target_pages, pod=pod, strategy=strategy, policy=policy,
        rdm_mem_boundary=boundary, mmio_hole_xenstore=mmio_hole_xenstore, rdms=tuple(rdms),
        devices=devices, memory_map=memory_map, findings=tuple(findings), failed=failed,
        construct_rdm_ran=ran, stopped=stopped)


def setdefault_refusal(domain: DomainConfig, host: Host, version: XenVersion, pod: bool,
                       videoram: Finding | None) -> list[Finding]:
    """The first of libxl's checks before it builds anything that refuses the config, as
    libxl prints it; [] if none does. libxl_create.c: libxl__domain_config_setdefault (4.13+;
    initiate_domain_create before) checks, in this order, pci= without an IOMMU and pci= for
    PVH (from 4.13, ad011ad088), PoD with pci=, then libxl__domain_build_info_setdefault the
    video RAM minimum; the first failure ends domain creation (docs/xen/libxl.md)."""
    if domain.pci and LIBXL_PASSTHROUGH_SETDEFAULT.in_effect(version):
        if not host.vtd_enabled:
            return [_finding(
                "error", "no-iommu",
                "passthrough not supported on this platform (Xen runs without VT-d: it rejected "
                "the host's DMAR table, see the host findings, so no device can be assigned)")]
        if domain.type == "pvh":
            return [_finding("error", "pvh-passthrough",
                             "passthrough not yet supported for x86 PVH guests")]
    if pod and domain.pci:
        return [_finding("error", "pod-passthrough", (
            "IOMMU required for device passthrough but not supported together with PoD"
            if LIBXL_POD_IOMMU_MESSAGE.in_effect(version) else
            "PCI device assignment for HVM guest failed due to PoD enabled"))]
    if videoram is not None and videoram.severity == "error":
        return [videoram, _finding("error", "build-info-setdefault",
                                   "Unable to set domain build info defaults")]
    return []


def _construct_rdm(domain, host, version, devices, strategy, policy, boundary, hap,
                   lowmem_end, highmem_end, findings):
    """libxl__domain_device_construct_rdm (docs/xen/flow.md#libxl-construct-rdm). Returns
    (rdms, lowmem_end, highmem_end, ran, ok)."""
    if strategy == STRATEGY_IGNORE and not domain.pci:
        return [], lowmem_end, highmem_end, False, True
    index = RmrrIndex(host)
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
        if dp.device.vfunc_mask == 0xFFFFFFFF:
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


def _construct_memmap(pvh, lowmem_end, highmem_end, rdms, findings):
    """domain_construct_memmap (docs/xen/flow.md#libxl-the-memory-map): the XENMEM_set_memory_map
    entries, unsorted."""
    exposed = [r for r in rdms if r.exposed]
    highmem_size = highmem_end - FOUR_GB if highmem_end > FOUR_GB else 0
    count = 1 + len(exposed) + (1 if pvh else 0) + (1 if highmem_size else 0)
    if count >= E820MAX:
        findings.append(_finding("error", "memmap-too-many", "Ooops! Too many entries in the memory map!"))
        findings.append(_finding("error", "set-memory-map-failed", "setting domain memory map failed"))
        return (), False
    lowmem_start = 0 if pvh else HVM_LOWMEM_START
    if lowmem_end < lowmem_start:
        findings.append(_finding(
            "error", "lowmem-underflow",
            f"lowmem_end {hexa(lowmem_end)} is below {hexa(lowmem_start)}: the size of libxl's low RAM "
            f"entry wraps around (u64 underflow) and hvmloader will hit BUG_ON(low_mem_end < 2 MiB)",
            lowmem_end))
    out = [E820Entry(lowmem_start, (lowmem_end - lowmem_start) & U64_MASK, E820_RAM)]
    out.extend(E820Entry(r.start, r.size, E820_RESERVED) for r in exposed)
    if pvh:
        out.append(E820Entry(0xFEFF8000, 0x8000, E820_RESERVED))
    if highmem_size:
        out.append(E820Entry(FOUR_GB, highmem_size, E820_RAM))
    return tuple(out), True


def describe_rdm(r: Rdm) -> str:
    return f"[{hexa(r.start)}, {hexa(r.end - 1)}] ({size_str(r.size)})"
