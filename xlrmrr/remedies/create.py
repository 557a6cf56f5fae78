"""The proposals for `xlrmrr create`: one small function per kind of change, each an edit of the
DomainConfig (remedies.edits) verified by planning again (Trial). Proposals are computed from the
binding (lowest) RDM of a kind, so the number of re-plans does not grow with the RDMs."""

from __future__ import annotations

from dataclasses import replace

from xlrmrr.common import FOUR_GB, MB, XenVersion, hexa
from xlrmrr.records import record
from xlrmrr.releases import XL_RDM_PARSER_REWRITE, XL_RDM_POLICY_INVERTED
from xlrmrr.remedies import Remediation, edits
from xlrmrr.remedies.risk import device_class_risk
from xlrmrr.xlcfg.domain import (
    POLICY_RELAXED,
    POLICY_STRICT,
    POLICY_UNSET,
    STRATEGY_HOST,
    STRATEGY_IGNORE,
    DomainConfig,
    RdmReserve,
)


@record(eq=False)
class Trial:
    """What every proposal is judged against: the plan to improve and how to plan again."""

    base: object            # the driver's Plan
    host: object
    version: XenVersion
    options: object         # driver.Options

    def attempt(self, change: str, domain: DomainConfig, extra: str = ""):
        """(Remediation, Plan or None when it could not be planned) for the changed config."""
        from xlrmrr.driver import plan

        quiet = replace(self.options, remediate=False, compare_versions=False)
        try:
            p = plan(domain, self.host, self.version, quiet)
        except (ValueError, ArithmeticError) as e:
            return Remediation(change, False, f"not checked: {e}"), None
        return judge(change, p, self.base, extra), p

    def check(self, change: str, domain: DomainConfig, extra: str = "") -> Remediation:
        return self.attempt(change, domain, extra)[0]


def judge(change: str, p, base, extra: str) -> Remediation:
    """Verified when the re-plan is OK or better than the plan it is to improve."""
    from xlrmrr.driver import RANK, VERDICT_OK

    lx = p.libxl
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


def _memory_change(domain: DomainConfig, mb: int) -> str:
    if domain.max_memkb is not None and domain.max_memkb != domain.target_memkb:
        return f"memory = {mb} and maxmem = {mb}"
    return f"memory = {mb} (and maxmem = {mb} if the file sets maxmem)"


def duplicates(t: Trial, domain, original):
    """Each device's first pci= entry only (a second one fails assignment with -EBUSY)."""
    from xlrmrr.driver import _first_entries, duplicate_pci

    dups = duplicate_pci(domain)
    if dups:
        kept = _first_entries(domain)
        specs = ", ".join(f"'{d.spec}'" for d in kept.pci)
        yield t.check(f"pci = [ {specs} ] (the duplicate entr{'y' if len(dups) == 1 else 'ies'} removed)",
                      kept)


def no_pod(t: Trial, domain, original):
    """memory = maxmem: populate-on-demand and passthrough exclude each other."""
    lx = t.base.libxl
    if lx.pod and domain.pci:
        yield t.check(f"memory = {lx.max_memkb // 1024} (equal to maxmem: no populate-on-demand with "
                      f"passthrough)", edits.target_memory(domain, lx.max_memkb))


def _low(t: Trial):
    lx = t.base.libxl
    low = [r for r in _conflicts(t)
           if r.start < FOUR_GB and r.start < lx.lowmem_end_initial and r.start >= 16 * MB]
    return min(r.start for r in low) if low else None


def boundary(t: Trial, domain, original):
    """rdm_mem_boundary below the lowest conflicting RDM under 4 GiB: libxl then moves lowmem_end
    below it instead of failing."""
    m = _low(t)
    if m is not None:
        mb = (m - 1) // MB
        yield t.check(f"rdm_mem_boundary = {mb}", edits.rdm_mem_boundary(domain, mb),
                      f" (RDMs above {mb} MiB move lowmem_end below them instead of failing)")


