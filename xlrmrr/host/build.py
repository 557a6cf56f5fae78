"""Build the Host: what Xen registers from the DMAR (acpi_parse_dmar) plus `rmrr=` ranges.

Xen's rules are modelled per release (docs/xen/flow.md#hypervisor-rmrr-registration): any failing structure
rejects the whole DMAR ("Failed to parse ACPI DMAR.  Disabling VT-d.") and leaves no RMRR at
all; an RMRR with no device is dropped; an RMRR none of whose devices exists is ignored; RMRRs
are kept in reverse table order (list_add at the head), `rmrr=` ranges in front of them.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from typing import TYPE_CHECKING

from xlrmrr.acpi.spec import PCI_SCOPES, AtsrFlags, DmarType, DrhdFlags, ScopeType
from xlrmrr.common import (
    E820_ACPI,
    E820_NVS,
    E820_RAM,
    E820_RESERVED,
    NEWEST_XEN,
    PAGE_SIZE,
    E820Entry,
    Finding,
    Sbdf,
    XenVersion,
    hexa,
)
from xlrmrr.host.model import Host, PciFunction, Rmrr
from xlrmrr.host.resolve import Resolved, resolve_scope
from xlrmrr.host.topology import HostDescription
from xlrmrr.ranges import intersect, overlaps
from xlrmrr.records import record
from xlrmrr.releases import (
    XEN_PRESENCE_CHECKS,
    XEN_RMRR_E820_MESSAGE,
    XEN_RMRR_OVER_RAM_REJECTED,
    XEN_RMRR_RESERVED_WHOLE,
    XEN_SATC,
    XEN_USER_RMRR,
    XEN_USER_RMRR_PAGE_LIMIT,
    dmar_key,
)

if TYPE_CHECKING:
    from xlrmrr.acpi.model import Dmar, Structure
    from xlrmrr.acpi.readers import LogRmrr, UserRmrr

XEN_DISABLED = "Failed to parse ACPI DMAR.  Disabling VT-d."
MAX_USER_RMRR_PAGES = 16
MAX_USER_RMRR = 10          # ranges, over every rmrr= parameter together (one static array)
MAX_USER_RMRR_DEV = 20      # devices per range
# What scope_device_count counts (not ACPI namespace devices).
DEVICE_SCOPE_TYPES = (ScopeType.ENDPOINT, ScopeType.BRIDGE, ScopeType.IOAPIC, ScopeType.HPET)


class _Registered:
    """Xen's acpi_rmrr_units: registered RMRRs, which never overlap one another, kept sorted so
    that the overlap check is O(log n); `newest_overlap` answers what Xen's walk from the list
    head (the most recently registered first) finds first."""

    def __init__(self) -> None:
        self.bases: list[int] = []
        self.items: list[tuple[Rmrr, int]] = []
        self.in_order: list[Rmrr] = []

    def add(self, rmrr: Rmrr) -> None:
        i = bisect_right(self.bases, rmrr.base)
        self.bases.insert(i, rmrr.base)
        self.items.insert(i, (rmrr, len(self.in_order)))
        self.in_order.append(rmrr)

    def newest_overlap(self, base: int, end: int) -> Rmrr | None:
        i = bisect_right(self.bases, end) - 1
        best: tuple[Rmrr, int] | None = None
        while i >= 0 and self.items[i][0].end >= base:
            if best is None or self.items[i][1] > best[1]:
                best = self.items[i]
            i -= 1
        return best[0] if best else None


class _Rejected(Exception):
    def __init__(self, finding: Finding):
        self.finding = finding


def _xen(sev: str, code: str, msg: str, *addrs: int) -> Finding:
    return Finding(sev, code, "xen", msg, tuple(addrs))


def _reject(code: str, xen_text: str, why: str, *addrs: int) -> _Rejected:
    return _Rejected(_xen("error", code, f'Xen rejects the whole DMAR: "{xen_text}" then '
                                         f'"{XEN_DISABLED}" {why} With VT-d disabled Xen reports '
                                         f'no reserved device memory and no PCI device can be '
                                         f'passed through.', *addrs))


def _e820_types(e820: tuple[E820Entry, ...], lo: int, hi: int) -> tuple[set[int], bool]:
    """The e820 types met in [lo, hi) and whether part of it is in no entry (a hole)."""
    types: set[int] = set()
    covered = 0
    for e in e820:
        a, b = intersect(lo, hi, e.addr, e.end)
        if a < b:
            types.add(e.type)
            covered += b - a
    return types, covered < hi - lo


def _page_types(e820, pfn: int) -> set[int]:
    return _e820_types(e820, pfn * PAGE_SIZE, (pfn + 1) * PAGE_SIZE)[0]


def _ram_pages(e820, base: int, end: int) -> list[int]:
    """First addresses of the pages of [base, end] that the e820 calls RAM (at most a few)."""
    out = []
    for e in e820:
        if e.type != E820_RAM:
            continue
        a, b = intersect(base & ~(PAGE_SIZE - 1), end + 1, e.addr, e.end)
        if a < b:
            out.append(a & ~(PAGE_SIZE - 1))
    return sorted(out)


_RESERVED_ONLY = frozenset({E820_RESERVED})
_RESERVED_ACPI_NVS = frozenset({E820_RESERVED, E820_ACPI, E820_NVS})


def e820_facts(base: int, end: int, e820) -> tuple:
    """What e820_check reads of the e820 for one range, whatever the release: (types met, part
    in a hole, first addresses of RAM pages, types of the first page, of the last page)."""
    lo, hi = base & ~(PAGE_SIZE - 1), (end | (PAGE_SIZE - 1)) + 1
    types, hole = _e820_types(e820, lo, hi)
    return (types, hole, _ram_pages(e820, base, end), _page_types(e820, base >> 12),
            _page_types(e820, end >> 12))


def e820_check(base: int, end: int, e820, version: XenVersion, what: str = "RMRR",
               facts: tuple | None = None) -> tuple[list[Finding], _Rejected | None]:
    """Xen's check that an RMRR is E820-reserved, as the release does it: the messages, and
    the rejection of the whole DMAR (4.19+, RMRR over RAM) or None. `facts`: e820_facts of the
    range, when already worked out."""
    if not e820 or base > end:
        return [], None
    lo = base & ~(PAGE_SIZE - 1)
    types, hole, ram, first, last = facts or e820_facts(base, end, e820)
    out: list[Finding] = []
    if XEN_RMRR_OVER_RAM_REJECTED.in_effect(version):
        if types <= {E820_RESERVED} and not hole:
            return [], None
        out.append(_xen("warning", "rmrr-not-reserved",
                        f'"{what}: [{hexa(lo)}, {hexa(end & ~(PAGE_SIZE - 1))}] is not (entirely) '
                        f'in reserved memory" (Xen {version}: pages in e820 holes are added to '
                        f'the host e820 as reserved; ACPI/NVS/unusable pages are accepted)',
                        base, end))
        if ram:
            return out, _reject("rmrr-over-ram",
                                f"{what}: page at {hexa(ram[0])} can't be converted",
                                f"(Xen {version} refuses an RMRR that covers host RAM.)",
                                base, end)
        return out, None
    if XEN_RMRR_RESERVED_WHOLE.in_effect(version):
        if types <= {E820_RESERVED, E820_ACPI, E820_NVS} and not hole:
            return [], None
        text = (f' RMRR [{base:x},{end:x}] not in reserved memory; '
                f'need "iommu_inclusive_mapping=1"?')
    else:
        if first == _RESERVED_ONLY and last == _RESERVED_ONLY:
            return [], None
        if not XEN_RMRR_E820_MESSAGE.in_effect(version):      # a debug-build message in 4.6
            text = (f"  RMRR address range not in reserved memory base = {base:x} end = "
                    f"{end:x}; iommu_inclusive_mapping=1 parameter may be needed.")
        else:
            text = (f'  RMRR address range {base:x}..{end:x} not in reserved memory; '
                    f'need "iommu_inclusive_mapping=1"?')
    sev = "error" if ram else "warning"
    extra = (" Part of it is host RAM: Xen still maps it 1:1 for the device, so the device can "
             "DMA into memory the host uses for something else." if ram else "")
    out.append(_xen(sev, "rmrr-over-ram" if ram else "rmrr-not-reserved",
                    f'"{text}" (Xen {version} only warns).{extra}', base, end))
    return out, None


def _scope_length_check(s: Structure) -> None:
    for sc in s.scopes:
        if sc.length < 8:
            raise _reject("bad-scope", "Invalid device scope",
                          f"(the device scope at offset {sc.offset:#x} of the {s.type_name} at "
                          f"offset {s.offset:#x} has length {sc.length:#x}; Xen needs at least 8)")


def _resolve_all(s: Structure, devmap, topo) -> list[Resolved]:
    return [resolve_scope(s.segment, sc, devmap, topo) for sc in s.scopes
            if sc.type in DEVICE_SCOPE_TYPES]


def _present(devmap, topo: bool, sbdf: Sbdf | None) -> bool:
    return sbdf is not None and sbdf in devmap if topo else True



def host_band(version: XenVersion) -> tuple[bool, ...]:
    """Which of the named DMAR changes (releases, kind DMAR) are in effect: within one band,
    every release builds the same Host (RMRRs, VT-d state, devices), though messages name the
    release asked for."""
    return dmar_key(version)



def _segment_known(segments: frozenset[int], topo: bool, segment: int, version: XenVersion) -> bool:
    """pci_known_segment(): Xen skips presence checks on a segment it has not scanned. Before
    4.12 (dcf41790, MMCFG set up before the DMAR is parsed) no segment was known yet, so the
    checks never ran. `segments`: the segments of the known devices."""
    return topo and segment in segments and XEN_PRESENCE_CHECKS.in_effect(version)


@record(eq=False)
class TableFacts:
    """What of a decoded table and a topology does not depend on the Xen release, worked out
    once per process (table_facts) however many releases a command models: each DRHD's and
    RMRR's device scopes resolved (scope resolution follows the topology, not the release), the
    table's RMRRs (Host.firmware_rmrrs; the RMRR Xen registers for a structure is that same
    record), the firmware findings, the segments of the known devices and the ANDD entries."""

    resolved: dict          # structure index -> list[Resolved] (DEVICE_SCOPE_TYPES only)
    rmrr_at: dict           # RMRR structure index -> its Rmrr
    firmware: tuple         # tuple[Rmrr, ...], table order
    firmware_findings: tuple
    e820_at: dict           # RMRR structure index -> e820_facts of its range (with an e820)
    devmap: dict            # Sbdf -> PciFunction
    segments: frozenset
    namespace: tuple


def table_facts(dmar: Dmar, desc: HostDescription | None = None) -> TableFacts:
    """The release-independent part of build_host for this table and topology."""
    from xlrmrr.acpi.checks import firmware_findings

    desc = desc or HostDescription()
    devmap = {f.sbdf: f for f in desc.devices}
    topo = desc.topology_known
    resolved = {i: _resolve_all(s, devmap, topo) for i, s in enumerate(dmar.structures)
                if s.type in (DmarType.DRHD, DmarType.RMRR)}
    rmrr_at = {}
    for i, s in enumerate(dmar.structures):
        if s.type != DmarType.RMRR:
            continue
        res = resolved[i]
        rmrr_at[i] = Rmrr(base=s.base, end=s.end, segment=s.segment,
                                 devices=tuple(r.sbdf for r in res if r.sbdf is not None),
                                 scope_count=len(res), source=f"DMAR RMRR at offset {s.offset:#x}",
                                 unresolved=tuple(r.unresolved for r in res if r.sbdf is None),
                                 below_bridges=tuple(d for r in res for d in r.below))
    e820_at = {} if not desc.e820 else {
        i: e820_facts(r.base, r.end, desc.e820) for i, r in rmrr_at.items() if r.base <= r.end}
    namespace = tuple(
        (a.device_number, a.device_name,
         tuple(d.offset for d in dmar.drhds
               if any(sc.type == ScopeType.NAMESPACE and sc.enumeration_id == a.device_number
                      for sc in d.scopes)))
        for a in dmar.of_type(DmarType.ANDD))
    return TableFacts(resolved, rmrr_at, tuple(rmrr_at.values()),
                      tuple(firmware_findings(dmar, desc.devices, topo, desc.e820)), e820_at, devmap,
                      frozenset(f.sbdf.seg for f in desc.devices), namespace)


def xen_parse_dmar(dmar: Dmar, devices: tuple[PciFunction, ...], topology_known: bool,
                   e820: tuple[E820Entry, ...], version: XenVersion, facts: TableFacts | None = None
                   ) -> tuple[list[Rmrr], list[Finding], Finding | None]:
    """acpi_parse_dmar: the RMRRs Xen registers (in registration = table order), the messages,
    and the rejection (None when VT-d stays enabled). `facts`: table_facts(dmar, the same
    devices and topology), when the caller has it already."""
    if facts is None:
        facts = table_facts(dmar, HostDescription(devices=tuple(devices),
                                                  topology_known=topology_known))
    devmap, segments = facts.devmap, facts.segments
    findings: list[Finding] = []
    registered = _Registered()
    include_all = all_ports = False
    try:
        if dmar.host_address_width == 0:
            raise _reject("zero-haw", "Zero: Invalid DMAR width",
                          "(the DMAR Host Address Width is 0).")
        for i, s in enumerate(dmar.structures):
            # how a message names the structure; an RMRR's is made only for a message
            where = "" if s.type == DmarType.RMRR else _where(s)
            if s.type == DmarType.DRHD:
                if s.register_base in (0, (1 << 64) - 1):
                    raise _reject("drhd-base-zero", f"DRHD at {hexa(s.register_base)}: -ENODEV",
                                  f"(the {where} has Register Base Address "
                                  f"{hexa(s.register_base)}).", s.register_base)
                _scope_length_check(s)
                if s.flags & DrhdFlags.INCLUDE_PCI_ALL:
                    if s.segment == 0 and include_all:
                        raise _reject("multiple-include-all",
                                      "Only one INCLUDE_ALL device scope is allowed",
                                      f"(the {where} is a second INCLUDE_PCI_ALL unit on "
                                      f"segment 0).")
                    include_all = include_all or s.segment == 0
                elif _segment_known(segments, topology_known, s.segment, version):
                    # Warning only: the DRHD stays (the fatal "workaround_bios_bug" logic was
                    # dead code until it was dropped, 07c181c83e, before 4.12.0).
                    for r in facts.resolved[i]:
                        if r.scope.type in PCI_SCOPES and not _present(devmap, True, r.sbdf):
                            findings.append(_xen(
                                "warning", "drhd-device-absent",
                                f'" Non-existent device ({r.sbdf or r.scope.path_str()}) in this '
                                f'DRHD\'s scope!" ({where}); Xen keeps the unit.'))
            elif s.type == DmarType.RMRR:
                rmrr = _xen_rmrr(s, i, registered, facts, topology_known, e820, version,
                                 findings)
                if rmrr is not None:
                    registered.add(rmrr)
            elif s.type == DmarType.ATSR:
                if s.flags & AtsrFlags.ALL_PORTS:
                    if s.segment == 0 and all_ports:
                        raise _reject("multiple-all-ports",
                                      "Only one ALL_PORTS device scope is allowed",
                                      f"(the {where} is a second ALL_PORTS ATSR on segment 0).")
                    all_ports = all_ports or s.segment == 0
                else:
                    _scope_length_check(s)
            elif s.type == DmarType.RHSA:
                pass
            elif s.type == DmarType.SATC and XEN_SATC.in_effect(version):
                _scope_length_check(s)
            else:
                findings.append(_xen("info", "unknown-structure",
                                     f'"Ignore unknown DMAR structure type ({s.type:#x})" '
                                     f'({where}; Xen {version} does not parse {s.type_name}).'))
    except _Rejected as r:
        return [], findings, r.finding
    return registered.in_order, findings, None


def _where(s: Structure) -> str:
    return f"{s.type_name} at offset {s.offset:#x}"


def _xen_rmrr(s: Structure, index: int, registered: _Registered, facts: TableFacts, topo: bool,
              e820, version: XenVersion, findings: list[Finding]) -> Rmrr | None:
    base, end = s.base, s.end
    old = registered.newest_overlap(base, end)
    if old is not None:
        raise _reject("rmrr-overlap",
                      f"Overlapping RMRRs [{old.base:x},{old.end:x}] and [{base:x},{end:x}]",
                      f"(the {_where(s)} overlaps an earlier RMRR).", base, end)
    found, rejected = e820_check(base, end, e820, version, facts=facts.e820_at.get(index))
    findings.extend(found)
    if rejected is not None:
        raise rejected
    _scope_length_check(s)
    resolved = facts.resolved[index]
    if not resolved:
        findings.append(_xen("warning", "rmrr-no-device",
                             f"The {_where(s)} [{hexa(base)}, {hexa(end)}] has no device scope: Xen "
                             f"drops it silently, so no device gets this range.", base, end))
        return None
    devmap = facts.devmap
    if _segment_known(facts.segments, topo, s.segment, version):
        if not any(_present(devmap, True, r.sbdf) for r in resolved):
            for r in resolved:
                findings.append(_xen("warning", "rmrr-device-absent",
                                     f'" Non-existent device ({r.sbdf or r.scope.path_str()}) is '
                                     f'reported in RMRR [{base:x}, {end:x}]\'s scope!"', base, end))
            findings.append(_xen("warning", "rmrr-ignored",
                                 f'" Ignore RMRR [{base:x},{end:x}] as no device under its scope '
                                 f'is PCI discoverable!" ({_where(s)}): no RDM for this range.',
                                 base, end))
            return None
    if base > end:
        raise _reject("rmrr-end-before-base", f" RMRR [{base:x},{end:x}] is incorrect!",
                      f"(the {_where(s)} ends before it starts).", base, end)
    rmrr = facts.rmrr_at[index]
    if rmrr.below_bridges:
        findings.append(_xen("warning", "rmrr-bridge-scope",
                             f"The {_where(s)} [{hexa(base)}, {hexa(end)}] names a bridge "
                             f"(sub-hierarchy scope): Xen records only the bridge's own BDF, so "
                             f"the devices below it ({', '.join(map(str, rmrr.below_bridges))}) "
                             f"get no RDM from a per-device query and no identity mapping when "
                             f"assigned.", base, end))
    return rmrr


def table_rmrrs(dmar: Dmar, devices, topology_known: bool) -> tuple[Rmrr, ...]:
    """Every RMRR of the table in table order, resolved, whatever Xen makes of it."""
    return table_facts(dmar, HostDescription(devices=tuple(devices),
                                             topology_known=topology_known)).firmware


def _invalid_param(u: UserRmrr, rc: int) -> str:
    return f'"parameter \\"rmrr\\" has invalid value \\"{u.option_text or u.text}\\", rc={rc}!"'


def _pages_apart(u: UserRmrr) -> int:
    """Xen's `end - start` on unsigned long page numbers: a reversed range wraps to 2**64 - n."""
    return (u.end_pfn - u.start_pfn) & ((1 << 64) - 1)


