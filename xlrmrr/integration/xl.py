"""`xlrmrr create` as a drop-in for `xl create`: xl's own options, the command line xl gets, and
the translation of keys only xlrmrr knows (rdm_forcecheck) into what that release's xl reads.

Pure: no I/O. The CLI (cli/create.py) reads files, plans, and runs xl.

xl create's options are those of tools/xl/xl_vmcontrol.c:main_create (optstring "AFVcdef:inpq",
getopt_long, so options and operands may come in any order; -i since 4.12); an operand holding
'=' is a KEY=VALUE item appended to the config, any other operand is the config file, once.
"""

from __future__ import annotations

from xlrmrr.records import record

# (short, long or None, help): the flags xl create takes without an argument, passed through.
XL_FLAGS = (
    ("-q", "--quiet", "xl: no console output; xlrmrr then says nothing on a clean launch either"),
    ("-p", None, "xl: leave the domain paused after it is created"),
    ("-c", None, "xl: connect to the console after the domain is created"),
    ("-V", "--vncviewer", "xl: connect to the VNC display after the domain is created"),
    ("-A", "--vncviewer-autopass", "xl: as -V, passing the VNC password to the viewer on stdin"),
    ("-d", None, "xl: enable debug messages"),
    ("-F", None, "xl: run in the foreground until the domain dies"),
    ("-e", None, "xl: do not wait in the background for the death of the domain"),
    ("-i", "--ignore-global-affinity-masks", "xl (4.12+): ignore the masks in xl.conf"),
)


def flag_dest(short: str) -> str:
    """The argparse dest of an xl flag: xl_q, xl_p, ..."""
    return "xl_" + short[1:]


def xl_create_argv(config: str, flags: list[str], items: list[str]) -> list[str]:
    """The argv of the xl that runs: `xl create CONFIG FLAGS... KEY=VALUE...`. A path xl
    would not take as its operand (starting with '-', or holding '=', which xl reads as a
    KEY=VALUE item) is given with -f instead."""
    where = ["-f", config] if config.startswith("-") or "=" in config else [config]
    return ["xl", "create", *where, *flags, *items]


