"""`xlrmrr host` and `host snapshot`: the host's RMRRs as Xen registers them, per device and
grouped, as text and as the JSON objects of docs/json.md.

`host --json` (docs/json.md): source, xen_version (modelled), snapshot_xen_version,
vtd_enabled, topology_known; rmrrs (Xen's list order: start, size, segment, start_pfn,
nr_pages, devices, scope_count, shared, source, unresolved, below_bridges, notes); rdm_all (the
XENMEM_RDM_ALL answer, {start_pfn, nr_pages} each); devices (every device some RMRR lists:
sbdf, class, class_name, linux_relaxable, present, rmrrs as {start, size}, rdm as the
per-device answer, group, reset_method, iommu_group); groups; namespace_devices;
firmware_rmrrs (table order, whatever Xen makes of them); findings. Addresses are JSON
integers; a range is {start, size} in bytes."""

from __future__ import annotations


def _xen_meaning(host, rmrr) -> list[str]:
    """What an RMRR's placement means for a guest, in one line each (docs/xen/flow.md#libxl-construct-rdm,
    docs/xen/flow.md#hvmloader-pci_setup)."""
    from xlrmrr.common import FOUR_GB, MB

    notes = []
    if rmrr.base < MB:
        notes.append("below 1 MiB: inside every HVM guest's low RAM and BIOS area; libxl cannot "
                      "move guest RAM away from it (strict policy: \"RDM conflict\")")
    elif rmrr.end >= FOUR_GB:
        notes.append("above 4 GiB: libxl never relocates guest RAM around it; it conflicts "
                      "with a guest whose highmem reaches it" if rmrr.base >= FOUR_GB else
                      "crosses 4 GiB: libxl cannot relocate around it")
    elif rmrr.base >= 0xF0000000:
        notes.append("in hvmloader's default MMIO hole (0xf0000000-0xfc000000 and up): BARs "
                     "are placed around it")
    elif rmrr.base >= 2 << 30:
        notes.append("above the default rdm_mem_boundary (2 GiB): libxl lowers lowmem_end below "
                     "it when guest RAM would cover it")
    else:
        notes.append("below the default rdm_mem_boundary (2 GiB): guest RAM up to here is not "
                     "relocated; a guest with more low RAM conflicts (strict: \"RDM conflict\")")
    if rmrr.shared:
        notes.append(f"shared by {rmrr.scope_count} scope entries: Xen refuses to assign any of "
                     f"them unless rdm_policy=relaxed (\"It's disallowed to assign ... with "
                     f"shared RMRR at {rmrr.base:#x} ...\"); assign the whole group to one guest")
    return notes


def host_json(host, version) -> dict:
    from xlrmrr.common import span
    from xlrmrr.host.index import RmrrIndex
    from xlrmrr.host.model import reserved_device_memory_map
    from xlrmrr.host.query import sharing_groups
    from xlrmrr.host.resolve import class_name, is_display, is_usb
    from xlrmrr.report.document import pages

    def rmrr(r) -> dict:
        return {**span(r), "segment": r.segment, "start_pfn": r.start_pfn,
                "nr_pages": r.nr_pages, "devices": [str(d) for d in r.devices],
                "scope_count": r.scope_count, "shared": r.shared, "source": r.source,
                "unresolved": list(r.unresolved),
                "below_bridges": [str(d) for d in r.below_bridges],
                "notes": _xen_meaning(host, r)}

    devices = sorted({d for r in host.rmrrs for d in r.devices})
    functions = {f.sbdf: f for f in host.devices}
    groups = sharing_groups(host)
    group_of = {d: g for g in groups for d in g}
    index = RmrrIndex(host)
    out_devices = []
    for d in devices:
        f = functions.get(d)
        cls = f.class_code if f else None
        out_devices.append({
            "sbdf": str(d), "class": cls, "class_name": class_name(cls),
            "linux_relaxable": None if cls is None else is_usb(cls) or is_display(cls),
            "present": (f is not None) if host.topology_known else None,
            "rmrrs": [span(r) for r in index.rmrrs(d)],
            "rdm": [pages(x) for x in index.rdm(d, version)],
            "group": [str(x) for x in group_of.get(d, (d,))],
            "reset_method": f.reset_method if f else None,
            "iommu_group": f.iommu_group if f else None})
    return {
        "source": host.source, "xen_version": str(version),
        "snapshot_xen_version": str(host.xen_version) if host.xen_version else None,
        "vtd_enabled": host.vtd_enabled, "topology_known": host.topology_known,
        "rmrrs": [rmrr(r) for r in host.rmrrs],
        "rdm_all": [pages(x) for x in reserved_device_memory_map(host, version=version)],
        "devices": out_devices,
        "groups": [[str(d) for d in g] for g in groups],
        "namespace_devices": [{"device_number": n, "name": name, "drhd_offsets": offs}
                              for n, name, offs in host.namespace_devices],
        "firmware_rmrrs": [rmrr(r) for r in host.firmware_rmrrs],
        "findings": [f.to_json() for f in host.findings],
    }


