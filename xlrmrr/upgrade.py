"""What a Xen upgrade (or downgrade) changes for a guest: the guest planned at every release
step between the two, each aspect of the outcome compared, and each change tied to the release
where it happens and the named Xen changes taking effect there.

Pure: the CLI reads the files and hands in one plan per release step (`Step`); `compare`
returns the per-guest differences. The release steps, the named changes and what each can alter
all come from xlrmrr/releases.py (Change.alters, .upgrade, .matters, .reverts): a change the
stages do not model cannot explain a difference the planner computed, so only modelled changes
are cited.
"""

from __future__ import annotations

from xlrmrr.common import E820_NAMES, NEWEST_XEN, OLDEST_XEN, XenVersion, hexa
from xlrmrr.records import record
from xlrmrr.releases import ASPECTS, CHANGES, MODELLED, effective, reverted_by, upgrade_text

# The changes upgrade reasons with: every modelled one, except those that undo an earlier
# change (read as the earlier change going out of effect).
NAMED = tuple(c for c in CHANGES if c.kind in MODELLED and c.reverts is None)


def commit_text(change) -> str:
    return change.commit + "".join(f", fixed by {r.commit}" for r in reverted_by(change))


def _rdm_given(steps) -> bool:
    from xlrmrr.xlcfg.domain import RdmReserve

    return any(s.domain is not None and s.domain.rdm != RdmReserve() for s in steps)


def _layout(steps, attr) -> bool:
    return any(s.plan is not None and s.plan.libxl is not None and getattr(s.plan.libxl, attr)
               for s in steps)


def _host_key(step):
    host = getattr(step.plan, "host", None)
    return None if host is None else (host.vtd_enabled, host.rmrrs)


def _overlapping(rmrrs) -> bool:
    ranges = sorted((r.base, r.end) for r in rmrrs)
    return any(b[0] <= a[1] for a, b in zip(ranges, ranges[1:]))


# When a change can matter for the guest (Change.matters), from the two steps around it.
MATTERS = {
    "rdm": _rdm_given,
    "pci-rdm": lambda steps: _rdm_given(steps) and any(
        s.domain is not None and s.domain.pci for s in steps),
    # xl reads type= (or only builder=): the guest type it reads differs
    "type": lambda steps: len({s.domain.type for s in steps if s.domain is not None}) > 1,
    # the rewritten PCI_SPEC_STRING parser matters where xl refuses the file on one side
    "pci": lambda steps: any(s.refused for s in steps),
    "hap": lambda steps: _layout(steps, "hap"),
    # how Xen builds the host from the DMAR: the hosts of the two steps differ
    "host": lambda steps: len({_host_key(s) for s in steps}) > 1,
    # pci= on a host without an IOMMU (or for PVH): libxl's setdefault refusal
    "no-iommu": lambda steps: any(
        s.domain is not None and s.domain.pci and s.plan is not None
        and (not s.plan.host.vtd_enabled or s.domain.type == "pvh") for s in steps),
    # a device with several RMRRs: how intel_iommu_assign_device ends after a failing map
    "rmrrs-per-device": lambda steps: any(
        s.plan is not None and s.plan.hypervisor is not None
        and any(len(d.outcomes) > 1 for d in s.plan.hypervisor.devices) for s in steps),
    # two different RMRRs that overlap (Xen's DMAR parsing refuses them; host data may not)
    "rmrr-overlap": lambda steps: any(
        s.plan is not None and _overlapping(s.plan.host.rmrrs) for s in steps),
    # memory < maxmem with pci=: the PoD refusal
    "pod": lambda steps: any(
        s.domain is not None and s.domain.pci and s.plan is not None
        and s.plan.libxl is not None and s.plan.libxl.pod for s in steps),
}


def changes_between(a: XenVersion, b: XenVersion, aspect: str | None = None,
                    steps=()) -> tuple[tuple[object, bool], ...]:
    """(change, takes effect) for each named change whose effect differs between releases a
    and b, going from a to b; only those that can alter `aspect` if given, and (given the two
    Steps) that can matter for the guest."""
    out = []
    for c in NAMED:
        if aspect is not None and aspect not in (c.alters or ()):
            continue
        if steps and c.matters and not MATTERS[c.matters](steps):
            continue
        before, after = effective(c, a), effective(c, b)
        if before != after:
            out.append((c, after))
    return tuple(out)


@record(eq=False)
class Step:
    """The guest under one release: xl's reading (domain, None if xl refused: `refused` says
    why) and the plan."""

    version: XenVersion
    domain: object
    plan: object
    refused: str = ""


ASPECT_NAMES = {"verdict": "verdict", "xl": "xl's reading", "rdms": "RMRRs reserved (policy)",
                "lowmem_end": "lowmem_end", "highmem_end": "highmem_end", "e820": "guest e820"}


