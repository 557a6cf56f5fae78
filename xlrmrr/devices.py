"""What an RMRR is for, per device class, and what a relaxed policy risks in practice.

Firmware declares an RMRR when a device keeps DMAing to memory the firmware set up for it after
the OS takes over. The two classes that do this on almost every Intel host are USB controllers
(legacy keyboard/mass-storage emulation, "USB legacy support", class 0x0C03) and Intel integrated
graphics (stolen memory holding the GTT and frame buffer, class 0x03 vendor 0x8086). Everything
else is rare and firmware-specific. The texts here explain; they decide nothing.
"""

from __future__ import annotations

from xlrmrr.host.model import Host, PciFunction
from xlrmrr.records import record

INTEL = 0x8086

KIND_USB = "usb"
KIND_IGD = "igd"
KIND_DISPLAY = "display"
KIND_OTHER = "other"
KIND_UNKNOWN = "unknown"


@record(eq=False)
class DeviceClass:
    """What an RMRR of one kind of device is for, and what not honouring it breaks."""

    kind: str
    name: str
    purpose: str           # what the firmware reserved the range for
    relaxed_safe: str      # whether relaxed is safe in practice, and why
    breaks: str            # what breaks when the RMRR is not honoured
    article: str = "a"     # as the name is spoken: "a USB controller", "an Intel ..."

    @property
    def a_name(self) -> str:
        return f"{self.article} {self.name}"


_USB = DeviceClass(
    KIND_USB, "USB controller",
    "the firmware's USB legacy support (keyboard and boot-disk emulation for DOS, boot loaders "
    "and SMM): the controller DMAs its schedules and transfer buffers to this range while the "
    "firmware still owns it. Several controllers on one chipset usually share one range",
    "usually safe: a guest OS driver performs the BIOS hand-off (USBLEGSUP) and resets the "
    "controller, after which the controller no longer touches the range; Linux treats USB "
    "RMRRs as relaxable for the same reason",
    "until the guest driver resets the controller, DMA to the range lands in guest RAM (with a "
    "relaxed policy the range stays guest RAM), which can corrupt whatever the guest put there "
    "during early boot; SMM-driven legacy emulation that keeps running after the hand-off "
    "(firmware bugs) keeps corrupting it")

_IGD = DeviceClass(
    KIND_IGD, "Intel integrated graphics device",
    "graphics stolen memory: the GTT and the pre-boot frame buffer (and, on some generations, "
    "the GuC/HuC firmware regions) that the GPU keeps accessing by DMA. With gfx_passthru "
    "hvmloader also reserves 3 pages for the IGD OpRegion (0xfdffc000 at Xen 4.22)",
    "not safe: the GPU walks its GTT and scans out from stolen memory continuously, so the "
    "range must be identity-mapped 1:1; a relaxed policy that leaves guest RAM there gives a "
    "garbled or black display and GPU hangs, and the GPU writes into guest RAM",
    "the i915 driver in the guest reads the stolen-memory base from the device and expects it "
    "1:1; without the identity map the GPU's DMA hits guest RAM (corruption) or faults in the "
    "IOMMU (DMAR faults in `xl dmesg`, GPU hang)", article="an")

_DISPLAY = DeviceClass(
    KIND_DISPLAY, "display controller",
    "a frame buffer or firmware buffer the GPU keeps using after boot",
    "doubtful: a display device usually keeps scanning out from the range",
    "display corruption or DMA into guest RAM")

_OTHER = DeviceClass(
    KIND_OTHER, "device",
    "firmware-specific (often a management or sideband buffer the device keeps using)",
    "unknown: only the platform vendor knows whether the device still uses the range after "
    "the OS driver takes over; assume it does",
    "the device's DMA to the range lands in guest RAM (corruption) or in nothing")

_UNKNOWN = DeviceClass(
    KIND_UNKNOWN, "device of unknown class",
    "unknown (no PCI topology: give --snapshot to know the device class)",
    "unknown without the device class",
    "the device's DMA to the range lands in guest RAM (corruption) or in nothing")


def classify(fn: PciFunction | None) -> DeviceClass:
    """The class knowledge for one PCI function (None: not in the host's topology)."""
    if fn is None or fn.class_code is None:
        return _UNKNOWN
    base, sub = fn.class_code >> 16, (fn.class_code >> 8) & 0xFF
    if (base, sub) == (0x0C, 0x03):
        return _USB
    if base == 0x03:
        igd = fn.vendor == INTEL and (sub == 0x00 or (fn.sbdf.bus, fn.sbdf.dev) == (0, 2))
        return _IGD if igd else _DISPLAY
    return _OTHER


def classify_sbdf(host: Host, sbdf) -> DeviceClass:
    return classify(host.device(sbdf))


# What a guest access to a reserved range does, by whether the guest p2m has a mapping there.
ACCESS_UNMAPPED = (
    "no p2m entry: the access exits to Xen as an EPT violation (a shadow-paging fault with "
    "hap=0); Xen finds nothing there and forwards it to the device model as emulated MMIO, "
    "which reads all-ones and drops writes. The host's reserved memory is not touched")
ACCESS_IDENTITY = (
    "a 1:1 p2m_mmio_direct rw entry: the guest reads and writes the host's reserved memory "
    "directly, without an exit (in-domain access). A guest that does not know the range is "
    "reserved (it is E820_RESERVED in its e820) can still touch it; it shares it with the "
    "device and, for a shared RMRR, with every other owner of the range")
ACCESS_RAM = (
    "guest RAM: an ordinary access to the guest's own page. The device's DMA to the same "
    "address lands in that page too, so the guest and the device overwrite each other")
