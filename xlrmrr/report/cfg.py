"""`xlrmrr cfg FILE`: how xl reads an xl config (settings, libxlu's messages, the typed config,
findings) as text and as the JSON object of docs/json.md; report/libvirt.py does a domain XML."""

from __future__ import annotations

from xlrmrr.report import lines_text


def refusals(findings) -> list:
    """The findings that make xl refuse the file: libxlutil cannot parse it (or aborts), or
    xl's parse_config_data exits on a setting."""
    return [f for f in findings if f.severity == "error" and f.component == "xl"
            and f.code in ("xl-parse-error", "xl-abort", "xl-exit")]


def _exit_reason(message: str, source: str) -> str:
    """An xl-exit finding's message without its trailing explanation: xl's own words, after
    " on line N" when it names the setting's line (FILE:N: ...)."""
    said = message.split(" (xl stops here", 1)[0]
    line, sep, rest = said[len(source) + 1:].partition(": ")
    if said.startswith(source + ":") and sep and line.isdigit():
        return f" on line {line}: {rest}"
    return f": {said}"


def unreadable_json(error: str, config: str, latin1: bool = False, xml: bool = False) -> str:
    """--json for a file xlrmrr cannot read (missing, a directory, over the size limit; xml: a
    domain XML libvirt's driver would refuse): not parsed, so no settings and no domain; libxlu
    printed nothing."""
    import json

    from xlrmrr.report.document import document, made

    code, component = ("libvirt-xml", "libvirt") if xml else ("unreadable", "xl")
    doc = document("cfg", {
        "config": config, "guest": None, "format": FORMATS[xml], "ok": False,
        "settings": None if xml else {}, "diagnostics": None if xml else "", "domain": None,
        "libxl_domain_config": None,
        "findings": [{"severity": "error", "code": code, "component": component,
                      "message": error}], "encoding": "latin-1" if latin1 else "utf-8"})
    if not latin1:
        return made("cfg", json.dumps(doc) + "\n")
    return made("cfg", _latin1(json.dumps(doc, ensure_ascii=False) + "\n"))


# The --json "format": how the file was read.
FORMATS = {False: "xl", True: "libvirt-domain-xml"}


def _latin1(out: str) -> str:
    # JSON's own syntax and escapes are ASCII, so this only touches the strings' contents.
    return out.encode("utf-8", "surrogateescape").decode("latin-1").translate(_LATIN1_ESCAPES)


def domain_json(domain) -> dict:
    """The typed config as plain JSON values."""
    from dataclasses import asdict, fields

    out = {}
    for f in fields(domain):
        v = getattr(domain, f.name)
        if f.name == "xen_version":
            v = str(v)
        elif f.name == "pci":
            # every field of a PciDevice is a scalar but sbdf: a shallow dict, not asdict's
            # recursive copy (3 s of cfg --json for a 50,000-entry pci= list)
            names = [p.name for p in fields(v[0])] if v else []
            v = [dict({n: getattr(d, n) for n in names}, sbdf=str(d.sbdf) if d.sbdf else None)
                 for d in v]
        elif f.name == "rdm":
            v = asdict(v)
        out[f.name] = v
    return out


_LATIN1_ESCAPES = {c: f"\\u{c:04x}" for c in range(0x80, 0x100)}


def json_text(cfg, domain, findings, config: str, latin1: bool = False) -> str:
    """The --json object. latin1: the file or its name is not UTF-8, so every string is given as
    the Latin-1 reading of its bytes (U+0000-U+00FF, one per byte) and "encoding" says so."""
    import json

    from xlrmrr.report.document import SCHEMA_VERSION, made

    ascii_ = not latin1
    parts = [f'"schema_version": {SCHEMA_VERSION}', '"command": "cfg"',
             f'"config": {json.dumps(config, ensure_ascii=ascii_)}',
             f'"guest": {json.dumps(domain.name, ensure_ascii=ascii_)}', '"format": "xl"',
             f'"ok": {json.dumps(cfg.ok)}']
    # The same keys whatever the outcome: a file xl rejects has no settings (xl discards those
    # stored before the error), and "encoding" says "utf-8" when it is not "latin-1".
    items = ", ".join(f"{json.dumps(k)}: {s.to_json_text(ascii_)}"
                      for k, s in cfg.settings.items()) if cfg.ok else ""
    parts.append(f'"settings": {{{items}}}')
    parts.append(f'"diagnostics": {json.dumps(cfg.diagnostics, ensure_ascii=ascii_)}')
    parts.append(f'"domain": '
                 f'{json.dumps(domain_json(domain), sort_keys=True, ensure_ascii=ascii_)}')
    parts.append('"libxl_domain_config": null')
    parts.append(f'"findings": '
                 f'{json.dumps([f.to_json() for f in findings], ensure_ascii=ascii_)}')
    parts.append(f'"encoding": "{"latin-1" if latin1 else "utf-8"}"')
    out = "{" + ", ".join(parts) + "}\n"
    return made("cfg", _latin1(out) if latin1 else out)


