"""The proposals for `xlrmrr create`: one small function per kind of change, each an edit of the
DomainConfig (remedies.edits) and the config lines that make it (Edit), verified by planning
again (Trial), ranked by remedies.rank. Proposals are computed from the binding (lowest) RDM of a
kind, so the number of re-plans does not grow with the RDMs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from xlrmrr.common import FOUR_GB, MB, XenVersion, hexa
from xlrmrr.records import record
from xlrmrr.releases import XL_RDM_POLICY_INVERTED
from xlrmrr.remedies import Edit, Remediation, edits, rank
from xlrmrr.remedies.risk import device_class_risk
from xlrmrr.xlcfg.domain import (
    POLICY_RELAXED,
    POLICY_STRICT,
    STRATEGY_HOST,
    DomainConfig,
    PciDevice,
    RdmReserve,
)


@record(eq=False)
class Trial:
    """What every proposal is judged against: the plan to improve and how to plan again."""

    base: object            # the driver's Plan
    host: object
    version: XenVersion
    options: object         # driver.Options
    replan: Callable        # driver.plan, handed in: the remedies do not import the driver

    def attempt(self, change: str, domain: DomainConfig, extra: str = "", edits=(),
                tier: int = rank.FIX_MISTAKE, why: str = ""):
        """(Remediation, Plan or None when it could not be planned) for the changed config.
        Where the CLI gave the file's text (Options.reread), the plan is of the file with the
        edits applied, as xl reads it (a policy xl leaves undefined planned at its worst
        reading, as for any config); else of the DomainConfig edit."""
        from xlrmrr.common import InputError

        quiet = replace(self.options, remediate=False, compare_versions=False)
        made = dict(edits=tuple(edits), tier=tier, why=why)
        try:
            if self.options.reread is not None and edits:
                domain, xen_domain = self.options.reread(tuple(edits))
                quiet = replace(quiet, xen_domain=xen_domain)
            p = self.replan(domain, self.host, self.version, quiet)
        except InputError as e:
            return Remediation(change, False, f"not checked: xl refuses the changed file: {e}",
                               **made), None
        except (ValueError, ArithmeticError) as e:
            return Remediation(change, False, f"not checked: {e}", **made), None
        return replace(judge(change, p, self.base, extra), **made), p

    def check(self, change: str, domain: DomainConfig, extra: str = "", edits=(),
              tier: int = rank.FIX_MISTAKE, why: str = "") -> Remediation:
        return self.attempt(change, domain, extra, edits, tier, why)[0]


def judge(change: str, p, base, extra: str) -> Remediation:
    """Verified when the re-plan is OK or better than the plan it is to improve."""
    from xlrmrr.verdicts import RANK, VERDICT_OK

    lx = p.libxl
    if lx is None:
        return Remediation(change, False, "checked, does not help: xl refuses the changed config"
                           + extra, p.verdict)
    high = f"highmem_end {hexa(lx.highmem_end)}" if lx.highmem_end else "no RAM above 4 GiB"
    desc = (f"verdict {p.verdict}; lowmem_end {hexa(lx.lowmem_end)}, {high}, "
            f"{len(lx.exposed_rdms)} of {len(lx.rdms)} RDMs in the guest e820")
    if p.verdict == VERDICT_OK:
        return Remediation(change, True, "verified: " + desc + extra, p.verdict)
    if RANK[p.verdict] < RANK[base.verdict]:
        return Remediation(change, True, "verified, partial: " + desc + extra, p.verdict)
    return Remediation(change, False, "checked, does not help: " + desc + extra, p.verdict)


def _names(sbdfs) -> str:
    return ", ".join(str(s) for s in sbdfs)


def _conflicts(t: Trial):
    return [r for r in t.base.libxl.rdms if r.conflict]


def _mib(kb: int | None) -> int:
    return (kb or 0) // 1024


def _memory(domain: DomainConfig, mb: int) -> tuple[str, tuple[Edit, ...]]:
    """The change text and config lines that give the guest mb MiB: memory = maxmem = mb
    (maxmem written only where the file sets it: left out, it follows memory)."""
    if domain.max_memkb is not None and domain.max_memkb != domain.target_memkb:
        return f"memory = {mb} and maxmem = {mb}", (Edit("memory", str(mb)), Edit("maxmem", str(mb)))
    return (f"memory = {mb} (and maxmem = {mb} if the file sets maxmem)",
            (Edit("memory", str(mb)), Edit("maxmem", str(mb), if_set=True)))


def _shrink_why(domain: DomainConfig, mb: int) -> str:
    return (f"gives the guest less memory ({_mib(domain.max_memkb or domain.target_memkb)} -> "
            f"{mb} MiB)")


def pci_value(entries) -> str:
    """A pci= list as one config line, each entry quoted as xl reads it back."""
    from xlrmrr.integration.xl import quote

    return "[ " + ", ".join(quote(d.spec) for d in entries) + " ]"


def _pci_edit(entries) -> tuple[Edit, ...]:
    return (Edit("pci", pci_value(entries)),)


def _pci_change(entries, note: str) -> str:
    return f"pci = [ {', '.join(repr_spec(d.spec) for d in entries)} ] ({note})"


def repr_spec(spec: str) -> str:
    return f"'{spec}'"


def is_igd(host, sbdf) -> bool:
    """An Intel integrated graphics device, whose RMRR (stolen memory, the GTT) is never
    relaxed: by class, or, without the device's class, by the address Xen itself takes for the
    IGD, 0000:00:02.0 (xen/drivers/passthrough/vtd/dmar.c:acpi_parse_one_drhd, igd_drhd_address)."""
    from xlrmrr import devices as dc

    cls = dc.classify_sbdf(host, sbdf)
    if cls.kind == dc.KIND_IGD:
        return True
    return cls.kind == dc.KIND_UNKNOWN and (sbdf.seg, sbdf.bus, sbdf.dev, sbdf.fn) == (0, 0, 2, 0)


def duplicates(t: Trial, domain, original):
    """Each device's first pci= entry only (a second one fails assignment with -EBUSY)."""
    from xlrmrr.pci_entries import duplicate_pci, first_entries

    dups = duplicate_pci(domain)
    if dups:
        kept = first_entries(domain)
        specs = ", ".join(f"'{d.spec}'" for d in kept.pci)
        yield t.check(f"pci = [ {specs} ] (the duplicate entr{'y' if len(dups) == 1 else 'ies'} removed)",
                      kept, edits=_pci_edit(kept.pci), tier=rank.FIX_MISTAKE,
                      why="removes only the duplicate pci= entry; nothing else changes")


