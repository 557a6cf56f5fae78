"""Why a plan's verdict is not ok, in words, from the stages' facts: for a blocked plan the one
thing that stops creation, for a degraded one each reason an assigned device's RMRR is not
honoured (or its sharing group is split). The report's first line and `check`'s cells."""

from __future__ import annotations

from xlrmrr.common import Sbdf, hexa
from xlrmrr.records import record
from xlrmrr.xlcfg.domain import POLICY_STRICT

# What a Cause means for one device, as `xlrmrr check`'s summary cell says it.
CELL_RELAXED = "relaxed"            # assigned, its RMRR not mapped 1:1 (guest RAM over it)


CELL_NOT_IN_E820 = "not in e820"    # mapped, but the guest's e820 does not reserve it


CELL_SPLIT = "split"                # 1:1 here, but another domain maps the same range


CELL_BRIDGE = "bridge"              # below a bridge in an RMRR's scope: no 1:1 mapping


CELL_OVERLAID = "overlaid"          # hvmloader puts a BAR or RAM over its RMRR


@record
class Cause:
    """One reason for a verdict that is not ok, in words (the report's first line), with the
    guest's devices it concerns and what it means for them (CELL_*; "" for a blocked plan)."""

    text: str
    devices: tuple[Sbdf, ...] = ()
    kind: str = ""


def _first_error(findings) -> str:
    """`component: its first sentence` of the first error among a stage's findings (any full
    stop and blank ends the sentence here: a headline, the findings say the rest)."""
    import re

    f = next((f for f in findings if f.severity == "error"), None)
    if f is None:
        return "see the findings"
    first = re.split(r"(?<=[.!?])\s+", f.message, maxsplit=1)[0]
    return f"{f.component}: {first}"


def _shared_refusal(hv) -> str | None:
    """Xen refusing a device whose RMRR is shared, in words before its console line: the
    check counts the RMRR's scope entries, not which of them the guest gets, so only
    rdm_policy=relaxed passes it (xen/drivers/passthrough/vtd/iommu.c:
    intel_iommu_assign_device, "It's disallowed to assign ... with shared RMRR")."""
    for d in hv.devices:
        line = next((x for x in d.log if "disallowed to assign" in x), None)
        o = next((o for o in d.outcomes if o.sharers), None)
        if d.rc == 0 or line is None or o is None:
            continue
        return (f"xen: the RMRR [{hexa(o.rmrr.base)}, {hexa(o.rmrr.end)}] of {d.sbdf} is shared "
                f"with {names(o.sharers)}, and Xen assigns a device whose RMRR is shared only "
                f"with rdm_policy=relaxed (this one is {d.policy}): \"{line}\"")
    return None


def blocked_cause(layout, xc, hv, dup_findings, loader) -> str:
    """Why creation fails, from the stage that stops it (not the first error of any kind: a
    firmware finding of the host comes before the stages' own)."""
    if layout.failed:
        strict = next((r for r in layout.rdms if r.conflict and r.policy == POLICY_STRICT), None)
        if strict is not None:
            who = (f"of {names(strict.assigned)}" if strict.assigned else
                   f"of {names(strict.devices)}, which this guest does not have" if strict.devices
                   else "of no device of this guest")
            return (f"libxl: the RMRR at {hexa(strict.start)} ({who}; policy strict) overlaps "
                    f"guest RAM: \"RDM conflict at {hexa(strict.start)}.\"")
        return _first_error(layout.findings)
    if xc is not None and xc.failed:
        return _first_error(xc.findings)
    if hv is not None and hv.blocked:
        return _shared_refusal(hv) or _first_error(hv.findings)
    if dup_findings:
        return _first_error(dup_findings)
    if loader is not None and loader.failed:
        return _first_error(loader.findings)
    return "see the findings"


