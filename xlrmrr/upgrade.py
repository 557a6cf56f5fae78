"""What a Xen upgrade (or downgrade) changes for a guest: the guest planned at every release
step between the two, each aspect of the outcome compared, and each change tied to the release
where it happens and the named Xen changes taking effect there.

Pure: the CLI reads the files and hands in one plan per release step (`Step`); `compare`
returns the per-guest differences. The named changes below are the release table of the
project's docs (xen-rdm.md section 1 reproduced in the project's words); issue 16 moves them
into xlrmrr/releases.py, which this module is to read once it exists.
"""

from __future__ import annotations

from xlrmrr.common import E820_NAMES, XenVersion, hexa
from xlrmrr.records import record


@record
class Change:
    """One named behaviour change: the releases it is in effect in (ranges of X.Y[.Z], as
    xlrmrr.explain.release_set reads them), the Xen component, its commit, what it does, and
    the aspects of a guest's outcome it can change (only those cite it)."""

    in_effect: str
    component: str
    commit: str
    what: str
    aspects: tuple[str, ...] = ()
    # Whether the change can matter for this guest (a key of APPLIES), "" always.
    applies: str = ""


_ALL = ("verdict", "xl", "rdms", "lowmem_end", "highmem_end", "e820")
_LAYOUT = ("verdict", "rdms", "lowmem_end", "highmem_end", "e820")

CHANGES = (
    Change("4.7-4.22", "xen", "3848058e7d", "a device with a shared RMRR may be assigned when "
           "relaxed (warning 'It's risky ...'); strict still refuses", ("verdict",)),
    Change("4.7-4.22", "hvmloader", "24e3e3553b", "hvmloader appends the highmem e820 entry "
           "when libxl's map has none", ("e820",)),
    Change("4.10-4.22", "hvmloader", "ecc607b185", "hvmloader's find_next_rmrr fix: BARs are "
           "placed around every RMRR", ("verdict",)),
    Change("4.13-4.14.4,4.15.0-4.15.2,4.16.0", "xl", "babde47a3f, fixed by e45ad0b1b0",
           "xl parses pci= before rdm=, so pci= entries do not inherit rdm='s policy (the "
           "4.13.0 regression; rdm= first again from 4.14.5, 4.15.3, 4.16.1 and 4.17)", _ALL,
           "pci-rdm"),
    Change("4.13-4.22", "libxl", "ad011ad088", "libxl refuses pci= on a host without an IOMMU "
           "before building ('passthrough not supported on this platform')", ("verdict",),
           "no-iommu"),
    Change("4.14-4.22", "libxl", "3840e98f3e", "highmem_end is no longer forced to 4 GiB (no "
           "zero-size RAM entry at 4 GiB)", ("highmem_end", "e820")),
    Change("4.14-4.22", "libxl", "3bdb073643", "every per-device RDM entry is honoured, not "
           "only each device's first", _LAYOUT),
    Change("4.14-4.22", "libxl", "6fdb8eef87", "per-device policy defaults to strict inside "
           "construct_rdm (before: it could stay INVALID, never put in the e820)", _LAYOUT),
    Change("4.14-4.22", "xl", "df04e202c9", "rdm= keys in any order, each optional", _ALL,
           "rdm"),
    Change("4.14-4.22", "libxl", "5f29f34981", "HAP guests: lowmem_end below an RDM is rounded "
           "down to 2 MiB", ("lowmem_end", "highmem_end", "e820"), "hap"),
    Change("4.13.2-4.13,4.14.1-4.22", "hvmloader", "7b1e587f25/43eceee913",
           "hvmloader's dynamic reserved area starts at 0xfc100000 (was 0xfc001000)",
           ("verdict",)),
    Change("4.15-4.22", "xl", "bdc0799fe2", "libxlu rewrite: xlu_rdm_parse's policy check is "
           "inverted, so xl silently drops any rdm= carrying a valid policy=", _ALL, "rdm"),
    Change("4.15-4.22", "xl", "bdc0799fe2", "libxlu rewrite: the PCI_SPEC_STRING parser refuses "
           "an unknown key (was a warning) and trims no whitespace", _ALL, "pci"),
    Change("4.15-4.22", "hvmloader", "8efa46516c/de6d188a51", "hvmloader types its ACPI area "
           "NVS (an extra e820 entry [0xfc000000, ACPI end))", ("e820",)),
    Change("4.16-4.22", "xen", "2209c36007", "a zero-page RMRR is no longer reported by "
           "XENMEM_reserved_device_memory_map (and AMD IVMD is)", _LAYOUT),
    Change("4.14.5-4.14,4.15.3-4.15,4.16.1-4.22", "libxl", "(backport with e45ad0b1b0)",
           "the PoD refusal reads 'IOMMU required for device passthrough but not supported "
           "together with PoD'", ("verdict",), "pod"),
    Change("4.19-4.22", "xen", "e45801dea1/a185f88e98", "an RMRR over E820 RAM fails the DMAR "
           "parse: VT-d disabled", _LAYOUT),
    Change("4.22", "xen", "d41501fcf6", "rmrr= and extra reserved ranges one page shorter "
           "(off-by-one fix)", _LAYOUT),
)


