"""What hvmloader is handed, derived from libxl's layout, the guest config and the host: the
hvm_info fields, the xenstore keys libxl writes and the PCI bus the device model presents."""

from __future__ import annotations

from xlrmrr.common import MB, Sbdf
from xlrmrr.host.model import Bar, Host
from xlrmrr.hvmloader.model import GuestPciDevice, HvmInfo, Xenstore

# BARs QEMU's emulated devices bring (qemu-xen), largest memory BARs only; I/O BARs are ignored.
XEN_PLATFORM_BARS = (Bar(1, 16 * MB, prefetchable=True),)
DEFAULT_PASSTHROUGH_BARS = (Bar(0, 16 * MB),)


def hvm_info(layout) -> HvmInfo:
    """low_mem_pgend and high_mem_pgend as libxc writes them from libxl's lowmem_end and
    highmem_end (xg_dom_x86.c)."""
    return HvmInfo(layout.lowmem_end, layout.highmem_end)


def xenstore_keys(layout, domain) -> Xenstore:
    """libxl writes hvmloader/allow-memory-relocate = 0 for qemu-xen (qemu-xen-traditional gets
    hvmloader's default, 1: RAM moves above 4 GiB), platform/mmio_hole_size when mmio_hole= is
    set, hvmloader/bios and platform/acpi from the config."""
    return Xenstore(domain.device_model_version == "qemu-xen-traditional",
                    layout.mmio_hole_xenstore, domain.bios, bool(domain.acpi))


def guest_pci_bus(domain, host: Host, video_memkb: int) -> tuple[GuestPciDevice, ...]:
    """Every device hvmloader's pci_setup sizes: the emulated VGA (its frame buffer BAR sized
    from libxl's video_memkb), the Xen platform device, then the pci= devices in config order."""
    devs = []
    vram = video_memkb * 1024
    if domain.gfx_passthru:
        pass        # assumption: with gfx_passthru QEMU emulates no VGA; the IGD is the VGA
    elif domain.vga == "cirrus":
        devs.append(GuestPciDevice("vga", (Bar(0, 32 * MB, prefetchable=True), Bar(1, 0x1000)), True))
    elif domain.vga == "stdvga":
        size = 16 * MB
        while size < vram:
            size <<= 1
        devs.append(GuestPciDevice("vga", (Bar(0, size, prefetchable=True), Bar(2, 0x1000)), True))
    elif domain.vga == "qxl":
        devs.append(GuestPciDevice("vga", (Bar(0, 64 * MB), Bar(1, 64 * MB), Bar(2, 0x2000)), True))
    devs.append(GuestPciDevice("xen-platform", XEN_PLATFORM_BARS, True))
    for dev in domain.pci:
        sbdf = dev.sbdf
        pf = host.device(sbdf) if sbdf is not None else None
        is_igd = bool(pf and pf.class_code is not None and (pf.class_code >> 8) == 0x0300
                      and pf.vendor == 0x8086)
        if pf is None and domain.gfx_passthru in ("igd", "default") and sbdf == Sbdf(0, 0, 2, 0):
            is_igd = True
        # assumption: only with gfx_passthru does QEMU present the IGD as the Intel VGA-class
        # device for which pci_setup allocates the OpRegion
        igd = is_igd and bool(domain.gfx_passthru)
        if pf is not None and pf.bars:
            devs.append(GuestPciDevice(str(sbdf), tuple(b for b in pf.bars if not b.is_io), False, igd))
        else:
            devs.append(GuestPciDevice(str(sbdf) if sbdf else dev.spec, DEFAULT_PASSTHROUGH_BARS,
                                       True, igd))
    return tuple(devs)
