"""The host's view of a message's addresses, and whether the re-plan predicts the message."""

from __future__ import annotations

from xlrmrr.common import Sbdf
from xlrmrr.explain.messages import Message
from xlrmrr.ranges import overlaps
from xlrmrr.records import record


@record(eq=False)
class Owner:
    """The host RMRR a message's address falls in, and the devices it belongs to."""

    base: int
    end: int
    devices: tuple[str, ...]
    classes: tuple[str, ...]
    shared: bool


def owners(message: Message, host) -> tuple[Owner, ...]:
    """The host RMRRs holding the message's addresses or range (none without host data)."""
    if host is None:
        return ()
    from xlrmrr.host.resolve import class_name

    functions = {f.sbdf: f for f in host.devices}

    def owner(r) -> Owner:
        classes = tuple(class_name(functions[d].class_code if d in functions else None)
                        for d in r.devices)
        return Owner(r.base, r.end, tuple(str(d) for d in r.devices), classes, r.shared)

    probes = list(message.addrs)
    if message.base is not None:
        probes.append(message.base)
    out = [owner(r) for r in host.rmrrs
           if any((r.base & ~0xFFF) <= a <= (r.end | 0xFFF) for a in probes) or (
               message.base is not None and message.end is not None
               and overlaps(message.base, message.end + 1, r.base, r.end + 1))]
    if not out and message.sbdf:
        # the RMRRs Xen gives the device the message names (xlrmrr.host.index)
        from xlrmrr.host.index import RmrrIndex
        try:
            sbdf = Sbdf.parse(message.sbdf)
        except ValueError:
            return ()
        out = [owner(r) for r in RmrrIndex(host).rmrrs(sbdf)]
    return tuple(out)


def reproduced(message: Message, plan) -> bool | None:
    """Whether the re-plan predicts this message (the same kind of event, at one of the same
    addresses where the message names one); None when the rule has no planner counterpart."""
    if not message.rule.plan_codes or plan is None:
        return None
    want = set(message.addrs)
    if message.base is not None:
        want.add(message.base)
    for f in plan.findings:
        if f.code not in message.rule.plan_codes:
            continue
        if not want or not f.addrs or want & set(f.addrs) or any(
                (a & ~0xFFF) in {x & ~0xFFF for x in f.addrs} for a in want):
            return True
    return False
