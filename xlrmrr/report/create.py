"""Reports for `xlrmrr create`: the JSON object, the text report with a picture of the guest's
physical address space, and the binary payload files of --emit."""

from __future__ import annotations

from xlrmrr.common import E820_NAMES, FOUR_GB, GB, MB, hexa, size_str
from xlrmrr.payloads import e820_bytes
from xlrmrr.releases import AMD_IVMD, PVH_ACPI_NVS, XEN_EXTRA_RMRR_OFF_BY_ONE

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
NOT_MODELLED = (f"not modelled: {AMD_IVMD.note}, {PVH_ACPI_NVS.note} and "
                f"{XEN_EXTRA_RMRR_OFF_BY_ONE.note}")


def rdm_fate(plan, r) -> str:
    """What happened to one RDM, in words."""
    lx = plan.libxl
    if r.conflict and r.policy == "strict":
        return "CONFLICT with guest RAM: creation fails (strict)"
    if r.conflict and r.exposed:
        return "overlaps guest RAM; not reached (libxl stopped at the strict conflict)"
    if r.conflict:
        return "dropped: guest RAM stays over it (relaxed)"
    if not r.exposed:
        return "not in the guest e820 (policy INVALID)"
    if r.relocated:
        return "reserved; lowmem_end moved below it"
    if r.start >= FOUR_GB:
        return "reserved (above 4 GiB, beyond guest RAM)"
    if r.start >= lx.mmio_start:
        return "reserved (in the MMIO hole)"
    return "reserved (outside guest RAM)"


def json_policy(policy: str) -> str:
    """An RDM's policy in the JSON schema ("strict" | "relaxed" | "invalid"). "unset", a value
    xl copied from uninitialised memory other than 0 or 1, is reported as "relaxed": that is how
    libxl's construct_rdm treats any policy that is not strict (a conflict only warns and drops
    the entry; otherwise it is exposed). requested_policy keeps "unset"."""
    return "relaxed" if policy == "unset" else policy


def _xl_only_json(plan) -> dict:
    """A config xl exits on: no layout exists, so the layout keys are null and the lists empty
    (the keys of to_json's object, in its order)."""
    return {
        "config": plan.domain.source, "guest": plan.domain.name,
        "xen_version": str(plan.xen_version), "verdict": plan.verdict,
        "exit_status": plan.exit_status, "semantics": plan.semantics, "stages": _stages(plan),
        "guest_type": plan.domain.type, "hap": None, "mem_size": None, "lowmem_end": None,
        "highmem_end": None, "mmio_start": None, "mmio_size": None, "lowmem_end_initial": None,
        "highmem_end_initial": None, "rdm_mem_boundary": None, "rdm_strategy": None,
        "rdm_policy": None, "rdms": [], "memory_map": [], "hvm_info": None,
        "populate_physmap": {"extents": [], "special_pages": [], "pod": False, "pages_4k": 0,
                             "extents_2m": 0, "extents_1g": 0},
        "e820": [], "findings": [f.to_json() for f in plan.findings], "remediation": [],
        "other_versions": [], "hvmloader": None, "xen_verdict": plan.xen_verdict,
        "hypervisor": None}


def _stages(plan) -> list[str]:
    """The components the plan reached, in the flow's order (a stage that stopped included)."""
    reached = (("libxl", plan.libxl), ("libxc", plan.libxc), ("xen", plan.hypervisor),
               ("hvmloader", plan.hvmloader))
    return ["xl"] + [name for name, result in reached if result is not None]