def summary(step: Step) -> dict:
    """Each aspect of one step as display text."""
    p, d = step.plan, step.domain
    errors = [f for f in p.findings if f.severity == "error"]
    verdict = p.verdict + (f" ({errors[0].component}: {_first(errors[0].message)})"
                           if errors and p.verdict == "blocked" else "")
    if step.refused:
        return {"verdict": f"blocked (xl refuses the config: {step.refused})",
                "xl": "refused", "rdms": "-", "lowmem_end": "-", "highmem_end": "-",
                "e820": "-"}
    pci = ", ".join(f"{dev.sbdf or dev.name} rdm_policy={dev.rdm_policy}" for dev in d.pci)
    xl = (f"{d.type.upper()}; rdm strategy={d.rdm.strategy} policy={d.rdm.policy}"
          + (f"; pci {pci}" if pci else ""))
    lx = p.libxl
    if lx is None or lx.stopped:        # libxl built no layout
        return {"verdict": verdict, "xl": xl, "rdms": "-", "lowmem_end": "-",
                "highmem_end": "-", "e820": "-"}
    rdms = ", ".join(
        f"{hexa(r.start)} {r.policy}" + (" conflict" if r.conflict else "")
        + ("" if r.exposed else " (not in e820)") for r in lx.rdms) or "none"
    e820 = p.hvmloader.e820 if p.hvmloader else ()
    return {"verdict": verdict, "xl": xl, "rdms": rdms,
            "lowmem_end": hexa(lx.lowmem_end), "highmem_end": hexa(lx.highmem_end),
            "e820": e820_text(e820) if e820 else "-"}


def e820_text(e820) -> str:
    return ", ".join(f"{E820_NAMES.get(e.type, e.type)} [{hexa(e.addr)}, {hexa(e.end)})"
                     for e in e820)


def _first(message: str) -> str:
    import re

    return re.split(r"(?<=\.)\s+(?=[A-Z])", message, maxsplit=1)[0]


@record(eq=False)
class AspectChange:
    aspect: str
    before: str
    after: str
    # (release where it changes, ((named change, True: takes effect / False: undone), ...))
    at: tuple[tuple[str, tuple[tuple[object, bool], ...]], ...]

    def to_json(self) -> dict:
        return {"aspect": self.aspect, "from": self.before, "to": self.after,
                "at": [{"release": r, "changes": [
                    {"component": c.component, "commit": commit_text(c), "what": upgrade_text(c),
                     "takes_effect": on} for c, on in cs]} for r, cs in self.at]}


@record(eq=False)
class GuestUpgrade:
    config: str
    name: str
    before: str         # verdict under --from
    after: str          # verdict under --to
    changes: tuple[AspectChange, ...]
    verdicts: tuple[str, ...] = ()      # the verdict at each step

    @property
    def worse(self) -> str:
        """"stops" (starting -> not starting), "degrades" (ok -> degraded) or ""."""
        if self.after == "blocked" and self.before != "blocked":
            return "stops"
        if self.after == "degraded" and self.before == "ok":
            return "degrades"
        return ""


def compare(config: str, steps: list[Step]) -> GuestUpgrade:
    """The differences between the first and the last step, each with the step releases where
    that aspect changes and the named changes taking effect there."""
    sums = [summary(s) for s in steps]
    out = []
    for aspect in ASPECTS:
        before, after = sums[0][aspect], sums[-1][aspect]
        if before == after:
            continue
        at = []
        for prev, cur, sp, sc in zip(steps, steps[1:], sums, sums[1:]):
            if sp[aspect] != sc[aspect]:
                at.append((str(cur.version), changes_between(
                    prev.version, cur.version, aspect, (prev, cur))))
        out.append(AspectChange(aspect, before, after, tuple(at)))
    first, last = steps[0], steps[-1]
    name = getattr(last.domain, "name", None) or getattr(first.domain, "name", None) or ""
    return GuestUpgrade(config, name, _verdict(first), _verdict(last), tuple(out),
                        tuple(_verdict(s) for s in steps))


def _verdict(step: Step) -> str:
    return "blocked" if step.refused else step.plan.verdict


def _points() -> dict:
    """(major, minor) -> the point releases of that line a backported change starts at."""
    out: dict = {}
    for c in CHANGES:
        for p in c.points:
            out.setdefault((p[0], p[1]), set()).add(p[2])
    return {line: sorted(ps) for line, ps in out.items()}


def _steps() -> tuple[XenVersion, ...]:
    """Every X.Y line modelled, and each point release where a backported change starts: the
    X.Y.0 of a line with one is named as such (4.15.0, not 4.15), its first release, where a
    change from below takes effect."""
    points = _points()
    out = []
    for minor in range(OLDEST_XEN.minor, NEWEST_XEN.minor + 1):
        line = (OLDEST_XEN.major, minor)
        if line in points:
            out.append(XenVersion(*line, 0))
            out.extend(XenVersion(*line, p) for p in points[line])
        else:
            out.append(XenVersion(*line))
    return tuple(out)


def _step_of(v: XenVersion) -> tuple[int, int, int]:
    """The step that stands for release v (4.14.3 -> 4.14.0, 4.16.2 -> 4.16.1)."""
    below = [p for p in _points().get((v.major, v.minor), ()) if p <= (v.patch or 0)]
    return (v.major, v.minor, below[-1] if below else 0)


def path(frm: XenVersion, to: XenVersion) -> list[XenVersion]:
    """frm, every release step strictly between (each X.Y line, and the point releases where a
    backported change starts), and to."""
    a, b = _step_of(frm), _step_of(to)
    lo, hi = min(a, b), max(a, b)
    between = [v for v in _steps() if lo < _step_of(v) < hi]
    if a > b:
        between.reverse()
    return [frm, *between, to]
