"""Plans: the hypervisor stage's result for one guest, whether or not the driver ran it itself."""

from __future__ import annotations

from xlrmrr.common import FOUR_GB
from xlrmrr.hypervisor.assignment import assign_devices
from xlrmrr.hypervisor.results import DOMID, SPECIAL_PAGES, AssignResult
from xlrmrr.ranges import normalise


def populated_from_layout(layout) -> tuple[tuple[int, int], ...]:
    """What meminit_hvm and alloc_magic_pages_hvm populate, from libxl's lowmem_end/highmem_end:
    [0, 0xa0000) and [0xc0000, lowmem_end), [4G, highmem_end), the special pages."""
    if getattr(layout, "guest_type", "hvm") == "pv":
        return ()
    ranges = [(0, 0xA0000), (0xC0000, layout.lowmem_end), SPECIAL_PAGES]
    if layout.highmem_end > FOUR_GB:
        ranges.append((FOUR_GB, layout.highmem_end))
    return normalise(ranges)


def assign_for_plan(plan, extra=(), domid: int = DOMID) -> AssignResult | None:
    """The plan's assignment (recomputed when hot-plugged devices are added), or None when the
    create fails before devices are assigned (libxl or libxc refuses the domain)."""
    layout = plan.libxl
    if layout is None or layout.failed:
        return None
    if plan.hypervisor is not None and not extra and domid == plan.hypervisor.domid:
        return plan.hypervisor
    libxc = plan.libxc
    if libxc is not None and getattr(libxc, "failed", False):
        return None
    populated = libxc.populated if libxc is not None else populated_from_layout(layout)
    return assign_devices(plan.domain, plan.host, layout.rdms, populated, plan.xen_version,
                          shared_pt=None if layout.guest_type == "pv" else layout.hap, extra=extra,
                          mappings=running_mappings(plan) if extra else (), domid=domid)


def running_mappings(plan) -> tuple[tuple[int, int, str], ...]:
    """p2m entries of a running guest besides its RAM, where hvmloader placed the BARs:
    passthrough BARs, which the device model maps (XEN_DOMCTL_memory_mapping, p2m_mmio_direct
    to the host BAR); the emulated VGA frame buffer, whose video RAM QEMU moves to BAR 0
    (XENMAPSPACE_gmfn_range); and the Xen platform device's BAR 1, where PV drivers map the
    grant table (XENMEM_add_to_physmap). Other emulated BARs stay empty in the p2m."""
    loader = getattr(plan, "hvmloader", None)
    if loader is None:
        return ()
    vram = plan.libxl.video_memkb * 1024 if plan.libxl is not None else 0
    out = []
    for b in loader.bars:
        if b.base is None:
            continue
        if b.device == "vga":
            if b.index == 0 and vram:
                out.append((b.base, b.base + min(vram, b.size),
                            "the VGA frame buffer (video RAM QEMU moved to BAR 0)"))
        elif b.device == "xen-platform":
            out.append((b.base, b.base + b.size,
                        "BAR 1 of the Xen platform device, where PV drivers map the grant "
                        "table (if the guest runs them)"))
        else:
            out.append((b.base, b.base + b.size,
                        f"BAR {b.index} of {b.device}, mapped by the device model"))
    return tuple(out)
