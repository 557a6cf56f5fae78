"""Remedies: config changes that would make a guest start, one small function per proposal.

Each proposal is an edit of the DomainConfig (remedies.edits) that the driver plans again; create
(remedies.create) and pci-attach (remedies.attach) share the edits. The driver imports this
package only when a plan needs remediation.
"""

from __future__ import annotations

from xlrmrr.records import record


@record(eq=False)
class Remediation:
    """A proposed config change and what planning again with it gives."""

    change: str
    verified: bool
    result: str
    verdict: str | None = None

    def to_json(self) -> dict:
        return {"change": self.change, "verified": self.verified, "result": self.result,
                "verdict": self.verdict}


def propose(base, host, version, options, original) -> tuple[Remediation, ...]:
    """The create proposals for a plan that is not clean, each re-planned (remedies.create)."""
    from xlrmrr.remedies.create import propose as _propose

    return _propose(base, host, version, options, original)
