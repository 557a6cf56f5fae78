"""`xlrmrr cfg DOMAIN.xml`: the libxl_domain_config libvirt's libxl driver builds, as text or
JSON, in libxl's field names."""

from __future__ import annotations

from xlrmrr.report import lines_text


def json_text(domain, findings, lv, config: str) -> str:
    """cfg --json for a domain XML: the keys of an xl config's object (report.cfg.json_text); the
    xl-only ones null (no xl settings, no libxlu messages)."""
    from xlrmrr.report.cfg import domain_json
    from xlrmrr.report.document import dumps

    return dumps("cfg", {
        "config": config, "guest": domain.name, "format": "libvirt-domain-xml", "ok": True,
        "settings": None, "diagnostics": None, "domain": domain_json(domain),
        "libxl_domain_config": lv.libxl, "findings": [f.to_json() for f in findings],
        "encoding": "utf-8"}, sort_keys=True)


def _ranges(ids) -> str:
    if not ids:
        return "(none)"
    return f"{ids[0]}-{ids[-1]}" if len(ids) > 1 else str(ids[0])


def _mib(kb) -> str:
    return f"{kb}  ({kb / 1024:g} MiB)"


def text(domain, findings, lv) -> str:
    c, b = lv.libxl["c_info"], lv.libxl["b_info"]
    hvm = b.get("type.hvm")
    n = len(domain.pci)
    out = [f"{lv.source}: libvirt domain XML, read as libvirt's libxl driver builds it "
           f"(src/libxl/libxl_conf.c, libxlBuildDomainConfig); {n} PCI device{'s' * (n != 1)}",
           "", "libxl_domain_config (what the driver hands to libxl; unset fields get libxl's "
           "defaults):"]
    rows = [("c_info.type", c["type"]), ("c_info.name", c["name"]),
            ("c_info.hap", c.get("hap", "(unset: the host's HAP)")),
            ("b_info.max_vcpus", b["max_vcpus"]),
            ("b_info.avail_vcpus", _ranges(b["avail_vcpus"])),
            ("b_info.max_memkb", _mib(b["max_memkb"])),
            ("b_info.target_memkb", _mib(b["target_memkb"])),
            ("b_info.shadow_memkb", b["shadow_memkb"])]
    if hvm is not None:
        rows += [("b_info.video_memkb", _mib(b["video_memkb"]) if "video_memkb" in b
                  else "(unset: 0, vga none)"),
                 ("b_info.device_model_version", b["device_model_version"]),
                 ("b_info.apic", b["apic"]), ("b_info.acpi", b["acpi"]),
                 ("b_info.u.hvm.pae", hvm["pae"]),
                 ("b_info.u.hvm.bios", hvm.get("bios", "(unset: seabios for qemu-xen)")),
                 ("b_info.u.hvm.vga.kind", hvm["vga"]["kind"]),
                 ("b_info.u.hvm.acpi_firmware", hvm.get("acpi_firmware", "(unset)")),
                 ("b_info.u.hvm.rdm.strategy", "(unset: ignore)"),
                 ("b_info.u.hvm.rdm.policy", "(unset: invalid; libxl makes it relaxed)"),
                 ("b_info.u.hvm.rdm_mem_boundary_memkb",
                  "(unset: libxl's default 2097152, 2048 MiB)")]
    for key, val in rows:
        line = lv.lines.get(key)
        out.append(f"  {key:<37} {val}" + (f"   (line {line})" if line else ""))
    for i, (d, j) in enumerate(zip(domain.pci, lv.libxl.get("pcidevs", ()))):
        opts = " permissive" if j.get("permissive") else ""
        out.append(f"  {f'pcidevs[{i}]':<37} {d.sbdf}{opts} rdm_policy=invalid (libxl makes it "
                   f"strict)   {d.spec}")
    out += ["", "findings:"]
    out += [f"  {f.severity:<7} [{f.code}] {f.message}" for f in findings] or ["  (none)"]
    return lines_text(out)
