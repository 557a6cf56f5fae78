"""Remedies: config changes that would make a guest start, one small function per proposal.

Each proposal is an edit of the DomainConfig (remedies.edits) that the driver plans again, and
the same change as config lines (Edit), which remedies.cfgtext applies to the user's file for
`create --fix`; where the CLI gives the file's text (driver.Options.reread) the proposal is
verified on the file as xl will read it after the change. remedies.rank orders the proposals and
marks the one recommended. create (remedies.create) and pci-attach (remedies.attach) share the
edits. The driver imports this package only when a plan needs remediation.
"""

from __future__ import annotations

from xlrmrr.records import record


@record
class Edit:
    """One config line a proposal writes: `key = value` (value in xl syntax, as written in the
    file), or every assignment of the key removed (value None). if_set: only where the file
    already sets the key (maxmem, which follows memory when the file leaves it out)."""

    key: str
    value: str | None
    if_set: bool = False

    def to_json(self) -> dict:
        return {"key": self.key, "value": self.value, "only_if_set": self.if_set}


@record(eq=False)
class Remediation:
    """A proposed config change and what planning again with it gives. tier: the ranking rule
    it falls under (remedies.rank.TIERS); why: what the change keeps and what it costs;
    recommended: the one change remedies.rank picks."""

    change: str
    verified: bool
    result: str
    verdict: str | None = None
    edits: tuple[Edit, ...] = ()
    tier: int = 0
    why: str = ""
    recommended: bool = False

    def to_json(self) -> dict:
        from xlrmrr.remedies.rank import why_line

        return {"change": self.change, "verified": self.verified, "result": self.result,
                "verdict": self.verdict, "recommended": self.recommended, "why": why_line(self),
                "edits": [e.to_json() for e in self.edits]}


def propose(base, host, version, options, original, replan) -> tuple[Remediation, ...]:
    """The create proposals for a plan that is not clean, each re-planned (remedies.create),
    best first, one recommended where any is verified (remedies.rank). replan: driver.plan."""
    from xlrmrr.remedies.create import propose as _propose

    return _propose(base, host, version, options, original, replan)