def memory_below_low(t: Trial, domain, original):
    """Guest RAM that ends below the lowest conflicting RDM under 4 GiB."""
    m = _low(t)
    if m is not None:
        mb = m // MB + t.base.libxl.video_memkb // 1024
        yield t.check(_memory_change(domain, mb), edits.memory(domain, mb * 1024),
                      f" (guest RAM then ends below the RDM at {hexa(m)})")


def mmio_hole(t: Trial, domain, original):
    """An MMIO hole that starts below the lowest conflicting RDM under 4 GiB."""
    m = _low(t)
    if m is not None and domain.type == "hvm":
        hole = -(-(FOUR_GB - m) // MB)
        if 256 <= hole <= 3840:
            yield t.check(f"mmio_hole = {hole}", edits.mmio_hole(domain, hole),
                          f" (low RAM ends at {hexa(FOUR_GB - hole * MB)}, below the RDM)")


def _high_bar_room(p, rdm_start: int) -> int | None:
    """Where highmem must end so that the BARs hvmloader places above it, largest first and each
    aligned to its size, end at or below rdm_start; None when no 64-bit BAR lands on an RDM."""
    if p is None or p.hvmloader is None or not any(
            f.code == "bar64-over-rdm" for f in p.hvmloader.findings):
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
    rem, p = t.attempt(_memory_change(domain, mb), edits.memory(domain, mb * 1024), why + ")")
    room = _high_bar_room(p, m)
    if room is not None:
        # hvmloader puts 64-bit BARs from highmem_end upwards without avoiding RDMs
        # (tools/firmware/hvmloader/pci.c:pci_setup): end highmem low enough that they fit too.
        mb = (room - FOUR_GB + p.libxl.lowmem_end) // MB + video_mb
        rem = t.check(_memory_change(domain, mb), edits.memory(domain, mb * 1024),
                      why + f", and hvmloader's 64-bit BARs, placed from highmem_end upwards "
                      f"without avoiding RDMs, end at or below {hexa(m)} too)")
    yield rem


def relax(t: Trial, domain, original):
    """rdm_policy=relaxed on the assigned devices whose RMRRs conflict, with the risk by class."""
    devs = {s for r in _conflicts(t) for s in r.assigned}
    devs = {d.sbdf for d in domain.pci if d.sbdf in devs and d.rdm_policy != POLICY_RELAXED}
    if devs:
        specs = ", ".join(f"'{d.spec},rdm_policy=relaxed'" for d in domain.pci if d.sbdf in devs)
        yield t.check(f"pci = [ {specs} ] (rdm_policy=relaxed)",
                      edits.device_policy(domain, devs, POLICY_RELAXED),
                      f"; risk: {device_class_risk(t.host, sorted(devs))}")


def _dropped(t: Trial, domain):
    """(RDMs left out without a conflict, assigned RMRR starts libxl never selected)."""
    from xlrmrr.driver import VERDICT_BLOCKED, _assigned_rmrr_starts

    if domain.type != "hvm" or t.base.verdict == VERDICT_BLOCKED:
        return [], set()
    lx = t.base.libxl
    unexposed = [r for r in lx.rdms if r.assigned and not r.exposed and not r.conflict]
    missing = _assigned_rmrr_starts(domain, t.host) - {r.start for r in lx.rdms}
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
        specs = ", ".join(f"'{d.spec},rdm_policy=strict'" for d in targets)
        yield t.check(f"pci = [ {specs} ] (explicit rdm_policy=strict)",
                      edits.entries_policy(domain, targets, POLICY_STRICT),
                      f" (Xen {t.version} left the RMRR(s) at {_dropped_where(unexposed, missing)} out "
                      f"of the guest e820; an explicit strict policy reserves them, or fails creation "
                      f"if guest RAM is there)")


def host_strict(t: Trial, domain, original):
    """strategy=host with an explicit policy (xl reads it up to 4.14) reserves the RMRRs libxl
    never selected."""
    unexposed, missing = _dropped(t, domain)
    if missing and not XL_RDM_POLICY_INVERTED.in_effect(t.version):
        yield t.check('rdm = "strategy=host,policy=strict"',
                      edits.rdm(domain, RdmReserve(STRATEGY_HOST, POLICY_STRICT)),
                      f" (libxl never selected the RMRR(s) at {_dropped_where(unexposed, missing)}; "
                      f"strategy=host reserves every host RMRR)")


def _orphans(t: Trial):
    return [r for r in _conflicts(t) if not r.assigned and r.requested_policy == POLICY_STRICT]


def forcecheck_off(t: Trial, domain, original):
    """The design's rdm_forcecheck = 0: only the assigned devices' RMRRs."""
    orphans = _orphans(t)
    if orphans and t.base.semantics == "design" and original.rdm_forcecheck:
        yield t.check("rdm_forcecheck = 0 (reserve only the assigned devices' RMRRs)",
                      edits.forcecheck(original, 0),
                      f"; the RMRR at {hexa(orphans[0].start)} belongs to no assigned device "
                      f"({_names(orphans[0].devices) or 'unknown'})")


def host_relaxed(t: Trial, domain, original):
    """A conflicting RMRR of no assigned device under strategy=host: relaxed drops it."""
    orphans = _orphans(t)
    if not orphans or t.base.libxl.strategy != STRATEGY_HOST:
        return
    if t.base.semantics == "design" and original.rdm_forcecheck:
        return          # forcecheck_off's case
    old = not XL_RDM_POLICY_INVERTED.in_effect(t.version)
    change = ('rdm = "strategy=host,policy=relaxed"' if old
              else 'drop the rdm= line (Xen 4.15+ xl ignores any rdm= with a valid policy)')
    reserve = RdmReserve(STRATEGY_HOST, POLICY_RELAXED) if old else RdmReserve()
    yield t.check(change, edits.rdm(domain, reserve),
                  f"; the RMRR at {hexa(orphans[0].start)} belongs to no assigned device "
                  f"({_names(orphans[0].devices) or 'unknown'}); relaxed drops it from the guest map")


def hotplug_reserve(t: Trial, domain, original):
    """strategy=ignore with other host devices that have RMRRs: reserve them all now, so they can
    be hot-plugged later."""
    from xlrmrr.driver import VERDICT_BLOCKED

    base, host = t.base, t.host
    if not (base.libxl.strategy == STRATEGY_IGNORE and domain.pci and host.rmrrs
            and base.verdict != VERDICT_BLOCKED):
        return
    assigned = {d.sbdf for d in domain.pci}
    others = sorted({s for rm in host.rmrrs for s in rm.devices} - assigned)
    if not others:
        return
    if not XL_RDM_PARSER_REWRITE.in_effect(t.version):
        change, reserve = 'rdm = "strategy=host,policy=relaxed"', RdmReserve(STRATEGY_HOST, POLICY_RELAXED)
    else:
        change, reserve = 'rdm = "strategy=host"', RdmReserve(STRATEGY_HOST, POLICY_UNSET)
    rem = t.check(change + " (hotplug: reserve every host RMRR now, so that " + _names(others[:4])
                  + (" ..." if len(others) > 4 else "") + " can be attached later)",
                  edits.rdm(domain, reserve))
    rem = replace(rem, result="re-planned: " + rem.result.split(": ", 1)[1])
    if XL_RDM_PARSER_REWRITE.in_effect(t.version):
        rem = replace(rem, verified=False, result=rem.result + "; not verifiable: without policy= "
                      "xl copies an uninitialised value as the global policy")
    yield rem


PROPOSALS = (duplicates, no_pod, boundary, memory_below_low, mmio_hole, memory_below_high, relax,
             explicit_strict, host_strict, forcecheck_off, host_relaxed, hotplug_reserve)


def propose(base, host, version, options, original) -> tuple[Remediation, ...]:
    """Every proposal in PROPOSALS order, each change once. base.domain is, with rdm_forcecheck,
    the design's reading of the config; original is the config as read."""
    t = Trial(base, host, version, options)
    out: list[Remediation] = []
    seen: set[str] = set()
    for proposal in PROPOSALS:
        for rem in proposal(t, base.domain, original):
            if rem.change not in seen:
                seen.add(rem.change)
                out.append(rem)
    return tuple(out)