def to_json(plan) -> dict:
    if plan.libxl is None:
        return _xl_only_json(plan)
    lx = plan.libxl
    xc = plan.libxc
    info = None     # the plan never reached libxc
    if xc is not None:
        from xlrmrr.payloads import parse_hvm_info

        parsed = parse_hvm_info(xc.hvm_info)
        info = {k: parsed[k] for k in ("low_mem_pgend", "high_mem_pgend", "reserved_mem_pgstart",
                                       "nr_vcpus", "checksum")}
        info["apic_mode"] = parsed["apic_mode"]
        info["bytes"] = xc.hvm_info.hex()
    built = not lx.stopped      # a layout libxl computed (null where it stopped before)
    out = {
        "config": plan.domain.source,
        "guest": plan.domain.name,
        "xen_version": str(plan.xen_version),
        "verdict": plan.verdict,
        "exit_status": plan.exit_status,
        "semantics": plan.semantics,
        "stages": _stages(plan),
        "guest_type": lx.guest_type,
        "hap": lx.hap,
        "mem_size": lx.mem_size if built else None,
        "lowmem_end": lx.lowmem_end if built else None,
        "highmem_end": lx.highmem_end if built else None,
        "mmio_start": lx.mmio_start if built else None,
        "mmio_size": lx.mmio_size if built else None,
        "lowmem_end_initial": lx.lowmem_end_initial if built else None,
        "highmem_end_initial": lx.highmem_end_initial if built else None,
        "rdm_mem_boundary": lx.rdm_mem_boundary,
        "rdm_strategy": lx.strategy,
        "rdm_policy": lx.policy,
        "rdms": [{"start": r.start, "size": r.size, "policy": json_policy(r.policy),
                  "devices": [str(d) for d in (r.assigned or r.devices)],
                  "scope": [str(d) for d in r.devices], "assigned": [str(d) for d in r.assigned],
                  "requested_policy": r.requested_policy, "source": r.source,
                  "conflict": r.conflict, "relocated": r.relocated, "exposed": r.exposed,
                  "fate": rdm_fate(plan, r)} for r in lx.rdms],
        "memory_map": [e.to_json() for e in lx.memory_map],
        "hvm_info": info,
        "populate_physmap": {
            "extents": [e.to_json() for e in xc.extents] if xc else [],
            "special_pages": [e.to_json() for e in xc.special_pages] if xc else [],
            "pod": bool(xc and xc.pod),
            "pages_4k": xc.pages_4k if xc else 0,
            "extents_2m": xc.extents_2m if xc else 0,
            "extents_1g": xc.extents_1g if xc else 0,
        },
        "e820": [e.to_json() for e in plan.hvmloader.e820] if plan.hvmloader else [],
        "findings": [f.to_json() for f in plan.findings],
        "remediation": [r.to_json() for r in plan.remediation],
        "other_versions": [{"versions": d.band, "verdict": d.verdict,
                            "differences": list(d.differences)} for d in plan.version_deltas],
    }
    # Every key always present (null where the stage was not reached): a script reads the
    # same object shape for every outcome.
    out["hvmloader"] = None
    if plan.hvmloader:
        h = plan.hvmloader
        setup = h.bug != "memory_map_setup"     # pci_setup and the rest ran
        out["hvmloader"] = {
            "pci_mem_start": h.pci_mem_start if setup else None,
            "bios_base": h.bios_base if setup else None,
            "acpi_end": h.acpi_end if setup else None,
            "opregion": h.opregion,
            "bars": [{"device": b.device, "bar": b.index, "start": b.base, "size": b.size,
                      "high": b.high, "assumed": b.assumed} for b in h.bars]}
    out["xen_verdict"] = plan.xen_verdict
    out["hypervisor"] = plan.hypervisor.to_json() if plan.hypervisor is not None else None
    return out


def json_text(plan) -> str:
    from xlrmrr.report.document import dumps

    return dumps("create", to_json(plan), indent=2)


# ----------------------------------------------------------------------------------------------
# The picture: one character per slice of the address space, the most important content of the
# slice wins (RDM over MMIO over RAM over hole). Below each bar, a row marks lowmem_end (L),
# rdm_mem_boundary (B) and each RDM (1-9, in the table's order) in a column of its own, however
# small the RDM and however close the marks: marks nearer than a column apart are drawn in
# adjacent columns, in address order, and the slices between them are stretched or squeezed
# to fit (so the bar is to scale except next to such marks). A scale in GiB is above each bar.

LEGEND = (("#", "RAM"), ("R", "RDM in the guest e820"), ("!", "RDM dropped or in conflict: RAM over it"),
          ("m", "MMIO hole (BARs)"), ("f", "hvmloader reserved [0xfc000000, 4G)"), (".", "unused"))

# Mark kinds in the order they take columns when their addresses are equal.
MARK_ORDER = {"B": 0, "L": 1, "R": 2}
MAX_NUMBERED = 9        # RDMs beyond this many are all marked ^


