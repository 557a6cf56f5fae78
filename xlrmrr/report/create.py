"""`xlrmrr create`'s text report: the headline, the RDMs, libxl's layout, the picture of the guest's
physical address space (report/picture.py), the devices, findings and fixes. The JSON object and
the --emit payloads are report/create_json.py's."""

from __future__ import annotations

from xlrmrr.common import E820_NAMES, FOUR_GB, hexa, size_str
from xlrmrr.releases import AMD_IVMD, PVH_ACPI_NVS, XEN_EXTRA_RMRR_OFF_BY_ONE
from xlrmrr.report import by_severity
from xlrmrr.report.create_json import rdm_fate
from xlrmrr.report.picture import picture

NOT_MODELLED = (f"not modelled: {AMD_IVMD.note}, {PVH_ACPI_NVS.note} and "
                f"{XEN_EXTRA_RMRR_OFF_BY_ONE.note}")


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
        for f in by_severity(shown):
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
                   for f in by_severity(problems))
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