def typos(t: Trial, domain, original):
    """A key xl does not know, one edit from a key it does (`memroy = 8192`): renamed in place,
    its value kept. Verified on the file as xl reads it after the rename (Options.reread)."""
    if t.options.reread is None:
        return
    for key, meant, value in t.options.typos:
        shown = value if len(value) <= 60 else value[:57] + "..."
        yield t.check(f"{meant} = {shown} (the line `{key} = ...' renamed: xl does not know "
                      f"{key})", domain, edits=(Edit(key, None), Edit(meant, value)),
                      tier=rank.FIX_MISTAKE,
                      why=f"renames the misspelt {key} to {meant}, so that xl reads the value "
                          f"the file gives; nothing else changes")


def no_pod(t: Trial, domain, original):
    """memory = maxmem: populate-on-demand and passthrough exclude each other."""
    lx = t.base.libxl
    if lx.pod and domain.pci:
        mb = lx.max_memkb // 1024
        yield t.check(f"memory = {mb} (equal to maxmem: no populate-on-demand with "
                      f"passthrough)", edits.target_memory(domain, lx.max_memkb),
                      edits=(Edit("memory", str(mb)),), tier=rank.FIX_MISTAKE,
                      why=f"the guest starts with its maxmem ({mb} MiB) instead of ballooning up "
                          f"to it: libxl refuses populate-on-demand with passthrough")


def _low(t: Trial):
    lx = t.base.libxl
    low = [r for r in _conflicts(t)
           if r.start < FOUR_GB and r.start < lx.lowmem_end_initial and r.start >= 16 * MB]
    return min(r.start for r in low) if low else None


def _keeps(domain: DomainConfig, how: str) -> str:
    return (f"keeps the guest's {_mib(domain.target_memkb or domain.max_memkb)} MiB and every "
            f"assigned device's RMRR mapped 1:1 (strict): {how}")


def boundary(t: Trial, domain, original):
    """rdm_mem_boundary below the lowest conflicting RDM under 4 GiB: libxl then moves lowmem_end
    below it instead of failing."""
    m = _low(t)
    if m is not None:
        mb = (m - 1) // MB
        yield t.check(f"rdm_mem_boundary = {mb}", edits.rdm_mem_boundary(domain, mb),
                      f" (RDMs above {mb} MiB move lowmem_end below them instead of failing)",
                      edits=(Edit("rdm_mem_boundary", str(mb)),), tier=rank.KEEP_MEMORY,
                      why=_keeps(domain, f"libxl moves lowmem_end below the RDM at {hexa(m)} and "
                                         f"the RAM above it to beyond 4 GiB"))