def _regions(plan):
    lx = plan.libxl
    out = []    # (start, end, char, priority)
    for s, e in _ram(plan):
        out.append((s, e, "#", 1))
    if lx.guest_type == "hvm":
        h = plan.hvmloader
        pci_start = h.pci_mem_start if h and h.bug != "memory_map_setup" else lx.mmio_start
        out.append((pci_start, 0xFC000000, "m", 2))
        out.append((0xFC000000, FOUR_GB, "f", 2))
    else:
        out.append((lx.mmio_start, FOUR_GB, "m", 2))
    for r in lx.rdms:
        bad = r.conflict or not r.exposed
        out.append((r.start, r.end, "!" if bad else "R", 4 if bad else 3))
    return out


def _ram(plan):
    lx = plan.libxl
    if lx.guest_type != "hvm":
        ram = [(0, lx.lowmem_end)]
    elif lx.lowmem_end > 0x100000:
        ram = [(0, 0xA0000), (0x100000, lx.lowmem_end)]
    else:
        ram = [(0, 0xA0000)]
    if lx.highmem_end > FOUR_GB:
        ram.append((FOUR_GB, lx.highmem_end))
    return ram


def mark_columns(addrs: list[int], lo: int, hi: int, width: int) -> list[int]:
    """The column of each mark (addresses in [lo, hi], sorted): the column its address falls in,
    moved right just enough that no two marks share one (then left where that runs past the
    last column). A mark at hi itself sits on the bar's closing edge, column `width`. With more
    marks than columns, each keeps the column its address falls in."""
    ideal = [min(width, (a - lo) * width // (hi - lo)) for a in addrs]
    last = [width if a >= hi else width - 1 for a in addrs]
    if len(addrs) > width:
        return [min(c, m) for c, m in zip(ideal, last)]
    cols: list[int] = []
    for c in ideal:
        cols.append(max(c, cols[-1] + 1) if cols else c)
    limit = width
    for i in reversed(range(len(cols))):
        cols[i] = limit = min(cols[i], last[i], limit)
        limit -= 1
    return cols


def _cells(lo: int, hi: int, width: int, marks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The address slice [start, end) of each column: equal slices of [lo, hi), except that a
    marked column (column, address) starts at its mark's address (mark_columns keeps the
    slices in order)."""
    bounds = [lo + (hi - lo) * c // width for c in range(width + 1)]
    for c, a in marks:
        if c < width:
            bounds[c] = a
    return list(zip(bounds, bounds[1:]))


def _bar(regions, cells) -> str:
    out = []
    for s, e in cells:
        e = max(e, s + 1)       # a squeezed slice shows what is at its address
        best, pri = ".", 0
        for rs, re_, ch, p in regions:
            if rs < e and s < re_ and p > pri:
                best, pri = ch, p
        out.append(best)
    return "".join(out)


def _gib(address: int) -> str:
    return f"{address / GB:.2f}".rstrip("0").rstrip(".")


def _scale(lo: int, hi: int, cells, width: int) -> str:
    """The labels above a bar: whole GiB (every 2^k GiB where they would crowd), at the column
    where that address starts, and the end of the bar in GiB."""
    def col(a: int) -> int:
        return next((c for c, (s, _) in enumerate(cells) if s >= a), width)

    row = [" "] * (width + 8)
    end = f"{_gib(hi)} GiB"
    stop = width + 2 - len(end)          # where the end label starts (right-aligned on the |)
    step = GB
    while (hi - lo) // step * 6 > width:
        step *= 2
    free = 0
    for a in [lo, *range(lo // step * step + step, hi, step)]:
        text = _gib(a) + (" GiB" if a == lo else "")
        c = 0 if a == lo else col(a) + 1
        if c >= free and c + len(text) < stop - 1:
            row[c:c + len(text)] = text
            free = c + len(text) + 1
    row[stop:stop + len(end)] = end
    return "  " + "".join(row).rstrip()


def _one_bar(regions, lo: int, hi: int, marks, width: int, unit: str) -> list[str]:
    """A bar over [lo, hi): its scale, the bar and the row of marks (kind, address, symbol)."""
    # a line (not an RDM) at 4 GiB is drawn on the first bar's closing edge, not on the second
    inside = sorted((m for m in marks if lo < m[1] < hi or (m[1] == lo and (lo == 0 or m[0] == "R"))
                     or (m[1] == hi == FOUR_GB and m[0] != "R")),
                    key=lambda m: (m[1], MARK_ORDER[m[0]]))
    cols = mark_columns([m[1] for m in inside], lo, hi, width)
    crowded = len(inside) > width       # marks share columns: the slices stay equal
    cells = _cells(lo, hi, width, [] if crowded else [(c, m[1]) for m, c in zip(inside, cols)])
    row = [" "] * (width + 2)
    for m, c in zip(inside, cols):
        row[c + 1] = m[2]
    lines = [_scale(lo, hi, cells, width), f"  |{_bar(regions, cells)}|  1 column = {unit}"]
    if inside:
        lines.append("  " + "".join(row).rstrip())
    ideal = [min(width, (m[1] - lo) * width // (hi - lo)) for m in inside]
    return lines, cols != ideal and not crowded


def _wrap(items: list[str], width: int = 96) -> list[str]:
    """Legend items two spaces apart, on lines of at most `width` characters."""
    out = [""]
    for item in items:
        if out[-1] and len(out[-1]) + 2 + len(item) > width:
            out.append("")
        out[-1] += ("  " if out[-1] else "") + item
    return ["  " + line for line in out]


def picture(plan, width: int = 64) -> list[str]:
    lx = plan.libxl
    regions = _regions(plan)
    numbered = len(lx.rdms) <= MAX_NUMBERED
    marks = [("L", lx.lowmem_end, "L"), ("B", lx.rdm_mem_boundary, "B")]
    marks += [("R", r.start, str(i) if numbered else "^") for i, r in enumerate(lx.rdms, 1)]
    lines, moved = _one_bar(regions, 0, FOUR_GB, marks, width, size_str(FOUR_GB // width))
    end = FOUR_GB
    top = max([lx.highmem_end] + [r.end for r in lx.rdms])
    if top > FOUR_GB:
        span = top - FOUR_GB
        gran = GB if span >= GB else MB
        end = FOUR_GB + -(-span // gran) * gran
        unit = size_str((end - FOUR_GB) // width) if end - FOUR_GB >= width else "<1 B"
        more, moved_too = _one_bar(regions, FOUR_GB, end, marks, width, unit)
        lines += more
        moved = moved or moved_too
    off = " (beyond the picture)" if lx.rdm_mem_boundary > end else ""
    said = [f"L lowmem_end {hexa(lx.lowmem_end)}",
            f"B rdm_mem_boundary {hexa(lx.rdm_mem_boundary)}{off}"]
    if numbered:
        said += [f"{i} RDM {hexa(r.start)} ({size_str(r.size)})" for i, r in enumerate(lx.rdms, 1)]
    elif lx.rdms:
        said.append(f"^ each of the {len(lx.rdms)} RDMs in the table above")
    if moved:
        said.append("(marks under a column apart: adjacent columns, in address order)")
    lines += _wrap(said)
    lines.append("  " + "  ".join(f"{c} {what}" for c, what in LEGEND[:3]))
    lines.append("  " + "  ".join(f"{c} {what}" for c, what in LEGEND[3:]))
    return lines


def _table(rows, header) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  " + "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header).rstrip()] + [fmt.format(*r).rstrip() for r in rows]


def _layout_lines(plan, out: list, verbose: bool = True) -> None:
    """The layout libxl computes; verbose adds the payloads (populate_physmap, hvm_info,
    XENMEM_set_memory_map), which the admin needs only to compare with Xen's own logs."""
    lx = plan.libxl
    out.append("Layout (libxl)")
    out.append(f"  maxmem {lx.max_memkb // 1024} MiB, memory {lx.target_memkb // 1024} MiB, videoram "
               f"{lx.video_memkb // 1024} MiB -> mem_size {hexa(lx.mem_size)} ({size_str(lx.mem_size)})")
    out.append(f"  mmio hole [{hexa(lx.mmio_start)}, 4G) ({size_str(lx.mmio_size)})"
               + (f"; hvmloader pci_mem_start {hexa(plan.hvmloader.pci_mem_start)}"
                  if plan.hvmloader and plan.hvmloader.bug != "memory_map_setup" else ""))
    moved = lx.lowmem_end != lx.lowmem_end_initial
    out.append(f"  lowmem_end  {hexa(lx.lowmem_end)}"
               + (f" (was {hexa(lx.lowmem_end_initial)})" if moved else ""))
    out.append(f"  highmem_end {hexa(lx.highmem_end)}"
               + (f" (was {hexa(lx.highmem_end_initial)})"
                  if lx.highmem_end != lx.highmem_end_initial else "")
               + (" (no RAM above 4 GiB)" if lx.highmem_end <= FOUR_GB else ""))
    if plan.libxc is not None and verbose:
        xc = plan.libxc
        counted = " (counted from 0xc0, as libxc's summary does)" if lx.guest_type == "hvm" else ""
        out.append(f"  populate_physmap: {xc.pages_4k} x 4 KiB{counted}, "
                   f"{xc.extents_2m} x 2 MiB, {xc.extents_1g} x 1 GiB"
                   + (" (populate-on-demand)" if xc.pod else ""))
    if plan.libxc is not None and verbose:
        from xlrmrr.payloads import parse_hvm_info

        i = parse_hvm_info(plan.libxc.hvm_info)
        out.append(f"  hvm_info (0x9f800): low_mem_pgend {hexa(i['low_mem_pgend'])}, high_mem_pgend "
                   f"{hexa(i['high_mem_pgend'])}, reserved_mem_pgstart {hexa(i['reserved_mem_pgstart'])}, "
                   f"nr_vcpus {i['nr_vcpus']}, checksum {i['checksum']:#04x}")
    if lx.memory_map and verbose:
        out.append("")
        out.append("XENMEM_set_memory_map (libxl order)")
        out.extend(f"  {E820_NAMES.get(e.type, e.type):<8} [{hexa(e.addr)}, {hexa(e.addr + e.size)})"
                   for e in lx.memory_map)
    out.append("")


# Notes (info findings) the default report prints all the same: what the answer assumes or
# leaves out, which the admin must know to trust it.
QUALIFYING_NOTES = frozenset({"not-modelled", "device-presence-assumed", "bar-size-assumed"})


def _findings_lines(plan, out: list, verbose: bool = True) -> None:
    """Most severe first; without verbose the notes (info: device-class background, the release
    chosen, ...) are counted, not printed, except those that qualify the answer."""
    shown = [f for f in plan.findings
             if verbose or f.severity != "info" or f.code in QUALIFYING_NOTES]
    hidden = len(plan.findings) - len(shown)
    notes = f"{hidden} note{'s' if hidden != 1 else ''}"
    if shown:
        out.append("Findings")
        for f in sorted(shown, key=lambda f: SEVERITY_ORDER.get(f.severity, 3)):
            out.append(f"  {f.severity:<7} [{f.component}] {f.message}")
        if hidden:
            out.append(f"  (and {notes}: --verbose shows {'it' if hidden == 1 else 'them'})")
        out.append("")
    elif hidden:
        out.append(f"Findings: no error or warning ({notes}: --verbose shows "
                   f"{'it' if hidden == 1 else 'them'})")
        out.append("")


# How much a text report says (create --brief / default / --verbose).
BRIEF = "brief"          # the first line, the problems, the recommended fix
DEFAULT = "default"      # what an admin reads: the RMRRs, the layout, the picture, the devices
VERBOSE = "verbose"      # everything: payloads, BARs, e820, page tables, notes, every release


def text(plan, name: str = "", level: str = DEFAULT) -> str:
    """The report of `xlrmrr create --dry-run`. --verbose (VERBOSE) is the whole report; the
    default leaves out what only a Xen developer compares (the payloads, hvmloader's BAR table
    and e820 dump, the page-table narrative and pre-4.6 history, the notes, how each other
    release differs), saying where it is; BRIEF is brief_text."""
    if level == BRIEF:
        return brief_text(plan, name)
    verbose = level == VERBOSE
    lx = plan.libxl
    d = plan.domain
    out = [headline(plan, name)]
    if lx is None:
        out.append(f"modelled: Xen {plan.xen_version} (xl only): xl exits while reading the file, so "
                    f"libxl, libxc, the hypervisor and hvmloader never run and no layout exists")
        out.append("")
        _findings_lines(plan, out, verbose)
        return _lines(out)
    stages = ", ".join(n for n, r in (("libxl", lx), ("libxc", plan.libxc), ("hypervisor", plan.hypervisor),
                                      ("hvmloader", plan.hvmloader)) if r is not None)
    guest = (f"{d.type.upper()} guest, {'HAP' if lx.hap else 'shadow paging'}"
             + (f", firmware {d.bios}" if d.type == "hvm" else "") if d.type != "pv" else "PV guest")
    out.append(f"modelled: Xen {plan.xen_version} ({stages}); {guest}"
               + ("; rdm_forcecheck: the original design's semantics" if plan.semantics == "design" else ""))
    if plan.launch:
        out.append(plan.launch)
    elif plan.xen_verdict is not None:
        out.append(f"Xen itself (rdm_forcecheck ignored by xl): {plan.xen_verdict}")
    out.append("")
    if lx.stopped:
        _stopped_lines(plan, out, name, verbose)
        return _lines(out)
    out.append(f"Reserved device memory (strategy {lx.strategy}, global policy {lx.policy}, "
               f"rdm_mem_boundary {hexa(lx.rdm_mem_boundary)})")
    if lx.rdms:
        rows = []
        for r in lx.rdms:
            devs = ", ".join(str(s) + ("*" if s in r.assigned else "") for s in r.devices) or \
                ", ".join(str(s) + "*" for s in r.assigned) or "?"
            rows.append((hexa(r.start), hexa(r.end - 1), size_str(r.size), devs, r.requested_policy,
                         rdm_fate(plan, r)))
        out.extend(_table(rows, ("start", "end", "size", "devices (*: assigned)", "policy", "fate")))
    elif lx.guest_type == "pv":
        out.append("  none: libxl selects no reserved device memory for a PV guest")
    else:
        out.append("  none: " + ("strategy ignore and no pci= devices" if not lx.construct_rdm_ran
                                 else "no RMRR applies to this guest"))
    out.append("")
    if lx.guest_type == "pv":
        out.append(f"Layout: PV guest, maxmem {lx.max_memkb // 1024} MiB; libxl builds no guest-physical "
                   f"memory map for it")
        out.append("")
    else:
        _layout_lines(plan, out, verbose)
    if d.type != "pv":
        out.append("Guest physical address space")
        out.extend(picture(plan))
        out.append("")
    if plan.hvmloader is not None and plan.hvmloader.bug == "memory_map_setup":
        out.append("hvmloader: stopped in memory_map_setup (BUG()): it places no BAR and builds no "
                   "e820; the guest never gets past hvmloader")
        out.append("")
    elif plan.hvmloader is not None and not verbose:
        if plan.hvmloader.bug:
            out.append("Guest e820: none: hvmloader stopped in build_e820_table "
                       "(BUG_ON(low_mem_end < 2 MiB)) before the table existed")
            out.append("")
    elif plan.hvmloader is not None:
        h = plan.hvmloader
        out.append(f"MMIO BARs (hvmloader pci_setup, largest first; pci_mem_start {hexa(h.pci_mem_start)})")
        rows = [(b.device, f"{b.index}", size_str(b.size),
                 "no space" if b.base is None else hexa(b.base),
                 ("above 4 GiB" if b.high else "") + (" (size assumed)" if b.assumed else ""))
                for b in h.bars]
        out.extend(_table(rows, ("device", "bar", "size", "base", "")))
        if h.opregion is not None:
            out.append(f"  IGD OpRegion: NVS [{hexa(h.opregion)}, {hexa(h.opregion + 0x3000)})")
        out.append("")
        if h.bug:
            out.append("Guest e820: none: hvmloader stopped in build_e820_table "
                       "(BUG_ON(low_mem_end < 2 MiB)) before the table existed")
        else:
            out.append("Guest e820 (hvmloader)")
            out.extend("  " + line for line in h.dump().splitlines())
        out.append("")
    if plan.hypervisor is not None:
        from xlrmrr.report.hypervisor import text_lines
        out.extend(text_lines(plan.hypervisor, detail=verbose))
        out.append("")
    _findings_lines(plan, out, verbose)
    _remediation_lines(plan, out, name)
    _other_releases_lines(plan, out, verbose)
    if not verbose:
        out.append("(--verbose adds the payloads, hvmloader's BARs and e820, the page tables, "
                   "the notes and how each other Xen release differs)")
        out.append("")
    return _lines(out)


def brief_text(plan, name: str = "") -> str:
    """create --brief: the first line, the problems (errors and warnings) and the recommended
    fix with why; nothing else."""
    from xlrmrr.remedies.rank import why_line

    out = [headline(plan, name)]
    problems = [f for f in plan.findings if f.severity in ("error", "warning")]
    if problems:
        out.append("Problems")
        out.extend(f"  {f.severity:<7} [{f.component}] {f.message}"
                   for f in sorted(problems, key=lambda f: SEVERITY_ORDER.get(f.severity, 3)))
    fix = next((r for r in plan.remediation if r.recommended), None)
    if fix is not None:
        out.append(f"Recommended fix: {fix.change}")
        out.append(f"  why: {why_line(fix)}")
        if plan.options.reread is not None:
            cfg = name or plan.domain.source or "GUEST.cfg"
            out.append(f"  `xlrmrr create {cfg} --dry-run --fix` prints it as a diff of {cfg}")
    elif plan.remediation:
        out.append("Recommended fix: none verified (`xlrmrr create --dry-run` lists what was "
                   "tried)")
    return _lines(out) + "\n"


MAX_CAUSES = 2       # degraded: the reasons the first line names before "and N more"


def headline(plan, name: str = "") -> str:
    """The report's first line: the outcome and its real cause (Plan.causes, from the stages'
    facts), the exit status, and a misspelt key that changes what the guest gets."""
    d, lx, h = plan.domain, plan.libxl, plan.hvmloader
    causes = plan.causes
    if plan.verdict == "ok":
        if d.pci:
            head = "OK: the guest can be created and every assigned device gets all its RMRRs"
        elif lx is None or not lx.rdms:
            head = ("OK: the guest can be created; it passes no PCI device through, so no RMRR "
                    "applies")
        else:
            head = ("OK: the guest can be created; it passes no PCI device through (rdm= "
                    "reserves the host RMRRs listed below)")
    elif plan.verdict == "blocked" and h is not None and h.bug and (
            plan.hypervisor is None or not plan.hypervisor.blocked):
        head = f"BLOCKED: xl create succeeds, but the guest never boots: hvmloader stops (BUG) in {h.bug}"
    elif plan.verdict == "blocked":
        head = "BLOCKED: creating this guest would fail" + (f": {causes[0].text}" if causes else "")
    elif plan.verdict == "degraded":
        more = len(causes) - MAX_CAUSES
        head = ("DEGRADED: the guest starts, but " + "; ".join(c.text for c in causes[:MAX_CAUSES])
                + (f" (and {more} more: see the findings)" if more > 0 else "")
                if causes else "DEGRADED: the guest starts, but an assigned device's RMRR is "
                               "not honoured")
    else:
        head = ("UNKNOWN: the host data does not say which RMRRs this host has, so whether the "
                "guest's devices get theirs cannot be told")
    if plan.semantics == "design":       # rdm_forcecheck: the verdict is the launch's
        word, _, rest = head.partition(": ")
        head = (f"{word}: under rdm_forcecheck = {plan.rdm_forcecheck}, as `xlrmrr create` "
                f"launches it, {rest}")
    line = f"{name or d.name or 'guest'}: {head} (exit {plan.exit_status})" + _reading(plan)
    typos = [f for f in plan.findings if f.code == "key-typo" and f.severity == "warning"]
    if typos:
        line += f"; but {typos[0].message}" + (f" (and {len(typos) - 1} more misspelt key"
                                                f"{'s' if len(typos) > 2 else ''})"
                                                if len(typos) > 1 else "")
    return line


def _reading(plan) -> str:
    """When the verdict rests on a policy xl leaves uninitialised (driver._run plans each
    reading and keeps the worst), the first line says so, with the verdicts of the readings."""
    import re

    for f in plan.findings:
        if f.code != "rdm-policy-uninitialised":
            continue
        m = re.search(r"the verdict is (\w+); as 1 \(relaxed\) (\w+); as any other value "
                      r"\(.*?\) (\w+)", f.message)
        if m and len(set(m.groups())) > 1:
            return (f"; but xl leaves the RDM policy uninitialised, so this is its worst reading "
                    f"(as strict: {m[1]}, relaxed: {m[2]}, any other value: {m[3]}; see the "
                    f"findings)")
    return ""


def _stopped_lines(plan, out: list, name: str = "", verbose: bool = True) -> None:
    """A guest libxl built no layout for: what stopped it instead of the layout sections."""
    lx = plan.libxl
    if lx.stopped == "setdefault":
        out.append("Layout: none. libxl refused the config in its setdefault checks "
                   "(libxl__domain_config_setdefault; initiate_domain_create before 4.13), before "
                   "libxl__build_hvm: no reserved-device-memory check, no memory map, no guest")
    else:
        out.append(f"Layout: not modelled (maxmem {lx.max_memkb // 1024} MiB, memory "
                   f"{lx.target_memkb // 1024} MiB, videoram {lx.video_memkb // 1024} MiB): see "
                   f"the findings")
    out.append("")
    _findings_lines(plan, out, verbose)
    _remediation_lines(plan, out, name)
    _other_releases_lines(plan, out, verbose)
    if not verbose:
        out.append("(--verbose adds the notes and how each other Xen release differs)")
        out.append("")


def _remediation_lines(plan, out: list, name: str = "") -> None:
    if plan.remediation:
        out.extend(remediation_lines(plan.remediation))
        if plan.options.reread is not None and any(r.recommended for r in plan.remediation):
            cfg = name or plan.domain.source or "GUEST.cfg"
            out.append(f"  `xlrmrr create {cfg} --dry-run --fix` prints the recommended change as a "
                       f"diff of {cfg}; --fix --write saves it as {cfg}.new")
        out.append("")


def _other_releases_lines(plan, out: list, verbose: bool = True) -> None:
    """How every other release band treats the guest; without verbose one line naming the
    bands that differ (with their verdict where it is not this one's)."""
    if plan.version_deltas and not verbose:
        bands = "; ".join(v.band + (f" ({v.verdict})" if v.verdict != plan.verdict else "")
                          for v in plan.version_deltas)
        out.append(f"Other Xen releases that differ: {bands}")
        out.append("")
        return
    if not verbose:
        if plan.options.compare_versions:
            out.append("Other Xen releases (4.6 to 4.22): same outcome")
            out.append("")
        return
    if plan.version_deltas:
        out.append("Other Xen releases")
        for v in plan.version_deltas:
            out.append(f"  Xen {v.band}: " + "; ".join(v.differences))
    elif plan.options.compare_versions:
        out.append("Other Xen releases (4.6 to 4.22): same outcome")
    if plan.options.compare_versions:
        out.append(f"  {NOT_MODELLED}")
        out.append("")


def remediation_lines(remediation) -> list[str]:
    """The proposals best first (remedies.rank), the recommended one with its why."""
    from xlrmrr.remedies.rank import why_line

    out = ["Remediation (each change re-planned by xlrmrr; best first)"]
    for r in remediation:
        tag = "recommended" if r.recommended else "verified" if r.verified else "not verified"
        out.append(f"  [{tag}] {r.change}")
        if r.recommended:
            out.append(f"      why: {why_line(r)}")
        out.append(f"      {r.result}")
    return out


def _lines(out: list) -> str:
    """The report's lines, each made terminal-safe as cfg's are: text from the config (a pci=
    value, an rdm= line) can carry control bytes, even a line break."""
    from xlrmrr.report import escape

    return "\n".join(map(escape, out))


def payload_files(plan) -> dict[str, bytes]:
    """The --emit files: name -> bytes; only the payloads the flow reaches (a plan blocked in
    libxl has no memory map, hvm_info or e820; one whose hvmloader BUG()s has no e820)."""
    files = {"plan.json": json_text(plan).encode()}
    if plan.hvm_info is not None:
        files["hvm_info.bin"] = plan.hvm_info
    if plan.libxl is not None and plan.libxl.memory_map:
        files["memory_map.bin"] = e820_bytes(plan.libxl.memory_map)
    if plan.hvmloader is not None and not plan.hvmloader.bug:     # no e820 after a BUG()
        files["e820.bin"] = e820_bytes(plan.hvmloader.e820)
    return files
