"""`xlrmrr pci-attach`: the attach check (hotplug.attach_check) and the creation-time remedies
verified for it, as text and as the JSON object of docs/json.md."""

from __future__ import annotations

LOW_RAM_END = 0x100000     # libxl's RAM below 1 MiB is fixed: RDMs there always conflict


def _reading_name(pol: str) -> str:
    """xl's uninitialised global policy as read: 0 strict, 1 relaxed, or any other value."""
    from xlrmrr.xlcfg.domain import POLICY_UNSET

    return "any other value" if pol == POLICY_UNSET else pol


def _outcome(r) -> str:
    if r.created is None or r.created.blocked:
        return "the guest itself then fails to start (see xlrmrr create)"
    if r.ok and r.honoured:
        return "the attach then succeeds with every RMRR 1:1"
    return "the attach then succeeds, RMRR not honoured" if r.ok else "the attach still fails"


def _remedy_lines(lines_: tuple, results) -> list[str]:
    """One remedy, as text: verified when every reading of the config gives the same outcome.
    Each config line is its own code span: `rdm = "strategy=host"` and `pci = [ ... ]`."""
    change = " and ".join(f"`{line}`" for line in lines_)
    outcomes = {_outcome(r) for _, r in results}
    if len(results) == 1:
        lines = [f"  at creation, add {change}: {_outcome(results[0][1])} (checked by planning "
                 f"again)"]
    elif len(outcomes) == 1:
        lines = [f"  at creation, add {change}: {outcomes.pop()} (checked by planning again, "
                 f"with xl's uninitialised rdm policy read as strict, as relaxed and as any other "
                 f"value)"]
    else:
        lines = [f"  at creation, add {change}: [not verified] without policy= xl copies an "
                 f"uninitialised value as the global policy, and the outcome depends on it:"]
        lines += [f"    if it reads as {_reading_name(pol)}: {_outcome(r)}" for pol, r in results]
    return lines


def _remedy_json(lines_: tuple, edits: tuple, results) -> dict:
    """One remedy: the change as text and as the config lines it writes (remedies.Edit, as
    create's remediation gives them), and what the attach does with it under every reading."""
    def starts(r):
        return r.created is not None and not r.created.blocked
    return {"change": " and ".join(lines_), "edits": [e.to_json() for e in edits],
            "verified": len({_outcome(r) for _, r in results}) == 1,
            "ok": all(r.ok for _, r in results),
            "honoured": all(r.honoured for _, r in results),
            "guest_starts": all(starts(r) for _, r in results),
            "readings": {pol: {"ok": r.ok, "honoured": r.honoured, "guest_starts": starts(r)}
                         for pol, r in results if pol}}


def _cause(findings) -> str:
    """Why the attach fails, for the first line: the first error's first sentence, with the
    component that says it."""
    import re

    f = next((f for f in findings if f.severity == "error"), None)
    if f is None:
        return "see the findings"
    return f"{f.component}: " + re.split(r"(?<=\.) (?=[A-Z])", f.message, maxsplit=1)[0]


def json_text(att, domain, config: str, version, status: int, remedies) -> str:
    from xlrmrr.report.document import dumps

    out = dict(att.to_json(), guest=domain.name, config=config, xen_version=str(version),
               exit_status=status, remedies=[_remedy_json(c, e, rs) for c, e, rs in remedies])
    return dumps("pci-attach", out, indent=2, sort_keys=True)


def text(att, name: str, version, status: int, remedies, xml: bool) -> str:
    """The report: the first line names the device, the guest, the outcome and its cause (as
    create's does); then the assignment, the remedies and the verdict."""
    from xlrmrr.common import EXIT_DEGRADED, EXIT_INPUT, EXIT_OK, hexa
    from xlrmrr.report import escape
    from xlrmrr.report.hypervisor import attach_text

    text = attach_text(att, name, version)
    lines = [line for change, _e, rs in remedies for line in _remedy_lines(change, rs)]
    low = [o for o in (att.device.outcomes if att.device else ()) if o.rmrr.base < LOW_RAM_END]
    if remedies and low:
        lines.append(f"  no creation-time setting frees the RMRR at {hexa(low[0].rmrr.base)}: "
                     f"libxl never moves guest RAM below 1 MiB, so the range is always guest "
                     f"RAM; only rdm_policy=relaxed attaches the device (the range then stays "
                     f"guest RAM)")
    if remedies:
        text += "\nWhat to put in the config at creation:\n" + "\n".join(lines) + "\n"
    elif xml and not (att.ok and att.honoured):
        text += ("\nAt creation: libvirt's libxl driver starts every domain with rdm strategy "
                 "ignore, so no domain XML setting keeps another device's RMRR free of guest "
                 "RAM for a later hot-plug\n")
    if status == EXIT_OK:
        verdict = "`xl pci-attach` succeeds and every RMRR is identity-mapped"
        head = f"OK: {verdict}"
    elif status == EXIT_INPUT:
        verdict = head = ("UNKNOWN: `xl pci-attach` assigns the device, but the host data "
                          "does not list the host's RMRRs")
    elif status == EXIT_DEGRADED:
        why = ("an RMRR is not honoured" if not att.honoured else
               "it splits an RMRR sharing group: a member stays in dom0 (or in another guest)")
        verdict = f"`xl pci-attach` succeeds, but {why}"
        head = f"DEGRADED: {verdict}"
    else:
        verdict = "`xl pci-attach` FAILS"
        head = f"FAILS: {_cause(att.findings)}"
    text += f"\nVerdict: {verdict}\n"
    first, _, rest = text.partition("\n")
    return f"{first}: {escape(head)} (exit {status})\n{rest}"
