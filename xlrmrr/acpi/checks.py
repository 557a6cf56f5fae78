"""Firmware checks on a decoded DMAR, with the words Linux, ACPICA and fwts print
(docs/dmar.md#firmware-checks).

These are facts about the table (component "firmware"); what Xen does about them (reject the
table, ignore an RMRR) is modelled in xlrmrr.host.build with component "xen".
"""

from __future__ import annotations

from xlrmrr.acpi.model import Dmar
from xlrmrr.acpi.spec import PCI_SCOPES, SCOPE_NAMES, DmarType, DrhdFlags, ScopeType
from xlrmrr.common import E820_NVS, E820_RAM, E820_RESERVED, PAGE_SIZE, Finding, hexa
from xlrmrr.ranges import overlapping_pairs, overlaps


def _fw(sev: str, code: str, msg: str, *addrs: int) -> Finding:
    return Finding(sev, code, "firmware", msg, tuple(addrs))


def _covering(e820, base: int, end: int):
    return [e for e in e820 if e.addr <= base and end < e.end]


def firmware_findings(dmar: Dmar, devices=(), topology_known: bool = False,
                      e820=()) -> list[Finding]:
    from xlrmrr.host.resolve import is_bridge, resolve_scope

    out: list[Finding] = []
    if not dmar.checksum_valid and dmar.checksum is not None:
        from xlrmrr.acpi.dmar import build
        raw_sum = sum(build(dmar)) & 0xFF
        should = (dmar.checksum - raw_sum) & 0xFF
        out.append(_fw("warning", "bad-checksum",
                       f'Linux/ACPICA: "Incorrect checksum in table [DMAR] - 0x{dmar.checksum:02X}, '
                       f'should be 0x{should:02X}". Linux and Xen still use the table; the '
                       f"firmware (or whoever edited the table) made a mistake."))
    haw = dmar.host_address_width
    if haw < 11:
        out.append(_fw("error" if haw == 0 else "warning", "bad-haw",
                       f'Host Address Width is {haw} ({haw + 1} bits). Linux: "Invalid DMAR haw" '
                       f'(no IOMMU)' + ('; Xen: "Zero: Invalid DMAR width" (VT-d disabled, '
                                        'no passthrough)' if haw == 0 else "") + "."))
    if not dmar.drhds:
        out.append(_fw("error", "no-drhd", 'Linux: "No DRHD structure found in DMAR table": '
                                           "there is no remapping unit, so no IOMMU."))
    include_all = [s for s in dmar.drhds if s.flags & DrhdFlags.INCLUDE_PCI_ALL]
    if len(include_all) > 1:
        out.append(_fw("warning", "multiple-include-all",
                       'fwts: "Multiple drhds have include_all flag set." (DRHDs at offsets '
                       + ", ".join(f"{s.offset:#x}" for s in include_all) + ")."))
    bases = {s.register_base for s in dmar.drhds}
    andd_numbers = {s.device_number for s in dmar.of_type(DmarType.ANDD)}
    out.extend(_overlaps(dmar))
    devmap = {f.sbdf: f for f in devices}
    for s in dmar.structures:
        where = f"{s.type_name} at offset {s.offset:#x}"
        if s.type == DmarType.DRHD:
            if s.register_base == 0:
                out.append(_fw("error", "drhd-base-zero",
                               f'{where}: Register Base Address 0. Linux: "Your BIOS is broken; '
                               f'DMAR reported at address 0!" (IOMMU not used); Xen rejects the '
                               f"table (VT-d disabled, no passthrough).", 0))
            elif s.register_base & 0xFFF:
                out.append(_fw("warning", "drhd-base-unaligned",
                               f"{where}: Register Base Address {hexa(s.register_base)} is not "
                               f'4 KiB aligned. fwts: "Invalid drhd register address."',
                               s.register_base))
        elif s.type == DmarType.RMRR:
            out.extend(_rmrr_checks(s, where, dmar, e820))
        elif s.type == DmarType.RHSA and s.register_base not in bases:
            out.append(_fw("warning", "rhsa-no-drhd",
                           f'{where}: Linux: "Your BIOS is broken; RHSA refers to non-existent '
                           f'DMAR unit at {s.register_base:x}"', s.register_base))
        elif s.type == DmarType.ANDD:
            if b"\0" not in s.name:
                out.append(_fw("warning", "andd-name", f'{where}: Linux: "Your BIOS is broken; '
                                                      f'ANDD object name is not NUL-terminated"'))
            users = [sc for d in dmar.drhds for sc in d.scopes
                     if sc.type == ScopeType.NAMESPACE and sc.enumeration_id == s.device_number]
            out.append(_fw("info", "namespace-device",
                           f"{where}: ACPI namespace device {s.device_name} (number "
                           f"{s.device_number}) " + ("is in a DRHD's scope" if users else
                                                     "is in no DRHD's scope") +
                           ". Xen ignores namespace devices and ANDD entirely; it cannot be "
                           "passed through."))
        for sc in s.scopes:
            swhere = f"device scope at offset {sc.offset:#x} ({where})"
            if sc.type not in SCOPE_NAMES:
                out.append(_fw("warning", "unknown-scope-type",
                               f'{swhere}: type {sc.type}. Linux: "Unsupported device scope"; '
                               f'fwts: "Unknown device scope type."; Xen skips it '
                               f'("Unknown scope type {sc.type:#x}").'))
            if sc.length < 8:
                out.append(_fw("error", "bad-scope-length",
                               f'{swhere}: length {sc.length:#x} (no path). fwts: "Invalid device '
                               f'scope entry."; Xen: "Invalid device scope" (table rejected).'))
            if sc.type == ScopeType.NAMESPACE and s.type != DmarType.DRHD:
                out.append(_fw("warning", "namespace-scope-outside-drhd",
                               f"{swhere}: ACPI namespace scopes belong in DRHDs only."))
            if sc.type == ScopeType.NAMESPACE and sc.enumeration_id not in andd_numbers:
                out.append(_fw("warning", "namespace-scope-no-andd",
                               f"{swhere}: names ACPI device number {sc.enumeration_id}, which "
                               f"no ANDD declares (Linux: \"No IOMMU scope found for ANDD "
                               f"enumeration ID ...\" is the reverse case); Xen ignores it."))
            if s.type == DmarType.RMRR and sc.type not in PCI_SCOPES:
                out.append(_fw("warning", "rmrr-scope-type",
                               f"{swhere}: an RMRR scope of type {sc.type} ({sc.type_name}); the "
                               f"VT-d specification allows only PCI endpoint and sub-hierarchy "
                               f"scopes here."))
            if sc.type == ScopeType.NAMESPACE:
                continue
            if topology_known and sc.type in PCI_SCOPES and sc.path:
                r = resolve_scope(s.segment, sc, devmap, True)
                if r.sbdf is None or r.sbdf not in devmap:
                    dev = str(r.sbdf) if r.sbdf else sc.path_str()
                    out.append(_fw("warning", "scope-device-absent",
                                   f'{swhere}: names {dev}, which this host does not have. fwts: '
                                   f'"Device scope device not found."' +
                                   (f" ({r.unresolved})" if r.unresolved else "")))
                else:
                    bridge = is_bridge(devmap[r.sbdf])
                    if (sc.type == ScopeType.ENDPOINT) == bridge:
                        out.append(_fw("warning", "scope-type-mismatch",
                                       f"{swhere}: a {sc.type_name} scope names {r.sbdf}, which "
                                       f"is {'a' if bridge else 'not a'} bridge. Linux: \"Device "
                                       f'scope type does not match for {r.sbdf}"; fwts: "Device '
                                       f'scope type not match."'))
    return out


