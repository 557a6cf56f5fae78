"""libxl__build_hvm's layout (libxl_dom.c, libxl_x86.c): guest sizes, the MMIO hole, lowmem_end
and highmem_end, then construct_rdm and the memory map; the stage's entry, build()."""

from __future__ import annotations

from xlrmrr.common import (
    FOUR_GB,
    HVM_BELOW_4G_MMIO_LENGTH,
    HVM_BELOW_4G_MMIO_START,
    HVM_MAX_VCPUS,
    MB,
    E820Entry,
    Finding,
    XenVersion,
)
from xlrmrr.host.model import Host
from xlrmrr.libxl.create import (
    default_video_memkb,
    device_policies,
    rdm_setdefault,
    setdefault_refusal,
)
from xlrmrr.libxl.dm import construct_rdm
from xlrmrr.libxl.model import (
    LIBXL_MAXMEM_DEFAULT_KB,
    MMIO_HOLE_MAX,
    MMIO_HOLE_MIN,
    PVH_MMIO_START,
    STOPPED_SETDEFAULT,
    STOPPED_UNMODELLED,
    U64_MASK,
    LibxlLayout,
    Rdm,
)
from xlrmrr.libxl.model import libxl_finding as _finding
from xlrmrr.libxl.x86 import construct_memmap
from xlrmrr.xlcfg.domain import (
    POLICY_UNSET,
    DomainConfig,
)


def mmio_hole(domain: DomainConfig) -> tuple[int, int, Finding | None]:
    """The low MMIO hole's size, what libxl writes to platform/mmio_hole_size for hvmloader (0:
    nothing), and xl's refusal of an mmio_hole= out of range (xl_parse.c), or None. Without
    mmio_hole= the hole is HVM_BELOW_4G_MMIO_LENGTH, for PVH up to the lowest fixed area."""
    hvm = domain.type == "hvm"
    hole_bytes = domain.mmio_hole_memkb * 1024
    invalid = None
    if hvm and hole_bytes and not MMIO_HOLE_MIN <= hole_bytes <= MMIO_HOLE_MAX:
        invalid = _finding("error", "mmio-hole-invalid",
                           f'ERROR: invalid value {hole_bytes // MB} for "mmio_hole"', component="xl")
    if hole_bytes and FOUR_GB - hole_bytes < HVM_BELOW_4G_MMIO_START:
        mmio_size = hole_bytes
    elif domain.type == "pvh":
        mmio_size = FOUR_GB - PVH_MMIO_START
    else:
        mmio_size = HVM_BELOW_4G_MMIO_LENGTH
    xenstore = hole_bytes if hvm and hole_bytes and FOUR_GB - hole_bytes <= HVM_BELOW_4G_MMIO_START else 0
    return mmio_size, xenstore, invalid


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
    policy, boundary = rdm_setdefault(domain)
    devices = device_policies(domain, version)
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

    mmio_size, mmio_hole_xenstore, invalid = mmio_hole(domain)
    if invalid is not None:
        findings.append(invalid)
        failed = True
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
        rdms, lowmem_end, highmem_end, ran, ok = construct_rdm(
            domain, host, version, devices, strategy, policy, boundary, hap,
            lowmem_end, highmem_end, findings)
        if not ok:
            failed = True
            findings.append(_finding("error", "construct-rdm-failed",
                                     "checking reserved device memory failed"))

    memory_map: tuple[E820Entry, ...] = ()
    if domain.type != "pv" and not failed:
        memory_map, ok = construct_memmap(pvh, lowmem_end, highmem_end, rdms, findings)
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
