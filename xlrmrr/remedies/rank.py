"""Which proposal to take: the ranking rules and the one recommended change.

The rules, in order:
1. A change verified to plan ok beats one verified only as better than the plan (degraded
   instead of blocked), which beats one that is not verified. Only a verified change is
   recommended.
2. Then the tier of the change, best first (TIERS): keep what the admin wrote, then keep the
   guest's memory and every assigned device's RMRR mapped 1:1, then relax only RMRRs of devices
   the guest does not have, then relax an assigned device's RMRR, and last give the guest less
   memory.
3. Then the order of remedies.create.PROPOSALS.
What is never proposed at all (remedies.create): relaxing an IGD's RMRR, a key xl ignores
(rdm_forcecheck), and hotplug reservations for devices the admin did not name.
"""

from __future__ import annotations

from dataclasses import replace

FIX_MISTAKE = 0
KEEP_MEMORY = 1
RELAX_OTHER = 2
RELAX_OWN = 3
SHRINK = 4

TIERS = {
    FIX_MISTAKE: "removes a mistake in the file; nothing else about the guest changes",
    KEEP_MEMORY: "keeps the guest's memory and every assigned device's RMRR mapped 1:1 (strict)",
    RELAX_OTHER: "relaxes only RMRRs of devices this guest does not have",
    RELAX_OWN: "relaxes an assigned device's RMRR (never an IGD's)",
    SHRINK: "gives the guest less memory",
}


def _status(r) -> int:
    from xlrmrr.verdicts import VERDICT_OK

    if not r.verified:
        return 2
    return 0 if r.verdict == VERDICT_OK else 1


def rank(rems) -> tuple:
    """The proposals best first, the first verified one marked recommended with its why."""
    order = sorted(range(len(rems)), key=lambda i: (_status(rems[i]), rems[i].tier, i))
    out = [replace(rems[i], recommended=False) for i in order]
    return mark(out)


def mark(rems) -> tuple:
    """Exactly one recommended where any proposal is verified: the first verified one of an
    already ranked list (a caller that drops proposals, libvirt's XML, marks again)."""
    out = [replace(r, recommended=False) if r.recommended else r for r in rems]
    for i, r in enumerate(out):
        if r.verified:
            out[i] = replace(r, recommended=True)
            break
    return tuple(out)


def why_line(r) -> str:
    """One line: how a change plans and what it keeps or costs (for a verified change; an
    unverified one says only what it would keep or cost)."""
    from xlrmrr.verdicts import VERDICT_OK

    what = r.why or TIERS[r.tier]
    if not r.verified:
        return what
    head = "plans ok" if r.verdict == VERDICT_OK else f"plans {r.verdict}: better than now, not ok"
    tail = ("; no verified change keeps the guest's memory"
            if r.tier == SHRINK and r.recommended else "")
    return f"{head}; {what}{tail}"