def _overlaps(dmar: Dmar) -> list[Finding]:
    """Overlapping RMRRs, in O(n log n): sweep by base address, each RMRR against the one
    reaching furthest before it."""
    out: list[Finding] = []
    rmrrs = sorted((r for r in dmar.rmrrs if r.end >= r.base), key=lambda r: (r.base, r.offset))
    for reach, s in overlapping_pairs((r.base, r.end + 1, r) for r in rmrrs):
        a, b = sorted((reach, s), key=lambda r: r.offset)
        out.append(_fw("error", "rmrr-overlap",
                       f"RMRR at offset {b.offset:#x}: [{hexa(b.base)}, {hexa(b.end)}] overlaps "
                       f"the RMRR at offset {a.offset:#x} [{hexa(a.base)}, {hexa(a.end)}]. Xen: "
                       f'"Overlapping RMRRs" (VT-d disabled, no passthrough).', b.base, b.end))
    return out


def _rmrr_checks(s, where: str, dmar: Dmar, e820) -> list[Finding]:
    out: list[Finding] = []
    base, end = s.base, s.end
    rng = f"[{base:#018x}-{end:#018x}]"
    if base & 0xFFF or (end + 1) & 0xFFF or end <= base:
        what = ("ends before it starts" if end < base else
                "is empty" if end == base else "is not 4 KiB aligned")
        out.append(_fw("error" if end < base else "warning", "bad-rmrr",
                       f'{where}: the range {what}. Linux: "Your BIOS is broken; bad RMRR '
                       f'{rng}"; fwts: "Invalid rmrr range address."' +
                       (" Xen rejects the whole table (VT-d disabled)." if end < base else
                        " Xen does not check alignment: it maps every page the range touches."),
                       base, end))
    if (end + 1) >> (dmar.host_address_width + 1) and end >= base:
        out.append(_fw("warning", "rmrr-beyond-haw",
                       f'{where}: Linux (older): "Your BIOS is broken; RMRR exceeds permitted '
                       f'address width ({dmar.host_address_width + 1} bits)"', base, end))
    if not s.scopes:
        out.append(_fw("warning", "rmrr-no-scope",
                       f"{where}: the RMRR [{hexa(base)}, {hexa(end)}] lists no device; Linux "
                       f"and Xen drop it.", base, end))
    if e820 and end >= base:
        lo, hi = base & ~(PAGE_SIZE - 1), end | (PAGE_SIZE - 1)
        ok_types = {E820_RESERVED, E820_NVS}
        if not any(e.type in ok_types for e in _covering(e820, lo, hi)):
            ram = any(e.type == E820_RAM and overlaps(e.addr, e.end, lo, hi + 1) for e in e820)
            all_ram = any(e.type == E820_RAM for e in _covering(e820, lo, hi))
            out.append(_fw("error" if ram else "warning",
                           "rmrr-over-ram" if ram else "rmrr-not-reserved",
                           f"{where}: [{hexa(base)}, {hexa(end)}] is "
                           + ("host RAM" if all_ram else "partly host RAM" if ram else
                              "not inside one reserved e820 entry")
                           + f'. Linux: "No firmware reserved region can cover this RMRR {rng}, '
                             f'contact BIOS vendor for fixes".', base, end))
    return out