def degraded_causes(domain, host, layout, hv, loader, not_exposed, starts) -> tuple[Cause, ...]:
    """Why the guest starts without every assigned device's RMRR honoured, one Cause per
    reason, the root cause of each RMRR said once: libxl dropping it (relaxed) before the
    hypervisor leaving guest RAM over it. starts: the assigned devices' RMRR starts (the
    driver's, asked once per plan)."""
    from xlrmrr.host.groups import GROUP_PARTIAL
    from xlrmrr.hypervisor.results import RUN_BUSY, RUN_IDENTITY, RUN_IOMMU, RUN_MAPPED

    out: list[Cause] = []
    said: set[int] = set()          # RMRR starts already explained
    for r in layout.rdms:
        if r.assigned and r.conflict and not r.exposed:
            out.append(Cause(f"libxl drops the RMRR at {hexa(r.start)} of {names(r.assigned)} "
                             f"(policy {r.requested_policy}): guest RAM stays over it",
                             r.assigned, CELL_RELAXED))
            said.add(r.start)
        elif r.assigned and not r.exposed and not r.conflict:
            out.append(Cause(f"the RMRR at {hexa(r.start)} of {names(r.assigned)} keeps policy "
                             f"INVALID: it is not in the guest's e820", r.assigned, CELL_NOT_IN_E820))
            said.add(r.start)
    if hv is not None:
        for d in hv.devices:
            if not d.assigned:
                continue
            for o in d.outcomes:
                if o.honoured or o.start in said:
                    continue
                said.add(o.start)
                held = next((run.occupant or run.state for run in o.runs
                             if run.state not in (RUN_MAPPED, RUN_IDENTITY, RUN_IOMMU, RUN_BUSY)),
                            "")
                out.append(Cause(f"the RMRR [{hexa(o.rmrr.base)}, {hexa(o.rmrr.end)}] of {d.sbdf} "
                                 f"is not mapped 1:1 (policy {d.policy}"
                                 + (f"; {held} stays there)" if held else ")"),
                                 (d.sbdf,), CELL_RELAXED))
        for u in hv.groups:
            if u.kind == GROUP_PARTIAL:
                one = len(u.elsewhere) == 1
                out.append(Cause(f"the RMRR sharing group of {names(u.here)} is split: "
                                 f"{names(u.elsewhere)} {'stays' if one else 'stay'} in dom0 or "
                                 f"another guest, which {'keeps its' if one else 'keep their'} "
                                 f"1:1 mapping of the same range", u.here, CELL_SPLIT))
        if hv.below_bridge:
            from xlrmrr.hypervisor.explanations import below_bridge

            for sbdf, rmrr in hv.below_bridge:
                out.append(Cause(f"{below_bridge(sbdf, rmrr)}: it gets no 1:1 mapping of the "
                                 f"range", (sbdf,), CELL_BRIDGE))
    if loader is not None:
        for o in loader.rdm_overlaps:
            hit = starts.intersection(o.addrs)
            if not hit:
                continue
            if o.code == "ram-relocated-over-rdm":
                # "hvmloader moves guest RAM to [...] over the RDM at X that libxl did not check"
                out.append(Cause(o.finding.message, _owners(domain, host, layout, hit),
                                 CELL_OVERLAID))
            else:
                # "pci dev D bar N at B overlaps the RDM at X"
                out.append(Cause("hvmloader: " + o.finding.message.split(": ", 1)[0],
                                 _owners(domain, host, layout, hit), CELL_OVERLAID))
    for start in sorted(not_exposed - said - {r.start for r in layout.rdms}):
        owners = _owners(domain, host, layout, {start})
        out.append(Cause(f"the RMRR at {hexa(start)} of {names(owners) or 'an assigned device'} "
                         f"is not in the guest's e820 (libxl never selected it)", owners,
                         CELL_NOT_IN_E820))
    return tuple(dict.fromkeys(out)) or (Cause("see the findings"),)


def _owners(domain, host, layout, starts) -> tuple[Sbdf, ...]:
    """The guest's devices whose RMRRs start at these addresses: libxl's view where it selected
    the RDM, else the host RMRRs' scopes."""
    out = [s for r in layout.rdms if r.start in starts for s in r.assigned]
    if not out:
        from xlrmrr.host.index import RmrrIndex

        index = RmrrIndex.of(host)
        mine = {d.sbdf for d in domain.pci if d.sbdf is not None}
        out = [dev for rmrr in host.rmrrs if rmrr.start_pfn << 12 in starts
               for dev in rmrr.devices if dev in mine and rmrr in index.rmrrs(dev)]
    return tuple(dict.fromkeys(out))


def names(sbdfs) -> str:
    return ", ".join(str(s) for s in sbdfs)