def memory_below_low(t: Trial, domain, original):
    """Guest RAM that ends below the lowest conflicting RDM under 4 GiB."""
    m = _low(t)
    if m is not None:
        mb = m // MB + t.base.libxl.video_memkb // 1024
        change, lines = _memory(domain, mb)
        yield t.check(change, edits.memory(domain, mb * 1024),
                      f" (guest RAM then ends below the RDM at {hexa(m)})",
                      edits=lines, tier=rank.SHRINK, why=_shrink_why(domain, mb))


def mmio_hole(t: Trial, domain, original):
    """An MMIO hole that starts below the lowest conflicting RDM under 4 GiB."""
    m = _low(t)
    if m is not None and domain.type == "hvm":
        hole = -(-(FOUR_GB - m) // MB)
        if 256 <= hole <= 3840:
            yield t.check(f"mmio_hole = {hole}", edits.mmio_hole(domain, hole),
                          f" (low RAM ends at {hexa(FOUR_GB - hole * MB)}, below the RDM)",
                          edits=(Edit("mmio_hole", str(hole)),), tier=rank.KEEP_MEMORY,
                          why=_keeps(domain, f"a {hole} MiB MMIO hole ends low RAM below the RDM "
                                             f"at {hexa(m)}; the rest goes above 4 GiB"))


def _high_bar_room(p, rdm_start: int) -> int | None:
    """Where highmem must end so that the BARs hvmloader places above it, largest first and each
    aligned to its size, end at or below rdm_start; None when no 64-bit BAR lands on an RDM."""
    if p is None or p.hvmloader is None or not any(
            o.code == "bar64-over-rdm" for o in p.hvmloader.rdm_overlaps):
        return None
    sizes = [b.size for b in p.hvmloader.bars if b.high and b.base is not None]
    if not sizes:
        return None
    room = (rdm_start - sum(sizes)) & ~(max(sizes) - 1)
    return room if room > FOUR_GB else None


def memory_below_high(t: Trial, domain, original):
    """Highmem that ends below the lowest conflicting RDM above 4 GiB (libxl never relocates
    around those), and low enough that hvmloader's 64-bit BARs fit below it too."""
    high = [r for r in _conflicts(t) if r.start >= FOUR_GB]
    if not high:
        return
    lx = t.base.libxl
    video_mb = lx.video_memkb // 1024
    m = min(r.start for r in high)
    mb = (m - FOUR_GB + lx.lowmem_end) // MB + video_mb
    why = f" (highmem then ends below the RDM at {hexa(m)}; libxl never relocates around RDMs above 4 GiB"
    change, lines = _memory(domain, mb)
    rem, p = t.attempt(change, edits.memory(domain, mb * 1024), why + ")", lines, rank.SHRINK,
                       _shrink_why(domain, mb))
    room = _high_bar_room(p, m)
    if room is not None:
        # hvmloader puts 64-bit BARs from highmem_end upwards without avoiding RDMs
        # (tools/firmware/hvmloader/pci.c:pci_setup): end highmem low enough that they fit too.
        mb = (room - FOUR_GB + p.libxl.lowmem_end) // MB + video_mb
        change, lines = _memory(domain, mb)
        rem = t.check(change, edits.memory(domain, mb * 1024),
                      why + f", and hvmloader's 64-bit BARs, placed from highmem_end upwards "
                      f"without avoiding RDMs, end at or below {hexa(m)} too)",
                      edits=lines, tier=rank.SHRINK, why=_shrink_why(domain, mb))
    yield rem


def relax(t: Trial, domain, original):
    """rdm_policy=relaxed on the assigned devices whose RMRRs conflict, with the risk by class;
    never on an IGD (its stolen memory must stay 1:1: remedies.rank)."""
    devs = {s for r in _conflicts(t) for s in r.assigned}
    devs = {d.sbdf for d in domain.pci if d.sbdf in devs and d.rdm_policy != POLICY_RELAXED
            and not is_igd(t.host, d.sbdf)}
    if devs:
        changed = edits.device_policy(domain, devs, POLICY_RELAXED)
        names = sorted(devs)
        yield t.check(_pci_change(changed.pci, "rdm_policy=relaxed"), changed,
                      f"; risk: {device_class_risk(t.host, names)}",
                      edits=_pci_edit(changed.pci), tier=rank.RELAX_OWN,
                      why=f"relaxes the RMRR of {_names(names)}: the device's DMA to it lands "
                          f"in guest RAM (see the risk)")


def whole_group(t: Trial, domain, original):
    """Every RMRR sharing group the guest takes part of, assigned whole with rdm_policy=relaxed
    on each member: Xen assigns a device with a shared RMRR only relaxed
    (xen/drivers/passthrough/vtd/iommu.c:intel_iommu_assign_device), and only a whole group
    keeps another domain off the range. One pci= line for every group; none with an IGD."""
    from xlrmrr.host.groups import group_uses, sharing_groups
    from xlrmrr.hypervisor.assignment import guest_functions
    from xlrmrr.libxl.create import effective_policy

    if not t.host.vtd_enabled or not domain.pci:
        return
    here = set(guest_functions(domain, t.host))
    uses = group_uses(sharing_groups(t.host), here)
    by_sbdf = {}
    for d in domain.pci:
        if d.sbdf is not None:
            by_sbdf.setdefault(d.sbdf, d)
    todo = []
    for use in uses:
        strict = [m for m in use.here if m in by_sbdf and effective_policy(by_sbdf[m]) != POLICY_RELAXED]
        if use.elsewhere or strict:
            todo.append(use)
    if not todo or any(is_igd(t.host, m) for u in todo for m in u.group.assignable):
        return
    members = {m for u in todo for m in u.group.assignable}
    pci = [replace(d, rdm_policy=POLICY_RELAXED, spec=_with_policy(d.spec, POLICY_RELAXED))
           if d.sbdf in members and d.rdm_policy != POLICY_RELAXED else d for d in domain.pci]
    added = sorted(m for u in todo for m in u.elsewhere)
    pci += [PciDevice(f"{_short(m)},rdm_policy={POLICY_RELAXED}", m, rdm_policy=POLICY_RELAXED)
            for m in added]
    changed = replace(domain, pci=tuple(pci))
    groups = "; ".join("{" + _names(u.group.assignable) + "}" for u in todo)
    change = _pci_change(pci, "the whole RMRR sharing group, rdm_policy=relaxed")
    extra = (f" (group {groups} assigned whole: no other domain shares the range); risk: "
             f"{device_class_risk(t.host, sorted(members))}")
    why = (f"assigns the whole RMRR sharing group {groups} to this guest with rdm_policy=relaxed, "
           f"the only way Xen assigns a device whose RMRR is shared"
           + (f" (adds {', '.join(_short(m) for m in added)} to pci=)" if added else ""))
    yield t.check(change, changed, extra, edits=_pci_edit(pci), tier=rank.RELAX_OWN, why=why)
    m = _low(t)
    if m is not None:
        # The group's range (or another RDM) also lies in low guest RAM: relaxed leaves RAM
        # over it (degraded). rdm_mem_boundary below it as well moves lowmem_end under it.
        mb = (m - 1) // MB
        yield t.check(f"{change} and rdm_mem_boundary = {mb}",
                      edits.rdm_mem_boundary(changed, mb), extra + f"; RDMs above {mb} MiB move "
                      f"lowmem_end below them", edits=_pci_edit(pci) + (Edit("rdm_mem_boundary", str(mb)),),
                      tier=rank.RELAX_OWN, why=why + f", and rdm_mem_boundary = {mb} moves "
                      f"lowmem_end below the RDM at {hexa(m)}, so every RMRR stays mapped 1:1")


def _short(sbdf) -> str:
    """An SBDF as a pci= entry writes it: BB:DD.F on segment 0, SSSS:BB:DD.F otherwise."""
    text = str(sbdf)
    return text[5:] if sbdf.seg == 0 else text


def _with_policy(spec: str, policy: str) -> str:
    from xlrmrr.integration.xl import _with_policy as with_policy

    return with_policy(spec, policy)


def _dropped(t: Trial, domain):
    """(RDMs left out without a conflict, assigned RMRR starts libxl never selected)."""
    from xlrmrr.hypervisor.assignment import assigned_rmrr_starts
    from xlrmrr.verdicts import VERDICT_BLOCKED

    if domain.type != "hvm" or t.base.verdict == VERDICT_BLOCKED:
        return [], set()
    lx = t.base.libxl
    unexposed = [r for r in lx.rdms if r.assigned and not r.exposed and not r.conflict]
    missing = assigned_rmrr_starts(domain, t.host) - {r.start for r in lx.rdms}
    return unexposed, missing


def _dropped_where(unexposed, missing) -> str:
    return ", ".join(hexa(a) for a in sorted({r.start for r in unexposed} | missing)[:4])


def explicit_strict(t: Trial, domain, original):
    """RMRRs of assigned devices silently left out of the guest map without a conflict (a
    per-device policy left INVALID before 4.14, or an RMRR libxl never selected): an explicit
    strict policy puts them in the map."""
    unexposed, missing = _dropped(t, domain)
    if not unexposed and not missing:
        return
    owners = {s for r in unexposed for s in r.assigned}
    owners |= {s for rm in t.host.rmrrs if rm.start_pfn << 12 in missing for s in rm.devices}
    targets = [d for d in domain.pci if d.sbdf in owners and d.rdm_policy != POLICY_STRICT]
    if targets:
        changed = edits.entries_policy(domain, targets, POLICY_STRICT)
        yield t.check(_pci_change(changed.pci, "explicit rdm_policy=strict"), changed,
                      f" (Xen {t.version} left the RMRR(s) at {_dropped_where(unexposed, missing)} out "
                      f"of the guest e820; an explicit strict policy reserves them, or fails creation "
                      f"if guest RAM is there)",
                      edits=_pci_edit(changed.pci), tier=rank.FIX_MISTAKE,
                      why="writes the strict policy libxl meant as the default; nothing else "
                          "changes")


def host_strict(t: Trial, domain, original):
    """strategy=host with an explicit policy (xl reads it up to 4.14) reserves the RMRRs libxl
    never selected."""
    unexposed, missing = _dropped(t, domain)
    if missing and not XL_RDM_POLICY_INVERTED.in_effect(t.version):
        yield t.check('rdm = "strategy=host,policy=strict"',
                      edits.rdm(domain, RdmReserve(STRATEGY_HOST, POLICY_STRICT)),
                      f" (libxl never selected the RMRR(s) at {_dropped_where(unexposed, missing)}; "
                      f"strategy=host reserves every host RMRR)",
                      edits=(Edit("rdm", '"strategy=host,policy=strict"'),), tier=rank.KEEP_MEMORY,
                      why=_keeps(domain, "strategy=host reserves every host RMRR, the ones libxl "
                                         "missed included"))


def _orphans(t: Trial):
    return [r for r in _conflicts(t) if not r.assigned and r.requested_policy == POLICY_STRICT]


def host_relaxed(t: Trial, domain, original):
    """A conflicting RMRR of no assigned device under strategy=host: relaxed drops it."""
    orphans = _orphans(t)
    if not orphans or t.base.libxl.strategy != STRATEGY_HOST:
        return
    if t.base.semantics == "design" and original.rdm_forcecheck:
        return          # rdm_forcecheck = 1 decides the strategy whatever rdm= says
    old = not XL_RDM_POLICY_INVERTED.in_effect(t.version)
    change = ('rdm = "strategy=host,policy=relaxed"' if old
              else 'drop the rdm= line (Xen 4.15+ xl ignores any rdm= with a valid policy)')
    reserve = RdmReserve(STRATEGY_HOST, POLICY_RELAXED) if old else RdmReserve()
    line = Edit("rdm", '"strategy=host,policy=relaxed"' if old else None)
    yield t.check(change, edits.rdm(domain, reserve),
                  f"; the RMRR at {hexa(orphans[0].start)} belongs to no assigned device "
                  f"({_names(orphans[0].devices) or 'unknown'}); relaxed drops it from the guest map",
                  edits=(line,), tier=rank.RELAX_OTHER,
                  why="relaxes only RMRRs of devices this guest does not have; its own devices "
                      "keep theirs")


# Never proposed (remedies.rank): rdm_forcecheck (xl ignores the key), relaxing an IGD, and
# strategy=host for hotplug of devices the admin did not name (`xlrmrr pci-attach GUEST SBDF`
# proposes it for the device named).
PROPOSALS = (typos, duplicates, no_pod, boundary, memory_below_low, mmio_hole, memory_below_high, relax,
             whole_group, explicit_strict, host_strict, host_relaxed)


def propose(base, host, version, options, original, replan) -> tuple[Remediation, ...]:
    """Every proposal, each change once, ranked best first with one recommended (remedies.rank).
    base.domain is, with rdm_forcecheck, the design's reading of the config; original is the
    config as read; replan: driver.plan."""
    t = Trial(base, host, version, options, replan)
    out: list[Remediation] = []
    seen: set[str] = set()
    for proposal in PROPOSALS:
        for rem in proposal(t, base.domain, original):
            if rem.change not in seen:
                seen.add(rem.change)
                out.append(rem)
    return rank.rank(out)
