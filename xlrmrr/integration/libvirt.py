"""libvirt: config changes in domain XML terms, and the libxl hook.

libvirt calls every executable in /etc/libvirt/hooks/libxl.d/ (libvirt >= 6.5; before that the
single file /etc/libvirt/hooks/libxl) as `SCRIPT NAME OPERATION SUBOPERATION EXTRA` with the
domain XML on stdin (src/util/virhook.c, virHookCall and virRunScript). For a start the libxl
driver calls `NAME prepare begin -` before it builds libxl_domain_config (libxl_domain.c,
libxlDomainStart): a non-zero exit aborts the start, and virCommandRun puts the script's stderr
into the error libvirt reports ("Hook script execution failed: ... unexpected exit status 1:
STDERR"). The child gets a clean environment (virCommandAddEnvPassCommon: PATH, HOME, USER,
LOGNAME, TMPDIR, LD_*; LC_ALL=C), so host options come from a file, /etc/default/xlrmrr.
"""

from __future__ import annotations

import re
from dataclasses import replace

DEFAULTS_FILE = "/etc/default/xlrmrr"
DEFAULTS_ENV = "XLRMRR_DEFAULTS"          # another defaults file (tests, chroots)
HOST_ARGS = "XLRMRR_HOST_ARGS"

_MEMORY = re.compile(r"memory = (\d+)(?: and maxmem = \d+| \(and maxmem = \d+ if the file sets "
                     r"maxmem\))?$")
_POD = re.compile(r"memory = (\d+) \(equal to maxmem")


def xml_remediation(remediation, source: str) -> tuple[tuple, tuple]:
    """(changes, xl-only findings) for a guest read from domain XML: a change the XML can
    express, reworded in XML (<memory>, <currentMemory>, the duplicate <hostdev>); the others
    (rdm_mem_boundary, mmio_hole, rdm=, rdm_policy) are settings libvirt's libxl driver never
    sets, so they are named in one finding instead of proposed."""
    from xlrmrr.common import Finding

    out, xl_only = [], []
    for r in remediation:
        r = replace(r, edits=())         # config lines of an xl file: not for the XML
        m = _MEMORY.match(r.change)
        pod = _POD.match(r.change)
        if m:
            mb = m[1]
            out.append(replace(r, change=f"<memory unit='MiB'>{mb}</memory> and <currentMemory "
                                         f"unit='MiB'>{mb}</currentMemory>"))
        elif pod:
            out.append(replace(r, change=f"<currentMemory unit='MiB'>{pod[1]}</currentMemory> "
                                         "(equal to <memory>: no populate-on-demand with "
                                         "passthrough)"))
        elif r.change.startswith("pci = [") and "duplicate" in r.change:
            out.append(replace(r, change="remove the duplicate <hostdev> (or <interface "
                                         "type='hostdev'>) of the same device"))
        elif r.verified:
            what = (r.change.split(" (")[0] if not r.change.startswith("pci") else
                    "the whole RMRR sharing group assigned with rdm_policy=relaxed"
                    if "whole RMRR sharing group" in r.change else
                    "rdm_policy=relaxed" if "relaxed" in r.change else "rdm_policy=strict")
            xl_only.append(what if r.verdict == "ok" else f"{what} (verdict {r.verdict})")
    findings = ()
    if xl_only:
        findings = (Finding("info", "libvirt-xl-only-fix", "libvirt",
                            f"{source}: xl could also start this guest with "
                            f"{', '.join(dict.fromkeys(xl_only))} (checked by planning again), but "
                            "libvirt's libxl driver sets none of these and the domain XML has "
                            "no way to ask for them"),)
    return tuple(out), findings


def apply_to_plan(plan, source: str):
    """The plan with its changes in domain XML terms (xml_remediation)."""
    from xlrmrr.remedies.rank import mark

    changes, findings = xml_remediation(plan.remediation, source)
    return replace(plan, remediation=mark(changes), findings=tuple(plan.findings) + findings)


def read_defaults(path: str, data: str) -> dict:
    """The KEY=VALUE assignments of a /etc/default file (shell syntax: one word after =, quoted
    as the shell quotes it; comments, blank lines, `export`); InputError FILE:LINE otherwise."""
    import shlex

    from xlrmrr.common import InputError

    out = {}
    for n, raw in enumerate(data.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        try:
            words = shlex.split(m[2], comments=True) if m else None
        except ValueError as e:
            raise InputError(f"{path}:{n}: cannot read this line as the shell would: {e}") from None
        if m is None or len(words) > 1:
            raise InputError(f"{path}:{n}: expected NAME=VALUE (one shell word; quote a value "
                             f"with blanks: {m[1] if m else 'NAME'}=\"...\"), not {line!r}")
        out[m[1]] = words[0] if words else ""
    return out


def host_args(environ) -> tuple[list[str], str]:
    """(arguments, where they came from): $XLRMRR_HOST_ARGS if set (even empty), else the
    defaults file's XLRMRR_HOST_ARGS, else none (the live host)."""
    import shlex

    from xlrmrr.common import InputError
    from xlrmrr.files import read_input

    if HOST_ARGS in environ:
        text, where = environ[HOST_ARGS], f"${HOST_ARGS}"
    else:
        path = environ.get(DEFAULTS_ENV) or DEFAULTS_FILE
        import os

        if not os.path.exists(path):
            return [], "the live host (no " + path + ")"
        raw = read_input(path, "defaults file", limit=1 << 20)
        values = read_defaults(path, raw.decode("utf-8", "replace"))
        if HOST_ARGS not in values:
            return [], "the live host"
        text, where = values[HOST_ARGS], f"{HOST_ARGS} in {path}"
    try:
        args = shlex.split(text)
    except ValueError as e:
        raise InputError(f"{where}: cannot split {text!r} as the shell would: {e}") from None
    return args, where


def failure_paragraph(name: str, plan, host_where: str) -> str:
    """One paragraph for libvirt's log and `virsh start`: what, why, what to change."""
    if plan.verdict == "unknown":
        why = next(f.message for f in plan.findings if f.code == "rmrrs-unknown")
        return (f"xlrmrr: domain '{name}' was not checked against the host's RMRRs on Xen "
                f"{plan.xen_version} (verdict unknown): {why}. Host data: {host_where}.")
    errors = [f for f in plan.findings if f.severity == "error"]
    first = errors[0] if errors else None
    what = (f"[{first.component}] {first.message}" if first else
            "an assigned device's RMRR would not be honoured")
    fixes = [r.change for r in plan.remediation if r.recommended and r.verdict == "ok"]
    fix = (f" What to change in the domain XML: {fixes[0]} (checked by planning again)." if fixes
           else " No change of the domain XML fixes it (libvirt's libxl driver fixes libxl's RDM "
                "settings: strategy ignore, strict per device, rdm_mem_boundary 2048 MiB); remove "
                "the device, or run the guest with xl and an rdm= / rdm_policy= setting.")
    other = [f.message for f in plan.findings if f.code == "libvirt-xl-only-fix"]
    outcome = ("would fail to start" if plan.verdict == "blocked" else
               "would start, but not every RMRR of its devices would be honoured")
    return (f"xlrmrr: domain '{name}' {outcome} on Xen {plan.xen_version}: {what} "
            f"(verdict {plan.verdict}; libvirt's libxl driver builds the guest with strategy "
            f"ignore and the strict policy for every <hostdev>).{fix}"
            + (f" ({other[0].split(': ', 1)[1]}.)" if other else "")
            + f" Host data: {host_where}. Full plan: save the XML (virsh dumpxml {name}) and run "
              f"`xlrmrr create DOMAIN.xml --dry-run`.")
