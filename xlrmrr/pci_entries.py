"""pci= entries that assign one host function twice, and what libxl does with them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from xlrmrr.common import Finding
from xlrmrr.xlcfg.domain import LIBXL_PCI_FUNC_ALL, DomainConfig


def same_device(a, b) -> bool:
    """Two pci= entries that assign the same host function (`BB:DD.*` assigns every function)."""
    if a.sbdf is None or b.sbdf is None:
        return False
    if (a.sbdf.seg, a.sbdf.bus, a.sbdf.dev) != (b.sbdf.seg, b.sbdf.bus, b.sbdf.dev):
        return False
    return LIBXL_PCI_FUNC_ALL in (a.vfunc_mask, b.vfunc_mask) or a.sbdf.fn == b.sbdf.fn


def duplicate_pci(domain: DomainConfig) -> tuple[tuple[Any, Any], ...]:
    """(first entry, later entry) for each pci= entry that assigns a function an earlier entry
    already assigns (the earliest such entry, as same_device decides). Linear in the entries:
    per slot (seg, bus, dev) the first entry, the first `BB:DD.*` entry and the first entry
    per function are kept, each as (position, entry)."""
    out = []
    slots: dict[tuple[int, int, int], tuple[Any, Any, dict[int, Any]]] = {}
    for i, d in enumerate(domain.pci):
        s = d.sbdf
        if s is None:
            continue
        key = (s.seg, s.bus, s.dev)
        whole = d.vfunc_mask == LIBXL_PCI_FUNC_ALL
        slot = slots.get(key)
        if slot is None:
            slots[key] = ((i, d), (i, d) if whole else None, {s.fn: (i, d)})
            continue
        first, first_whole, by_fn = slot
        if whole:
            found = first
        else:
            found = min((x for x in (first_whole, by_fn.get(s.fn)) if x is not None),
                        default=None, key=lambda x: x[0])
        if found is not None:
            out.append((found[1], d))
        if whole and first_whole is None:
            slots[key] = (first, (i, d), by_fn)
        by_fn.setdefault(s.fn, (i, d))
    return tuple(out)


def first_entries(domain: DomainConfig, duplicates=None) -> DomainConfig:
    """The config with each device's first pci= entry only: the assignments that succeed.
    duplicates: duplicate_pci(domain), where the caller has it."""
    later = {id(d) for _first, d in (duplicate_pci(domain) if duplicates is None
                                     else duplicates)}
    if not later:
        return domain
    return replace(domain, pci=tuple(d for d in domain.pci if id(d) not in later))


def duplicate_findings(duplicates, guest_type: str) -> list[Finding]:
    """libxl__device_pci_add runs once per pci= entry. The first assigns the device to the guest;
    for the second Xen's device_assigned() finds it no longer owned by dom0 and returns -EBUSY
    (xen/drivers/passthrough/pci.c), so creation fails (HVM: xc_test_assign_device; PV:
    xc_assign_device)."""
    out = []
    said_for: set = set()       # entries alike say the same: one finding each (50,000 copies)
    for first, later in duplicates:
        key = (first.spec, later.spec, later.line, later.sbdf)
        if key in said_for:
            continue
        said_for.add(key)
        sbdf = later.sbdf
        if guest_type == "hvm":
            said = (f"xc_test_assign_device fails and libxl prints `PCI device {sbdf} already "
                    f"assigned to a different guest?'")
        else:
            said = "libxl prints `xc_assign_device failed: Device or resource busy'"
        out.append(Finding(
            "error", "pci-duplicate", "libxl",
            f"pci= (line {later.line}) assigns {sbdf} twice: `{first.spec}' and `{later.spec}'. "
            f"libxl__device_pci_add runs once per entry; the first assigns the device to this guest, "
            f"so for the second Xen's device_assigned() finds it no longer owned by dom0 (-EBUSY), "
            f"{said}, and creation fails. Remove the duplicate entry `{later.spec}'"))
    return out