def parse_limits(user: tuple[UserRmrr, ...], version: XenVersion
                 ) -> tuple[list[UserRmrr], list[Finding]]:
    """What parse_rmrr_param keeps of the rmrr= parameters (vtd/dmar.c): at most
    MAX_USER_RMRR ranges over all parameters (the next one makes it return -E2BIG: every
    later range is lost, the first ten stay); at most MAX_USER_RMRR_DEV devices per range (its
    device loop stops at the 20th, keeps the range, and the rest of that parameter is a syntax
    error, -EINVAL); from 4.17 a range of more than 16 pages ends its parameter with -E2BIG,
    checked before anything else of the range: a reversed one (end < start) counts as
    2**64 - (start - end) pages there, so 4.17+ never reaches add_one_user_rmrr's "Invalid RMRR
    Range" check for it (before 4.17 add_user_rmrr checks start > end first)."""
    kept: list[UserRmrr] = []
    findings: list[Finding] = []
    dead: set[int] = set()          # parameters whose parsing stopped
    for i, u in enumerate(user):
        if u.option in dead:
            continue
        rng = f"[{u.start_pfn:x}-{u.end_pfn:x}]"
        if len(kept) >= MAX_USER_RMRR:
            lost = [x for x in user[i:] if x.option not in dead]
            findings.append(_xen("warning", "user-rmrr-too-many",
                                 f"{_invalid_param(u, -7)}: Xen keeps at most {MAX_USER_RMRR} "
                                 f"rmrr= ranges; {len(lost)} more (from rmrr={u.text} on) are "
                                 f"ignored. Merge ranges or drop some."))
            break
        if XEN_USER_RMRR_PAGE_LIMIT.in_effect(version) and _pages_apart(u) >= MAX_USER_RMRR_PAGES:
            later = sum(1 for x in user[i + 1:] if x.option == u.option)
            findings.append(_xen("warning", "user-rmrr-too-large",
                                 f'"RMRR range {rng} exceeds {MAX_USER_RMRR_PAGES} pages" then '
                                 f"{_invalid_param(u, -7)} (rmrr={u.text}): Xen {version} stops "
                                 f"parsing this rmrr= parameter here, so this and {later} "
                                 f"later range(s) of it are lost."))
            dead.add(u.option)
            continue
        if len(u.devices) > MAX_USER_RMRR_DEV:
            later = sum(1 for x in user[i + 1:] if x.option == u.option)
            findings.append(_xen("warning", "user-rmrr-too-many-devices",
                                 f"{_invalid_param(u, -22)}: a range lists at most "
                                 f"{MAX_USER_RMRR_DEV} devices; Xen keeps {rng} with the first "
                                 f"{MAX_USER_RMRR_DEV} (up to {u.devices[MAX_USER_RMRR_DEV - 1]})"
                                 f", ignores {len(u.devices) - MAX_USER_RMRR_DEV} more and "
                                 f"{later} later range(s) of this rmrr= parameter. Split the "
                                 f"range's devices over two rmrr= ranges."))
            kept.append(replace(u, devices=u.devices[:MAX_USER_RMRR_DEV]))
            dead.add(u.option)
            continue
        kept.append(u)
    return kept, findings