def _but(findings) -> str:
    """What the first line adds to "xl accepts this file": the first warning (a misspelt key and
    what the guest then gets, an rdm= line xl drops ...), to its first clause, as create's
    first line adds a misspelt key."""
    import re

    warnings = [f for f in findings if f.severity == "warning"]
    if not warnings:
        return ""
    first = re.split(r"; |(?<=\.) (?=[A-Z])", warnings[0].message, maxsplit=1)[0]
    more = len(warnings) - 1
    return f"; but {first}" + (f" (and {more} more warning{'s' if more > 1 else ''}: see the "
                               f"findings)" if more else "")


def text(cfg, domain, findings) -> str:
    from xlrmrr.xlcfg.settings import value_json

    out = []
    exits = [f for f in refusals(findings) if f.code == "xl-exit"]
    if cfg.ok and exits:
        # libxlutil parses the file, but xl's parse_config_data exits on a setting: the first
        # line says so, as stderr and the exit status (2) do.
        out.append(f"{cfg.source}: xl would not accept this file: libxlutil parses it "
                   f"({_settings(cfg)}), but xl then exits"
                   f"{_exit_reason(exits[0].message, cfg.source)}")
    elif cfg.ok:
        out.append(f"{cfg.source}: xl accepts this file ({_settings(cfg)})" + _but(findings))
    elif cfg.aborted:
        out.append(f"{cfg.source}: xl would abort here (libxlutil SIGABRT: {cfg.abort_reason})")
    else:
        out.append(f"{cfg.source}: xl rejects this file (Failed to parse config: "
                   f"{'Invalid argument' if cfg.rc == 22 else 'Numerical result out of range'})")
    view = cfg.settings if cfg.ok else cfg.partial_settings
    out.append("")
    out.append("settings (as xl reads them; the last assignment wins):" if cfg.ok else
               "settings stored before the first error (xl discards them):")
    if not view:
        out.append("  (none)")
    for name, s in sorted(view.items(), key=lambda kv: (kv[1].line, kv[0])):
        op = "+=" if s.op == "+=" else "="
        out.append(f"  line {s.line:<4} {name} {op} {value_json(s.value, False)}")
    shadowed = len(cfg.history) - len(view)
    if shadowed > 0:
        out.append(f"  ({shadowed} earlier assignment{'s' if shadowed > 1 else ''} shadowed)")
    out.append("")
    out.append("xl's parser messages (verbatim):")
    out.extend(f"  {line}" for line in cfg.diagnostics.rstrip("\n").split("\n")
               if cfg.diagnostics)
    if not cfg.diagnostics:
        out.append("  (none)")
    if cfg.ok:
        out.append("")
        out.append(f"typed config for Xen {domain.xen_version} (what xl hands to libxl):" if not exits
                   else f"typed config for Xen {domain.xen_version}, as far as xl read it before "
                        f"exiting (xl hands nothing to libxl):")
        dj = domain_json(domain)
        for key in ("name", "type", "target_memkb", "max_memkb", "video_memkb", "vga",
                    "device_model_version", "shadow_memkb", "hap", "mmio_hole_memkb", "vcpus",
                    "max_vcpus", "apic", "acpi", "bios", "gfx_passthru", "rdm",
                    "rdm_mem_boundary_memkb", "rdm_forcecheck", "acpi_firmware",
                    "smbios_firmware"):
            val = dj[key]
            if key == "rdm":
                val = f"strategy={val['strategy']} policy={val['policy']}"
            out.append(f"  {key:<23} {_show(val)}")
        out.append(f"  {'pci':<23} {len(domain.pci)} device(s)")
        for d in domain.pci:
            what = str(d.sbdf) if d.sbdf else f"name={d.name}"
            fn = "all functions" if d.vfunc_mask == 0xFFFFFFFF else ""
            opts = [k for k in ("msitranslate", "power_mgmt", "permissive", "seize")
                    if getattr(d, k)]
            out.append(f"    {what:<14} vslot={d.vdevfn >> 3:#x} rdm_policy={d.rdm_policy}"
                       f"{' ' + fn if fn else ''}{' ' + ','.join(opts) if opts else ''}"
                       f"  (`{d.spec}')")
    out.append("")
    out.append("findings:")
    if not findings:
        out.append("  (none)")
    for f in findings:
        out.append(f"  {f.severity:<7} [{f.code}] {f.message}")
    return lines_text(out)


def _settings(cfg) -> str:
    n = len(cfg.settings)
    return f"{n} setting{'' if n == 1 else 's'}"


def _show(v) -> str:
    if v is None:
        return "(default)"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)
