"""`xlrmrr dmar`: the decoded table as text (every structure and scope, then the firmware
findings) and as the JSON object of docs/json.md."""

from __future__ import annotations


def _flags(value: int, flags) -> str:
    """The Flags byte in hex, with the names of the bits set (xlrmrr.acpi.spec)."""
    from xlrmrr.acpi.spec import flag_names

    parts = [n for bit, n in flag_names(flags) if value & bit]
    return f"{value:#x}" + (f" ({', '.join(parts)})" if parts else "")


def _structure_text(s) -> str:
    """What one structure's line says after its offset and name."""
    from xlrmrr.acpi.spec import DmarType
    from xlrmrr.common import hexa, size_str

    t = s.type
    if t == DmarType.DRHD:
        return (f"segment {s.segment}, registers at {hexa(s.register_base)}"
                f" ({1 << s.size} page{'s' if s.size else ''}), flags {_flags(s.flags, s.kind.flags)}")
    if t == DmarType.RMRR:
        size = s.end - s.base + 1 if s.end >= s.base else 0
        return (f"segment {s.segment}, [{hexa(s.base)}, {hexa(s.end)}]"
                + (f" ({size_str(size)})" if size else " (ends before it starts)"))
    if t in (DmarType.ATSR, DmarType.SATC):
        return f"segment {s.segment}, flags {_flags(s.flags, s.kind.flags)}"
    if t == DmarType.RHSA:
        return f"registers at {hexa(s.register_base)}, proximity domain {s.proximity_domain:#x}"
    if t == DmarType.ANDD:
        return f"ACPI device number {s.device_number}: {s.device_name}"
    if t == DmarType.SIDP:
        return f"segment {s.segment}"
    return f"type {s.type}, {s.length} bytes (not decoded)"


def _found(findings) -> str:
    """The first line's count of the firmware findings listed at the end, by severity."""
    if not findings:
        return "no firmware finding"
    counts = [(word, sum(f.severity == sev for f in findings))
              for sev, word in (("error", "error"), ("warning", "warning"), ("info", "note"))]
    return "firmware findings: " + ", ".join(f"{n} {word}{'s' if n > 1 else ''}"
                                             for word, n in counts if n) + " (listed below)"


def render_text(dmar, path: str, findings) -> str:
    from xlrmrr.acpi.spec import ENUMERATED_SCOPES, DmarFlags

    d = dmar
    lines = [f"DMAR table {path}: {d.length:#x} bytes, signature {d.signature.decode('latin-1')}, "
             f"revision {d.revision}, checksum {d.checksum:#04x} "
             f"({'valid' if d.checksum_valid else 'INVALID'}); {_found(findings)}",
             f"  OEM {d.to_json()['oem_id']!r} table {d.to_json()['oem_table_id']!r} revision "
             f"{d.oem_revision:#x}; compiler {d.to_json()['asl_compiler_id']!r} revision "
             f"{d.asl_compiler_revision:#x}",
             f"  host address width {d.host_address_width + 1} bits "
             f"(field {d.host_address_width:#x}); flags {_flags(d.flags, DmarFlags)}"]
    for s in d.structures:
        lines.append(f"  {s.offset:#06x} {s.type_name:<5} {_structure_text(s)}")
        for sc in s.scopes:
            extra = f" id {sc.enumeration_id}" if sc.type in ENUMERATED_SCOPES else ""
            flags = f" flags {sc.flags:#x}" if sc.flags else ""
            lines.append(f"         {sc.offset:#06x} {sc.type_name}{extra}: "
                         f"{sc.path_str()}{flags}")
    if findings:
        lines.append("")
        lines.append("firmware findings:")
        for f in findings:
            lines.append(f"  {f.severity}: {f.message}")
    return "\n".join(lines) + "\n"


def json_text(dmar, path: str, findings) -> str:
    """--json: the file, the table's fields as decoded (Dmar.to_json, the form fixtures are
    written in, with the fields below renamed) and the firmware findings the text lists.

    The header's Host Address Width field holds N for an N+1-bit platform (ACPI DMAR, VT-d
    spec 8.1; Xen's acpi_parse_dmar: dmar_host_address_width = dmar->width + 1): it is given
    as host_address_width_field (N) and host_address_width_bits (N + 1); a DRHD's Size field
    (the register set is 2^N 4 KiB pages) as size_field, since a "size" is bytes in every other
    object. An RMRR's Base Address and End Address (limit, inclusive) fields keep their names
    (base_address, end_address, as Xen's acpi_dmar_reserved_memory) and the range is also
    given as every object gives one, start and size (docs/json.md#addresses-and-ranges).
    acpi.model.from_json reads the object back."""
    from xlrmrr.acpi.spec import DmarType
    from xlrmrr.common import span
    from xlrmrr.report.document import dumps

    table = dmar.to_json()
    head = {k: v for k, v in table.items() if k not in ("host_address_width", "flags",
                                                          "structures")}
    structures = []
    for s, j in zip(dmar.structures, table["structures"]):
        if s.type == DmarType.DRHD:     # "size" is the encoded field, not a size in bytes
            j = {("size_field" if k == "size" else k): v for k, v in j.items()}
        elif s.type == DmarType.RMRR:
            scopes = j["scopes"]
            j = {k: v for k, v in j.items() if k not in ("base", "end", "scopes")}
            j.update(base_address=s.base, end_address=s.end, **span(s), scopes=scopes)
        structures.append(j)
    return dumps("dmar", {
        "source": path, **head, "host_address_width_field": dmar.host_address_width,
        "host_address_width_bits": dmar.host_address_width + 1, "flags": dmar.flags,
        "structures": structures, "findings": [f.to_json() for f in findings]}, indent=2)