def user_rmrrs(user: tuple[UserRmrr, ...], registered: list[Rmrr], version: XenVersion,
               devices: tuple[PciFunction, ...] = (), topology_known: bool = False
               ) -> tuple[list[Rmrr], list[Finding]]:
    """add_user_rmrr: the `rmrr=` ranges Xen accepts (in command-line order) and its messages,
    after parse_limits. Xen prints ranges as page numbers."""
    findings: list[Finding] = []
    if not user:
        return [], findings
    if not XEN_USER_RMRR.in_effect(version):
        findings.append(_xen("warning", "rmrr-option-unsupported",
                             f"Xen {version} has no rmrr= option (added in {XEN_USER_RMRR.first}); "
                             f"the extra ranges are ignored."))
        return [], findings
    devmap = {f.sbdf: f for f in devices}
    out: list[Rmrr] = []
    user, findings = parse_limits(user, version)
    for u in user:
        rng = f"[{u.start_pfn:x}-{u.end_pfn:x}]"
        if u.start_pfn > u.end_pfn:
            findings.append(_xen("warning", "user-rmrr-invalid",
                                 f'"Invalid RMRR Range {rng}" (rmrr={u.text}): ignored.'))
            continue
        if _pages_apart(u) >= MAX_USER_RMRR_PAGES:
            findings.append(_xen("warning", "user-rmrr-too-large",
                                 f'"RMRR range {rng} exceeds {MAX_USER_RMRR_PAGES} pages" '
                                 f"(rmrr={u.text}): ignored."))
            continue
        base, last_page = u.start_pfn << 12, u.end_pfn << 12
        end = last_page | 0xFFF
        clash = next((r for r in registered + out if overlaps(base, last_page + 1, r.base, r.end + 1)), None)
        if clash is not None:
            findings.append(_xen("warning", "user-rmrr-overlap",
                                 f'"Overlapping RMRRs: {rng} and [{clash.base >> 12:x}-'
                                 f'{clash.end >> 12:x}]" (rmrr={u.text}): ignored.', base, end))
            continue
        if len({d.seg for d in u.devices}) > 1:
            findings.append(_xen("warning", "user-rmrr-segments",
                                 f'"Segments are not equal for RMRR range {rng}" '
                                 f"(rmrr={u.text}): ignored."))
            continue
        seg = u.devices[0].seg if u.devices else 0
        if (_segment_known(frozenset(d.seg for d in devmap), topology_known, seg, version)
                and not any(d in devmap for d in u.devices)):
            findings.append(_xen("warning", "rmrr-ignored",
                                 f'" Ignore RMRR [{base:x},{end:x}] as no device under its scope '
                                 f'is PCI discoverable!" (rmrr={u.text}).', base, end))
            continue
        out.append(Rmrr(base=base, end=end, segment=seg, devices=u.devices,
                        scope_count=len(u.devices), source=f"rmrr={u.text}"))
    return out, findings


