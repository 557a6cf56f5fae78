"""Xen's console lines at device assignment, as Xen prints them (VTDPREFIX is "[VT-D]")."""

from __future__ import annotations

from xlrmrr.common import Sbdf, XenVersion, hexa
from xlrmrr.host.model import Rmrr
from xlrmrr.hypervisor.results import DOMID
from xlrmrr.releases import XEN_ASSIGN_MAPS_FIRST, XEN_PD_FORMAT

# Xen's errno values (xen/include/public/errno.h, the Linux x86 numbers).
EPERM = 1
ENOENT = 2
EBUSY = 16
ENODEV = 19
EADDRINUSE = 98
ERRNO_NAMES = {-EPERM: "-EPERM", -ENOENT: "-ENOENT", -EBUSY: "-EBUSY", -ENODEV: "-ENODEV",
               -EADDRINUSE: "-EADDRINUSE"}

def _dom(version: XenVersion, domid: int = DOMID) -> str:
    return f"d{domid}" if XEN_PD_FORMAT.in_effect(version) else f"Dom{domid}"


def shared_rmrr_message(sbdf: Sbdf, rmrr: Rmrr, relaxed: bool, version: XenVersion,
                        domid: int = DOMID) -> str:
    word = "risky" if relaxed else "disallowed"
    return (f"[VT-D] It's {word} to assign {sbdf} with shared RMRR at {rmrr.base:x} "
            f"for {_dom(version, domid)}.")


def map_failed_message(rmrr: Rmrr, rc: int, version: XenVersion, domid: int = DOMID) -> str:
    """intel_iommu_assign_device's report of a failed identity map (vtd/iommu.c): the XSA-400
    text ("%pd: ...", 78a40f8b5d: 4.17, 4.13.5, 4.14.5, 4.15.3, 4.16.1), before it the 4.6 text,
    which prints Dom%d on every release that has it (4.16.0 included)."""
    if XEN_ASSIGN_MAPS_FIRST.in_effect(version):
        return f"[VT-D]d{domid}: cannot map reserved region [{rmrr.base:x},{rmrr.end:x}]: {rc}"
    return (f"[VT-D] cannot map reserved region ({rmrr.base:x},{rmrr.end:x}] for "
            f"Dom{domid} ({rc})")


def busy_message(gfn: int, domid: int = DOMID) -> str:
    """p2m_add_identity_entry's warning. The mfn behind a guest RAM page is chosen at run time,
    so it is shown as <mfn>."""
    return f"Cannot setup identity map d{domid}:{gfn:x}, gfn already mapped to <mfn>."

def rmrr_range(r: Rmrr) -> str:
    """An RMRR as Xen prints a range: [base, end]."""
    return f"[{hexa(r.base)}, {hexa(r.end)}]"