def _outcome(host, j) -> str:
    """The first line's outcome: VT-d off and why (exit 1), or what the host reserves."""
    if not host.vtd_enabled:
        why = next((f.message for f in host.findings
                    if f.severity == "error" and f.component == "xen"), "")
        why = why.split(" then ", 1)[0] if why.startswith("Xen rejects") else ""
        return (f"VT-d DISABLED{': ' + why if why else ''}; no device can be passed through "
                f"(exit 1)")
    if getattr(host, "rmrrs_unknown", None):
        return (f"VT-d enabled; the host's RMRRs are UNKNOWN ({host.rmrrs_unknown}), so none is "
                f"listed below (exit 0)")
    n, groups = len(j["rmrrs"]), [g for g in j["groups"] if len(g) > 1]
    return (f"VT-d enabled, {n} RMRR{'s' if n != 1 else ''}"
            + (f", {len(groups)} sharing group{'s' if len(groups) != 1 else ''} (each assigned "
               f"whole or not at all)" if groups else "") + " (exit 0)")


def render_text(host, version) -> str:
    from xlrmrr.common import hexa, size_str

    j = host_json(host, version)
    functions = {f.sbdf: f for f in host.devices}
    lines = [f"host: {host.source or '?'}; modelling Xen {version}"
             + (f" (host data recorded on Xen {host.xen_version})" if host.xen_version else "")
             + f": {_outcome(host, j)}",
             "VT-d: " + ("enabled" if host.vtd_enabled else
                         "DISABLED - Xen rejects this DMAR; no device can be passed through")]
    if not host.topology_known:
        lines.append("PCI topology: unknown (paths behind bridges stay unresolved; give "
                     "--snapshot or --host-json)")
    lines.append("")
    lines.append(f"RMRRs in Xen's list order ({len(host.rmrrs)}; reverse table order, rmrr= "
                 f"ranges first):")
    for r, rj in zip(host.rmrrs, j["rmrrs"]):
        lines.append(f"  [{hexa(r.base)}, {hexa(r.end)}] {size_str(r.end - r.base + 1)}, "
                     f"start_pfn {r.start_pfn:#x} nr_pages {r.nr_pages:#x}  ({r.source})")
        for d in r.devices:
            f = functions.get(d)
            lines.append(f"      {d}  {_cls(f)}")
        for u in r.unresolved:
            lines.append(f"      ? {u}")
        if r.below_bridges:
            lines.append("      below its bridge scope: " + ", ".join(map(str, r.below_bridges)))
        for n in rj["notes"]:
            lines.append(f"      - {n}")
    if not host.rmrrs:
        lines.append("  (none)")
    lines.append("")
    lines.append("devices with RMRRs:")
    for dj in j["devices"]:
        rng = ", ".join(f"[{hexa(r['start'])}, {hexa(r['start'] + r['size'] - 1)}]"
                        for r in dj["rmrrs"])
        extra = []
        if dj["present"] is False:
            extra.append("NOT PRESENT")
        if len(dj["group"]) > 1:
            extra.append("shares with " + ", ".join(x for x in dj["group"] if x != dj["sbdf"]))
        if dj["reset_method"]:
            extra.append(f"reset: {dj['reset_method']}")
        lines.append(f"  {dj['sbdf']}  {dj['class_name']}: {rng}"
                     + (f"  ({'; '.join(extra)})" if extra else ""))
    listed = {dj["sbdf"] for dj in j["devices"]}
    below: dict = {}
    for r in host.rmrrs:
        for d in r.below_bridges:
            below.setdefault(d, []).append(r)
    for d, rs in sorted(below.items()):
        rng = ", ".join(f"[{hexa(r.base)}, {hexa(r.end)}]" for r in rs)
        lines.append(f"  {d}  {_cls(functions.get(d))}: {rng} through a bridge scope only "
                     f"(Xen records the bridge: this device gets no RDM of its own and no "
                     f"identity mapping when assigned)" + ("; also listed above"
                                                          if str(d) in listed else ""))
    unresolved = [r for r in host.rmrrs if r.unresolved]
    if not j["devices"] and not below:
        lines.append(f"  (none known: {len(unresolved)} RMRR(s) name devices xlrmrr cannot "
                     f"resolve, marked ? above)" if unresolved else "  (none)")
    lines.append("")
    lines.append("sharing groups (assign all or none of a group, with rdm_policy=relaxed):")
    for g in j["groups"]:
        lines.append("  " + " ".join(g))
    for r in unresolved:
        rng = f"[{hexa(r.base)}, {hexa(r.end)}]"
        if r.scope_count > 1:
            lines.append(f"  {rng}: shared by {r.scope_count} scope entries, "
                         f"{len(r.unresolved)} of them unresolved: a group xlrmrr cannot name "
                         f"in full (give --snapshot or --host-json)")
        elif not r.scope_count:
            lines.append(f"  {rng}: devices unknown ({r.unresolved[0]}): it may be shared "
                         f"(give the DMAR table)")
    if not j["groups"] and not any(r.scope_count != 1 for r in unresolved):
        lines.append("  (none: every RMRR belongs to one device)")
    if host.namespace_devices:
        lines.append("")
        lines.append("ACPI namespace devices (ANDD; Xen ignores them, they cannot be passed "
                     "through):")
        for n, name, offs in host.namespace_devices:
            where = ", ".join(f"DRHD at {o:#x}" for o in offs) or "no DRHD scope"
            lines.append(f"  {n}: {name} ({where})")
    if host.findings:
        lines.append("")
        lines.append("findings:")
        for f in host.findings:
            lines.append(f"  {f.severity} [{f.component}] {f.code}: {f.message}")
    return "\n".join(lines) + "\n"


def _cls(f) -> str:
    from xlrmrr.host.resolve import class_name

    return class_name(f.class_code if f else None)


def json_text(host, version) -> str:
    from xlrmrr.report.document import dumps

    return dumps("host", host_json(host, version), indent=2)


def snapshot_json(out: str, dmar, desc, notes) -> str:
    """`host snapshot --json`: what was written and what the snapshot holds."""
    from xlrmrr.report.document import dumps

    return dumps("host snapshot", {
        "written": out, "dmar": dmar is not None, "pci_functions": len(desc.devices),
        "e820_entries": len(desc.e820),
        "xen_version": str(desc.xen_version) if desc.xen_version else None,
        "notes": list(notes)}, indent=2)


def snapshot_text(out: str, dmar, desc, notes) -> str:
    lines = [f"wrote {out}: DMAR {'included' if dmar else 'MISSING'}, {len(desc.devices)} PCI "
             f"functions, {len(desc.e820)} e820 entries, Xen "
             f"{desc.xen_version or 'version unknown'}"]
    lines += [f"  note: {n}" for n in notes]
    return "\n".join(lines) + "\n"