def build_host(dmar: Dmar | None, desc: HostDescription | None = None, *,
               xen_version: XenVersion = NEWEST_XEN, user: tuple[UserRmrr, ...] = (),
               log_rmrrs: tuple[LogRmrr, ...] = (), source: str = "",
               facts: TableFacts | None = None) -> Host:
    """The Host Xen `xen_version` would build from this table, topology and e820. `facts`:
    table_facts(dmar, desc), shared by the hosts of every release a command models."""
    desc = desc or HostDescription()
    findings: list[Finding] = []
    firmware: tuple[Rmrr, ...] = ()
    vtd = True
    namespace: tuple = ()
    if dmar is not None:
        facts = facts or table_facts(dmar, desc)
        firmware, namespace = facts.firmware, facts.namespace
        findings.extend(facts.firmware_findings)
        registered, xen_findings, rejected = xen_parse_dmar(
            dmar, desc.devices, desc.topology_known, desc.e820, xen_version, facts)
        findings.extend(xen_findings)
        if rejected is not None:
            findings.append(rejected)
            vtd = False
    else:
        registered = []
        for r in log_rmrrs:
            registered.append(Rmrr(base=r.base, end=r.end, segment=r.devices[0].seg if r.devices
                                   else 0, devices=r.devices, scope_count=len(r.devices),
                                   source=r.source, unresolved=() if r.devices else
                                   ("devices not named in the boot log",)))
            if not r.devices:
                findings.append(Finding("warning", "log-rmrr-no-devices", "xen",
                                        f"RMRR [{hexa(r.base)}, {hexa(r.end)}] ({r.source}) comes "
                                        f"from a boot log that does not name its devices: Xen "
                                        f"knows them, so its all-host query (rdm "
                                        f"strategy=host) reports the range, but xlrmrr cannot "
                                        f"tell which device needs it or shares it; give the "
                                        f"DMAR table (--dmar) for per-device answers.",
                                        (r.base, r.end)))
        firmware = tuple(registered)
    for r in registered if dmar is not None else ():
        if r.unresolved:
            findings.append(Finding("warning", "scope-unresolved", "xen",
                                    f"RMRR [{hexa(r.base)}, {hexa(r.end)}] ({r.source}): "
                                    f"{len(r.unresolved)} of its {r.scope_count} scope entries "
                                    f"cannot be resolved ({r.unresolved[0]}"
                                    + (", ..." if len(r.unresolved) > 1 else "") +
                                    "). Xen resolves them at boot; xlrmrr cannot say which "
                                    "devices need this range, so sharing groups may be "
                                    "incomplete.", (r.base, r.end)))
    rmrrs: list[Rmrr] = []
    if vtd:
        extra, extra_findings = user_rmrrs(user, registered, xen_version, desc.devices,
                                           desc.topology_known)
        findings.extend(extra_findings)
        rmrrs = list(reversed(extra)) + list(reversed(registered))
    return Host(rmrrs=tuple(rmrrs), vtd_enabled=vtd, devices=desc.devices, e820=desc.e820,
                xen_version=desc.xen_version, findings=tuple(findings), firmware_rmrrs=firmware,
                topology_known=desc.topology_known, source=source, namespace_devices=namespace)