def classify_operands(operands: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(config files, KEY=VALUE items, unknown options) as main_create sorts its operands:
    an operand with '=' is an item; anything else is the config."""
    configs, items, unknown = [], [], []
    for a in operands:
        if a.startswith("-") and a != "-":
            unknown.append(a)
        elif "=" in a:
            items.append(a)
        else:
            configs.append(a)
    return configs, items, unknown


def config_data(raw: bytes, items) -> bytes:
    """The bytes xl parses: xl_vmcontrol.c:create_domain appends "\\n" + each KEY=VALUE item +
    "\\n" (each item ends with "\\n" in extra_config) to the file."""
    if not items:
        return raw
    return raw + b"\n" + b"".join(a.encode() + b"\n" for a in items) + b"\n"


def quote(text: str) -> str:
    """An xl config string literal for text (libxlu dequotes \\\\ and \\' back)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@record(eq=False)
class Translation:
    """What xlrmrr hands xl so that it builds the planned guest. items: KEY=VALUE items
    appended after the user's (the last assignment wins in libxlu); spelled: those settings
    as config lines, for messages."""

    items: tuple[str, ...]
    spelled: tuple[str, ...]
    why: str


def _with_policy(spec: str, policy: str) -> str:
    """spec with rdm_policy=policy as its last option (the last one given wins)."""
    parts = spec.split(",")
    if parts[-1] == f"rdm_policy={policy}":
        return spec
    return spec.rstrip(",") + f",rdm_policy={policy}" if spec.rstrip(",") else spec


def translate_forcecheck(forcecheck: int, design, xen_domain, version) -> Translation:
    """The settings that give, on `version`'s xl, what rdm_forcecheck = `forcecheck` asks for
    (design: driver.design_domain; xen_domain: the config as xl reads it):

    1: strategy=host (every host RMRR queried), global policy strict, every pci= device without
       a policy strict. Up to 4.14 `rdm = "strategy=host,policy=strict"`; from 4.15 xl drops an
       rdm= line that carries a valid policy (libxlu_pci.c:xlu_rdm_parse), so only
       `strategy=host` can be written and the global policy is whatever xl's stack held.
    0: strategy ignore (each device's own RMRRs only). rdm= is replaced by a value xl does not
       accept (`strategy=ignore`), which leaves libxl's default, strategy ignore.
    Each device's policy is pinned with rdm_policy= so that it no longer depends on the order
    in which that release parses rdm= and pci=. The result must be planned again: the caller
    compares the reservation (same_reservation)."""
    from xlrmrr.releases import XL_RDM_POLICY_INVERTED
    from xlrmrr.xlcfg.domain import POLICY_INVALID, POLICY_RELAXED, POLICY_STRICT, POLICY_UNSET

    if forcecheck:
        rdm = ("strategy=host,policy=strict" if not XL_RDM_POLICY_INVERTED.in_effect(version)
               else "strategy=host")
        why = ("rdm_forcecheck = 1 is unknown to xl; its meaning on Xen "
               f"{version}: every host RMRR reserved (strategy=host), strict")
    else:
        rdm = "strategy=ignore"
        why = ("rdm_forcecheck = 0 is unknown to xl; its meaning: only the assigned devices' "
               "RMRRs reserved (libxl's default strategy, ignore)")
    items = [f"rdm={quote(rdm)}"]
    spelled = [f'rdm = "{rdm}"']
    if xen_domain.pci:
        specs = []
        for xd, dd in zip(xen_domain.pci, design.pci):
            pol = dd.rdm_policy
            if pol in (POLICY_STRICT, POLICY_RELAXED):
                specs.append(_with_policy(xd.spec, pol))
            elif pol in (POLICY_INVALID, POLICY_UNSET):
                specs.append(xd.spec)
        value = "[" + ",".join(quote(s) for s in specs) + "]"
        if tuple(specs) != tuple(d.spec for d in xen_domain.pci):
            items.append(f"pci={value}")
            spelled.append("pci = [ " + ", ".join(quote(s) for s in specs) + " ]")
    return Translation(tuple(items), tuple(spelled), why)


def reservation(plan) -> tuple:
    """What a guest gets from the RDM flow, for comparing two plans: the verdict, where low
    and high RAM end, the RDMs in the memory map (start, size), each device's policy at
    assignment, and the guest e820."""
    lx = plan.libxl
    if lx is None:
        return (plan.verdict,)
    e820 = tuple(plan.hvmloader.e820) if plan.hvmloader else ()
    return (plan.verdict, lx.lowmem_end, lx.highmem_end,
            tuple((r.start, r.size) for r in lx.rdms if r.exposed),
            tuple((str(d.sbdf), d.policy_at_assign) for d in lx.devices), e820)


def differences(want, got) -> list[str]:
    """How the reservation `got` differs from `want` (two reservation() tuples), in words."""
    from xlrmrr.common import hexa

    if want == got:
        return []
    if len(want) != len(got) or want[0] != got[0]:
        return [f"verdict {got[0]} instead of {want[0]}"]
    out = []
    names = ("verdict", "lowmem_end", "highmem_end")
    for i in (1, 2):
        if want[i] != got[i]:
            out.append(f"{names[i]} {hexa(got[i])} instead of {hexa(want[i])}")
    if want[3] != got[3]:
        fmt = ", ".join
        out.append("RDMs reserved: " + (fmt(f"{hexa(s)}+{hexa(n)}" for s, n in got[3]) or "none")
                   + " instead of " + (fmt(f"{hexa(s)}+{hexa(n)}" for s, n in want[3]) or "none"))
    if want[4] != got[4]:
        out.append("device policies " + ", ".join(f"{s} {p}" for s, p in got[4]) + " instead of "
                   + ", ".join(f"{s} {p}" for s, p in want[4]))
    if want[5] != got[5] and not out:
        out.append("a different guest e820")
    return out
