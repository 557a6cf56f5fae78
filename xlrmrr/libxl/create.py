"""libxl_create.c's defaults and refusals before libxl builds anything, and the per-device
RDM policy default (libxl_pci.c: libxl__device_pci_setdefault)."""

from __future__ import annotations

from xlrmrr.common import (
    Finding,
    XenVersion,
)
from xlrmrr.host.model import Host
from xlrmrr.libxl.model import LIBXL_MEMKB_DEFAULT_BYTES, U64_MASK, DevicePolicy
from xlrmrr.libxl.model import libxl_finding as _finding
from xlrmrr.releases import (
    LIBXL_PASSTHROUGH_SETDEFAULT,
    LIBXL_PER_DEVICE_DEFAULT,
    LIBXL_POD_IOMMU_MESSAGE,
)
from xlrmrr.xlcfg.domain import (
    LIBXL_RDM_MEM_BOUNDARY_MEMKB_DEFAULT,
    POLICY_INVALID,
    POLICY_RELAXED,
    POLICY_STRICT,
    DomainConfig,
    PciDevice,
)


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


def rdm_setdefault(domain: DomainConfig) -> tuple[str, int]:
    """libxl__rdm_setdefault (libxl_create.c), for HVM only: the global RDM policy (INVALID
    becomes RELAXED) and rdm_mem_boundary in bytes (default 2 GiB). Otherwise the boundary keeps
    LIBXL_MEMKB_DEFAULT, multiplied to bytes as libxl does."""
    policy = domain.rdm.policy
    boundary_kb = domain.rdm_mem_boundary_memkb
    if domain.type == "hvm":
        if policy == POLICY_INVALID:
            policy = POLICY_RELAXED
        if boundary_kb is None:
            boundary_kb = LIBXL_RDM_MEM_BOUNDARY_MEMKB_DEFAULT
    boundary = (boundary_kb * 1024) & U64_MASK if boundary_kb is not None else LIBXL_MEMKB_DEFAULT_BYTES
    return policy, boundary


def effective_policy(dev: PciDevice) -> str:
    """libxl__device_pci_setdefault (libxl_pci.c), at device add: an INVALID per-device policy
    becomes STRICT."""
    return POLICY_STRICT if dev.rdm_policy == POLICY_INVALID else dev.rdm_policy


def device_policies(domain: DomainConfig, version: XenVersion) -> tuple[DevicePolicy, ...]:
    """Each pci= device's policy as construct_rdm sees it (INVALID defaulted to STRICT from
    4.14) and as the assignment gets it (effective_policy)."""
    out = []
    for dev in domain.pci:
        build = dev.rdm_policy
        if build == POLICY_INVALID and LIBXL_PER_DEVICE_DEFAULT.in_effect(version):
            build = POLICY_STRICT
        out.append(DevicePolicy(dev, dev.sbdf, build, effective_policy(dev)))
    return tuple(out)


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
