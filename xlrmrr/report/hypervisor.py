"""Text rendering of the hypervisor stage: device assignment, identity maps, page tables, groups,
and of a hot-plug check. JSON comes from the results' to_json()."""

from __future__ import annotations

from xlrmrr.common import hexa, size_str
from xlrmrr.report import by_severity, lines_text

RUN_WORDS = {
    "mapped": "mapped 1:1 (p2m_mmio_direct, rw)",
    "identity": "already 1:1: nothing to do",
    "busy": "-EBUSY: the map of this RMRR stops here",
    "kept": "left as it is (relaxed): the device's DMA lands there",
    "not-reached": "not reached (the map of this RMRR stopped)",
    "iommu": "1:1 in the IOMMU only (PV guest)",
}
ACTION_WORDS = {
    "new": "new range in the domain's identity-map list",
    "counted": "same range already listed: refcount++",
    "overlap": "overlaps a different listed range: -EADDRINUSE",
    "skipped": "not processed (the assignment stopped earlier)",
}


def _rng(base: int, end: int) -> str:
    return f"[{hexa(base)}, {hexa(end)}]"


def device_lines(d, indent: str = "  ") -> list[str]:
    flag = "XEN_DOMCTL_DEV_RDM_RELAXED" if d.relaxed else "0"
    state = ("assigned, every RMRR 1:1" if d.honoured else "assigned, RMRR NOT honoured"
             if d.assigned else
             "returns 0, but the device went back to its previous owner at a failed map"
             if d.handed_back else f"FAILS ({d.rc})")
    out = [f"{indent}{d.sbdf}{' (hot-plug)' if d.hotplug else ''}: rdm_policy {d.policy}, "
           f"flag {flag}: {state}"]
    if not d.outcomes:
        out.append(f"{indent}  no RMRR lists this device: nothing to identity-map")
    if d.undone:
        out.append(f"{indent}  the result is an error, so Xen undoes this device's maps "
                   f"(p2m_access_x) and does not hand it over")
    for o in d.outcomes:
        r = o.rmrr
        pages = (o.end - o.start) >> 12
        shared = f", shared with {', '.join(str(s) for s in o.sharers)}" if o.shared else ""
        out.append(f"{indent}  RMRR {_rng(r.base, r.end)} ({pages} pages, {size_str(pages << 12)})"
                   f"{shared}; in the guest e820: {'yes' if o.exposed else 'no'}")
        out.append(f"{indent}    {ACTION_WORDS[o.action]}"
                   + (f" (count {o.count})" if o.count else "")
                   + (f"; the map fails ({o.rc}): the range is not listed"
                      if o.rc and o.action == "new" else ""))
        for run in o.runs:
            what = RUN_WORDS.get(run.state, run.state)
            if run.state in ("busy", "kept"):
                what = f"occupied by {run.occupant or 'another mapping'}: {what}"
            out.append(f"{indent}    [{hexa(run.start)}, {hexa(run.end)}) {run.pages:>8} pages  "
                       f"{what}")
    return out


def text_lines(result, title: str = "Device assignment (Xen hypervisor)",
               detail: bool = True) -> list[str]:
    """The hypervisor section of a report; detail adds the identity-map list, the page-table
    states and the groups."""
    out = [f"{title}, Xen {result.xen_version}; the domain shows as d{result.domid} (its real id "
           f"is chosen by xl create)"]
    if not result.devices:
        out.append("  no device with a PCI address to assign")
    for d in result.devices:
        out.extend(device_lines(d))
    if result.log:
        out.append("  Xen console (xl dmesg):")
        out.extend(f"    (XEN) {line}" for line in result.log)
    if not detail:
        return out
    if result.identity_maps:
        out.append("  identity-map list of the domain:")
        for m in result.identity_maps:
            out.append(f"    {_rng(m.base, m.end)} count {m.count} "
                       f"({', '.join(str(s) for s in m.devices)})")
    if result.page_tables:
        mode = ("the IOMMU walks the EPT itself (shared page tables, iommu=sharept default)"
                if result.shared_pt else
                "the IOMMU has its own tables, mirrored from the p2m (hap=0 or iommu=no-sharept)")
        out.append(f"  page tables: {mode}")
        import textwrap

        from xlrmrr.hypervisor.explanations import PRE_4_6_TABLES
        out.extend(textwrap.wrap(f"({PRE_4_6_TABLES})", 100, initial_indent="    ",
                                 subsequent_indent="     "))
        for p in result.page_tables:
            out.append(f"    RMRR {_rng(p.rmrr.base, p.rmrr.end)} "
                       f"({'exposed' if p.exposed else 'not exposed'} in the e820):")
            out.append(f"      p2m: {p.p2m}")
            out.append(f"      IOMMU, shared EPT: {p.iommu_shared}; separate tables: "
                       f"{p.iommu_separate}")
            out.append(f"      guest CPU access: {p.cpu_access}")
            out.append(f"      device DMA: {p.dma}")
    if result.groups:
        out.append("  RMRR sharing groups this guest touches:")
        for u in result.groups:
            members = ", ".join(str(m) for m in u.group.members)
            if u.kind == "whole":
                out.append(f"    {{{members}}}: whole group in this guest")
            else:
                out.append(f"    {{{members}}}: PART of the group; "
                           f"{', '.join(str(m) for m in u.elsewhere)} elsewhere (dom0 or "
                           f"another guest)")
    return out


def findings_lines(findings, indent: str = "  ") -> list[str]:
    """One line per finding, most severe first, in create's form: severity padded to 7,
    [component], message (the code is in --json)."""
    return [f"{indent}{f.severity:<7} [{f.component}] {f.message}"
            for f in by_severity(findings)]


def attach_text(att, guest: str, version) -> str:
    out = [f"xlrmrr pci-attach: {att.sbdf} into {guest} (Xen {version}, rdm_policy {att.policy})"]
    if att.device is not None:
        out.append("")
        out.extend(device_lines(att.device))
        if att.device.log:
            out.append("  Xen console (xl dmesg):")
            out.extend(f"    (XEN) {line}" for line in att.device.log)
    if att.findings:
        out.append("")
        out.append("Findings:")
        out.extend(findings_lines(att.findings))
    return lines_text(out)
