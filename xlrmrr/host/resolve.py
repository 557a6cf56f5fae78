"""Device scope -> PCI functions, the way Xen's acpi_parse_dev_scope walks a path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xlrmrr.acpi.spec import ScopeType
from xlrmrr.common import Sbdf
from xlrmrr.host.model import PciFunction
from xlrmrr.records import record

if TYPE_CHECKING:
    from xlrmrr.acpi.model import Scope

# PCI class codes (base class << 16 | subclass << 8 | prog-if) a planner cares about.
CLASS_NAMES = {
    0x0C0300: "USB controller (UHCI)", 0x0C0310: "USB controller (OHCI)",
    0x0C0320: "USB controller (EHCI)", 0x0C0330: "USB controller (xHCI)",
    0x030000: "VGA display controller", 0x038000: "display controller",
    0x030200: "3D display controller", 0x060400: "PCI-to-PCI bridge",
    0x060000: "host bridge", 0x060100: "ISA bridge", 0x010600: "SATA controller (AHCI)",
    0x010802: "NVMe controller", 0x020000: "Ethernet controller", 0x028000: "network controller",
    0x040300: "audio device", 0x0C0500: "SMBus controller", 0x078000: "communication controller",
    0x118000: "signal processing controller", 0x0C8000: "serial bus controller",
}
_SUBCLASS_NAMES = {0x0C03: "USB controller", 0x0300: "VGA display controller",
                   0x0302: "3D display controller", 0x0380: "display controller",
                   0x0604: "PCI-to-PCI bridge", 0x0106: "SATA controller",
                   0x0108: "NVM controller", 0x0200: "Ethernet controller",
                   0x0280: "network controller", 0x0403: "audio device"}
_BASE_NAMES = {0x01: "storage controller", 0x02: "network controller", 0x03: "display controller",
               0x04: "multimedia device", 0x06: "bridge", 0x07: "communication controller",
               0x08: "system peripheral", 0x0C: "serial bus controller"}


def class_name(class_code: int | None) -> str:
    """A short human name of a 24-bit PCI class code, e.g. 0x0c0330 -> "USB controller (xHCI)"."""
    if class_code is None:
        return "unknown class"
    return (CLASS_NAMES.get(class_code) or _SUBCLASS_NAMES.get(class_code >> 8)
            or _BASE_NAMES.get(class_code >> 16) or f"class {class_code:06x}")


def is_usb(class_code: int | None) -> bool:
    return class_code is not None and class_code >> 8 == 0x0C03


def is_display(class_code: int | None) -> bool:
    return class_code is not None and class_code >> 16 == 0x03


def is_bridge(f: PciFunction | None) -> bool:
    return f is not None and f.header_type is not None and f.header_type & 0x7F == 1


@record(eq=False)
class Resolved:
    """Where one scope entry leads: the function Xen stores (sbdf), or why it cannot be known."""

    scope: Scope
    sbdf: Sbdf | None
    unresolved: str = ""                 # why sbdf is None
    below: tuple[Sbdf, ...] = ()         # sub-hierarchy scopes: functions on the bridge's buses
    buses: tuple[int, int] | None = None  # sub-hierarchy scopes: secondary..subordinate


def resolve_scope(segment: int, scope: Scope, devices: dict[Sbdf, PciFunction],
                  topology_known: bool) -> Resolved:
    """Follow a scope path: every element but the last must be a bridge whose secondary bus
    (config 0x19) is the next bus. Without a topology only one-element paths resolve."""
    if not scope.path:
        return Resolved(scope, None, "the scope has no path entry")
    bus = scope.bus
    for dev, fn in scope.path[:-1]:
        here = Sbdf(segment, bus, dev, fn)
        if not topology_known:
            return Resolved(scope, None, f"path {scope.path_str()} goes through bridge {here}; "
                                         f"its secondary bus needs the PCI topology "
                                         f"(--snapshot or a host description)")
        bridge = devices.get(here)
        if not is_bridge(bridge) or bridge.secondary_bus is None:
            why = "does not exist" if bridge is None else "is not a PCI-to-PCI bridge"
            return Resolved(scope, None, f"path {scope.path_str()}: {here} {why}, so the path "
                                         f"cannot be followed")
        bus = bridge.secondary_bus
    dev, fn = scope.path[-1]
    sbdf = Sbdf(segment, bus, dev, fn)
    if scope.type != ScopeType.BRIDGE or not topology_known:
        return Resolved(scope, sbdf)
    bridge = devices.get(sbdf)
    if not is_bridge(bridge) or bridge.secondary_bus is None:
        return Resolved(scope, sbdf)
    lo, hi = bridge.secondary_bus, bridge.subordinate_bus or bridge.secondary_bus
    below = tuple(s for s in sorted(devices) if s.seg == segment and lo <= s.bus <= hi)
    return Resolved(scope, sbdf, below=below, buses=(lo, hi))