def _rdm_given(steps) -> bool:
    from xlrmrr.xlcfg.domain import RdmReserve

    return any(s.domain is not None and s.domain.rdm != RdmReserve() for s in steps)


def _layout(steps, attr) -> bool:
    return any(s.plan is not None and s.plan.libxl is not None and getattr(s.plan.libxl, attr)
               for s in steps)


# Whether a change can matter for the guest, from the two steps around it.
APPLIES = {
    "rdm": _rdm_given,
    "pci-rdm": lambda steps: _rdm_given(steps) and any(
        s.domain is not None and s.domain.pci for s in steps),
    "no-iommu": lambda steps: any(s.plan is not None and not s.plan.host.vtd_enabled
                                  for s in steps),
    # the rewritten PCI_SPEC_STRING parser matters where xl refuses the file on one side
    "pci": lambda steps: any(s.refused for s in steps),
    "pod": lambda steps: _layout(steps, "pod"),
    "hap": lambda steps: _layout(steps, "hap"),
}


def changes_between(a, b, aspect: str | None = None, steps=()) -> tuple[tuple[Change, bool], ...]:
    """(change, takes effect) for each named change whose effect differs between candidates a
    and b (X.Y.Z tuples), going from a to b; only those that can change `aspect` if given, and
    (given the two Steps) that can matter for the guest."""
    from xlrmrr.explain import release_set

    out = []
    for c in CHANGES:
        if aspect is not None and aspect not in c.aspects:
            continue
        if steps and c.applies and not APPLIES[c.applies](steps):
            continue
        inside = release_set(c.in_effect)
        if (a in inside) != (b in inside):
            out.append((c, b in inside))
    return tuple(out)


@record(eq=False)
class Step:
    """The guest under one release: xl's reading (domain, None if xl refused: `refused` says
    why) and the plan."""

    version: XenVersion
    domain: object
    plan: object
    refused: str = ""


ASPECTS = ("verdict", "xl", "rdms", "lowmem_end", "highmem_end", "e820")
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
    at: tuple[tuple[str, tuple[tuple[Change, bool], ...]], ...]

    def to_json(self) -> dict:
        return {"aspect": self.aspect, "from": self.before, "to": self.after,
                "at": [{"release": r, "changes": [
                    {"component": c.component, "commit": c.commit, "what": c.what,
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
    from xlrmrr.explain import candidate_of

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
                    candidate_of(prev.version), candidate_of(cur.version), aspect,
                    (prev, cur))))
        out.append(AspectChange(aspect, before, after, tuple(at)))
    first, last = steps[0], steps[-1]
    name = getattr(last.domain, "name", None) or getattr(first.domain, "name", None) or ""
    return GuestUpgrade(config, name, _verdict(first), _verdict(last), tuple(out),
                        tuple(_verdict(s) for s in steps))


def _verdict(step: Step) -> str:
    return "blocked" if step.refused else step.plan.verdict


def _split():
    from xlrmrr.explain import _POINTS

    return _POINTS


def path(frm: XenVersion, to: XenVersion) -> list[XenVersion]:
    """frm, every release step strictly between (one per candidate of xlrmrr.explain: each
    X.Y line, and the point releases where xl's reading changes), and to."""
    from xlrmrr.explain import CANDIDATES, candidate_of

    a, b = candidate_of(frm), candidate_of(to)
    lo, hi = min(a, b), max(a, b)
    # X.Y.0 of a line with a point candidate is named as such (4.15.0, not 4.15): its first
    # release, where a change from below takes effect
    between = [XenVersion(c[0], c[1], c[2] if (c[2] or c[1] in _split()) else None)
               for c in CANDIDATES if lo < c < hi]
    if a > b:
        between.reverse()
    return [frm, *between, to]
