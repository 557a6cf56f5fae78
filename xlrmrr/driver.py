"""The driver: runs libxl -> libxc -> hypervisor -> hvmloader over immutable data into a Plan,
decides the verdict and exit status and compares Xen releases; remedies/ proposes the fixes."""

from __future__ import annotations

from dataclasses import field, replace
from typing import Any, Callable

from xlrmrr.common import (
    EXIT_DEGRADED,
    EXIT_FAIL,
    EXIT_INPUT,
    EXIT_OK,
    NEWEST_XEN,
    Finding,
    InputError,
    Sbdf,
    XenVersion,
    hexa,
)
from xlrmrr.host.model import Host
from xlrmrr.records import record

# The release bands, derived from the named changes (shown to users, compared per band).
from xlrmrr.releases import (  # noqa: F401
    BAND_STARTS,
    STAGE_BOUNDARIES,
    VERSION_BANDS,
    XL_RDM_PARSER_REWRITE,
    XL_RDM_POLICY_INVERTED,
)
from xlrmrr.remedies import Remediation
from xlrmrr.xlcfg.domain import (
    LIBXL_PCI_FUNC_ALL,
    POLICY_INVALID,
    POLICY_RELAXED,
    POLICY_STRICT,
    POLICY_UNSET,
    STRATEGY_HOST,
    STRATEGY_IGNORE,
    DomainConfig,
    RdmReserve,
)

VERDICT_OK = "ok"
VERDICT_BLOCKED = "blocked"
VERDICT_DEGRADED = "degraded"
# The host data cannot tell (Host.rmrrs_unknown) whether the guest's devices have RMRRs, and
# nothing else is wrong: exit 2, as for input that cannot answer the question.
VERDICT_UNKNOWN = "unknown"
EXIT_FOR = {VERDICT_OK: EXIT_OK, VERDICT_BLOCKED: EXIT_FAIL, VERDICT_DEGRADED: EXIT_DEGRADED,
            VERDICT_UNKNOWN: EXIT_INPUT}
RANK = {VERDICT_OK: 0, VERDICT_UNKNOWN: 1, VERDICT_DEGRADED: 2, VERDICT_BLOCKED: 3}



@record
class Options:
    """Planner knobs that are not in the guest config (all have documented defaults)."""

    hap_available: bool = True          # host supports HAP (EPT): libxl's hap default
    bios_base: int | None = None        # hvmloader's bios_image_base (None: per-BIOS default)
    acpi_end: int | None = None         # end of hvmloader's ACPI area (None: default)
    firmware_sizes: tuple[tuple[str, int], ...] = ()   # (acpi_firmware|smbios_firmware, bytes)
    hvmloader_size: int | None = None   # bytes of the hvmloader image (None: default)
    remediate: bool = True              # propose and verify config changes
    compare_versions: bool = True       # re-plan under the other release bands
    # Say why a verdict is not ok (Plan.causes); the release comparison's plans, of which only
    # the verdicts and layouts are compared (_summary), go without.
    explain: bool = True
    # How xl of another release reads the same file (parse order, rdm= parser): the CLI passes
    # a re-parse; without it the same DomainConfig is planned under every release.
    domain_for_version: Callable[[XenVersion], DomainConfig] | None = field(default=None, compare=False)
    # With rdm_forcecheck: the config as xl really reads it (xl ignores the key). The CLI passes
    # it when the config reader already folded the design's semantics into `rdm`.
    xen_domain: DomainConfig | None = field(default=None, compare=False)
    # How Xen of another release builds the host (DMAR parsing changes by release).
    host_for_version: Callable[[XenVersion], Host] | None = field(default=None, compare=False)
    # The user's file with a remedy's config lines (remedies.Edit) applied, read again as xl
    # reads it: (DomainConfig, xen_domain as above); InputError when xl refuses the result. The
    # CLI passes it for an xl config, so that every proposal is verified on the file it edits.
    reread: Callable[[tuple], tuple[DomainConfig, DomainConfig | None]] | None = field(
        default=None, compare=False)
    # Keys of the file xl does not know that are one edit from a key it does (xlcfg.keys
    # .key_typos), with the value as written: (key, key meant, value text). Each is proposed
    # renamed (remedies.create.typos), also for a plan that is otherwise clean.
    typos: tuple[tuple[str, str, str], ...] = ()


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


@record(eq=False)
class VersionDelta:
    """How another Xen release band would treat the same guest, where it differs."""

    band: str
    verdict: str
    differences: tuple[str, ...]


@record(eq=False)
class Plan:
    """Everything xlrmrr predicts for one guest on one host."""

    domain: DomainConfig
    host: Host
    xen_version: XenVersion
    libxl: Any                       # xlrmrr.libxl.LibxlLayout (None: xl refused the config)
    libxc: Any = None                # xlrmrr.libxc.LibxcResult (None if libxl failed)
    hvm_info: bytes | None = None    # the 48-byte hvm_info_table
    hypervisor: Any = None           # xlrmrr.hypervisor.AssignResult (None if not reached)
    hvmloader: Any = None            # xlrmrr.hvmloader.model.HvmloaderResult (None if not reached)
    findings: tuple[Finding, ...] = ()
    verdict: str = VERDICT_OK
    exit_status: int = EXIT_OK
    remediation: tuple[Remediation, ...] = ()
    version_deltas: tuple[VersionDelta, ...] = ()
    semantics: str = "xen"           # "xen", or "design" when rdm_forcecheck chose the rules
    rdm_forcecheck: int | None = None  # semantics "design": the file's value (domain: the design's)
    xen_verdict: str | None = None   # with rdm_forcecheck: what Xen itself would do
    options: Options = field(default_factory=Options)
    # Why the verdict is not ok, in words, from the stages' facts: blocked, the one thing that
    # stops creation; degraded, each reason an assigned device's RMRR is not honoured (or its
    # sharing group is split). The report's first line names them.
    causes: tuple[Cause, ...] = ()
    # With rdm_forcecheck: what `xlrmrr create` hands xl when it launches the guest, in words
    # (the CLI decides it with the plan, cli.create._forcecheck_launch); "" otherwise.
    launch: str = ""


def plan(domain: DomainConfig, host: Host, xen_version: XenVersion | None = None,
         options: Options | None = None) -> Plan:
    """Run every stage for one guest. Pure: the same inputs give the same plan and report."""
    options = options or Options()
    version = xen_version or domain.xen_version
    semantics, xen_verdict = "xen", None
    if domain.rdm_forcecheck is not None:
        xen_domain = options.xen_domain or replace(domain, rdm_forcecheck=None)
        base = _run(xen_domain, host, version, options)
        base, semantics, xen_verdict = _design(domain, xen_domain, host, version, options, base)
    else:
        base = _run(domain, host, version, options)
    base = replace(base, semantics=semantics, xen_verdict=xen_verdict)
    deltas: tuple[VersionDelta, ...] = ()
    if options.compare_versions:
        deltas = _version_deltas(domain, host, version, options, base)
    remediation: tuple[Remediation, ...] = ()
    if options.remediate and base.verdict != VERDICT_UNKNOWN and (
            base.verdict != VERDICT_OK or any(r.conflict for r in base.libxl.rdms)
            or options.typos):
        from xlrmrr.remedies import propose

        remediation = propose(base, host, version, options, domain)
    return replace(base, remediation=remediation, version_deltas=deltas, semantics=semantics,
                   xen_verdict=xen_verdict, rdm_forcecheck=domain.rdm_forcecheck)


def refused_by_xl(domain: DomainConfig, host: Host, version: XenVersion, options: Options | None = None,
                  findings: tuple[Finding, ...] = ()) -> Plan:
    """The plan of a config xl itself exits on: no later stage runs, creation fails. A config
    xl refuses is bad input (exit status 2), like one it cannot parse."""
    return Plan(domain, host, version, None, findings=findings, verdict=VERDICT_BLOCKED,
                exit_status=EXIT_INPUT, options=replace(options or Options(), compare_versions=False))


def _run(domain: DomainConfig, host: Host, version: XenVersion, options: Options) -> Plan:
    """All stages; a policy xl copied from uninitialised memory is planned both ways."""
    readings = policy_readings(domain)
    if not readings:
        return _run_stages(domain, host, version, options)
    plans = [(pol, _run_stages(d, host, version, options)) for pol, d in readings]
    pol, worst = sorted(plans, key=lambda x: -RANK[x[1].verdict])[0]
    verdicts = dict((p, x.verdict) for p, x in plans)
    readings_said = (
        f"Read as 0 ({POLICY_STRICT}, a zeroed stack) the verdict is {verdicts[POLICY_STRICT]}; as "
        f"1 ({POLICY_RELAXED}) {verdicts[POLICY_RELAXED]}; as any other value (libxl only warns on "
        f"a conflict, and refuses the device at assignment: unknown rdm check flag) "
        f"{verdicts[POLICY_UNSET]}")
    modelled = f"Modelled: the worst, {pol if pol != POLICY_UNSET else 'another value'}"
    own = all(d.rdm_policy != POLICY_UNSET for d in domain.pci)
    if XL_RDM_POLICY_INVERTED.in_effect(version) and own:
        # Nothing in the file can define the global policy with strategy=host on this release
        # (a policy= makes xl drop the rdm= line), and every device already has its own: said
        # once, as the best the release allows, and a warning only where the reading decides
        # the verdict.
        same = len(set(verdicts.values())) == 1
        note = Finding(
            "info" if same else "warning", "rdm-policy-uninitialised", "xl",
            f'rdm = "strategy=host" with no policy is the best Xen {version} allows: its xl drops '
            f"an rdm= line that carries a valid policy= (tools/libs/util/libxlu_pci.c:"
            f"xlu_rdm_parse, since 4.15, commit bdc0799fe2), so the global RDM policy is an "
            f"uninitialised stack value (tools/xl/xl_parse.c:parse_config_data)"
            + (", and every pci= entry sets its own rdm_policy=, so it decides only the host "
               "RMRRs of no assigned device" if domain.pci else
               "; it decides every host RMRR reserved") + f". {readings_said}"
            + (": the same whatever value xl reads, so nothing needs changing" if same else
               f". {modelled}. Drop rdm= if only the assigned devices' RMRRs must be reserved "
               f"(no hotplug of other devices)"))
        return replace(worst, findings=(note,) + worst.findings)
    if XL_RDM_POLICY_INVERTED.in_effect(version):
        write = ("Xen 4.15+ xl drops an rdm= line that carries a valid policy, so give every pci= entry "
                 "its own rdm_policy= and drop rdm= unless the other devices' RMRRs must be reserved "
                 "(hotplug)")
    else:
        write = 'write it: rdm = "strategy=host,policy=strict" (or policy=relaxed)'
    note = Finding(
        "warning", "rdm-policy-uninitialised", "xl",
        f"rdm= has no valid policy=: xl copies an uninitialised stack value into the global RDM "
        f"policy (tools/xl/xl_parse.c:parse_config_data), and pci= entries without rdm_policy= "
        f"inherit it. {readings_said}. {modelled}. Make the policy explicit; {write}")
    return replace(worst, findings=(note,) + worst.findings)


def plan_readings(domain: DomainConfig, host: Host, xen_version: XenVersion | None = None,
                  options: Options | None = None) -> tuple[tuple[str, Plan], ...]:
    """The plan of each reading policy_readings gives, alone (no remediation, no release
    comparison): plan() models only the worst; a caller that must hold for every reading (a
    remedy verified) plans them all. (("", plan), ) when every policy is defined or
    rdm_forcecheck decides them."""
    options = replace(options or Options(), remediate=False, compare_versions=False)
    readings = [] if domain.rdm_forcecheck is not None else policy_readings(domain)
    if not readings:
        return (("", plan(domain, host, xen_version, options)),)
    version = xen_version or domain.xen_version
    return tuple((pol, _run_stages(d, host, version, options)) for pol, d in readings)


def policy_readings(domain: DomainConfig) -> list[tuple[str, DomainConfig]]:
    """What an uninitialised policy can stand for: 0 (strict), 1 (relaxed) or any other value
    (the config as read), or [] when every policy libxl uses is defined."""
    glob = domain.rdm.policy == POLICY_UNSET and domain.rdm.strategy == STRATEGY_HOST
    if domain.type == "pv" or not (glob or any(d.rdm_policy == POLICY_UNSET for d in domain.pci)):
        return []
    out = []
    for pol in (POLICY_STRICT, POLICY_RELAXED):
        pci = tuple(replace(d, rdm_policy=pol) if d.rdm_policy == POLICY_UNSET else d for d in domain.pci)
        rdm = replace(domain.rdm, policy=pol) if domain.rdm.policy == POLICY_UNSET else domain.rdm
        out.append((pol, replace(domain, rdm=rdm, pci=pci)))
    return out + [(POLICY_UNSET, domain)]


def _run_stages(domain: DomainConfig, host: Host, version: XenVersion, options: Options) -> Plan:
    from xlrmrr import libxc, libxl
    from xlrmrr.hvmloader.main import build as run_hvmloader

    layout = libxl.build(domain, host, version, hap_available=options.hap_available)
    findings = list(layout.findings)
    duplicates = duplicate_pci(domain)
    blocked = layout.failed
    degraded = False
    xc = hv = loader = None
    info = None
    starts = None       # _assigned_rmrr_starts(domain, host), once asked
    dup_findings: list[Finding] = []
    if domain.type != "pv" and not layout.failed:
        xc = libxc.build(layout, domain.max_vcpus or domain.vcpus, domain.vcpus, domain.apic,
                         options.firmware_sizes, options.hvmloader_size)
        findings.extend(xc.findings)
        info = xc.hvm_info
        blocked = blocked or xc.failed
        if not blocked and domain.pci and domain.type == "hvm":
            hv = _assign_devices(_first_entries(domain, duplicates), host, layout.rdms, xc.populated, version,
                                 layout.hap)
            findings.extend(hv.findings)
            blocked, degraded = hv.blocked, hv.degraded
            if duplicates:
                dup_findings = _duplicate_findings(duplicates, domain.type)
                findings.extend(dup_findings)
                blocked = True
        if not blocked and domain.type == "hvm":
            loader = run_hvmloader(layout, domain, host, version, options.bios_base,
                                   options.acpi_end)
            findings.extend(loader.findings)
            blocked = blocked or loader.failed
            assigned_starts = starts = _assigned_rmrr_starts(domain, host)
            degraded = degraded or any(assigned_starts.intersection(o.addrs)
                                       for o in loader.rdm_overlaps)
    if domain.type == "pv" and domain.pci and not layout.failed:
        # PV: no guest-physical map to conflict with (RMRRs go into the IOMMU only), but the
        # shared-RMRR rule of intel_iommu_assign_device applies to every guest type.
        hv = _assign_devices(_first_entries(domain, duplicates), host, (), (), version)
        findings.extend(hv.findings)
        blocked, degraded = hv.blocked, hv.degraded
        if duplicates:
            dup_findings = _duplicate_findings(duplicates, domain.type)
            findings.extend(dup_findings)
            blocked = True
    not_exposed: set[int] = set()
    if domain.type == "hvm" and not blocked:
        exposed = {r.start for r in layout.rdms if r.exposed}
        if starts is None:
            starts = _assigned_rmrr_starts(domain, host)
        not_exposed = starts - exposed
        degraded = degraded or bool(not_exposed)
        missing = sorted(not_exposed - {r.start for r in layout.rdms})     # libxl never saw these
        if missing:
            findings.append(Finding(
                "warning", "rmrr-not-in-e820", "libxl",
                f"RMRR(s) of assigned devices at {', '.join(hexa(m) for m in missing[:8])}"
                f"{' ...' if len(missing) > 8 else ''} are not in the guest's e820: the guest OS and "
                f"hvmloader may use those addresses for RAM or BARs", tuple(missing[:8])))
    for r in layout.rdms:
        if r.assigned and not r.exposed and not r.conflict:
            findings.append(Finding(
                "warning", "rdm-not-exposed", "libxl",
                f"the RMRR at {hexa(r.start)} of {_names(r.assigned)} keeps policy INVALID (Xen "
                f"{version} does not default per-device policies inside construct_rdm): it is not in the "
                f"guest's e820, so the guest may place BARs or other mappings over it", (r.start,)))
            degraded = True
        if r.assigned and r.conflict and not r.exposed:
            degraded = True
    verdict = VERDICT_BLOCKED if blocked else VERDICT_DEGRADED if degraded else VERDICT_OK
    causes: tuple[Cause, ...] = ()
    if not options.explain:
        pass
    elif verdict == VERDICT_BLOCKED:
        causes = (Cause(_blocked_cause(layout, xc, hv, dup_findings, loader)),)
    elif verdict == VERDICT_DEGRADED:
        causes = _degraded_causes(domain, host, layout, hv, loader, not_exposed, starts)
    if verdict == VERDICT_OK and host.rmrrs_unknown and (
            domain.pci or domain.rdm.strategy == STRATEGY_HOST):
        verdict = VERDICT_UNKNOWN
        findings.append(Finding(
            "warning", "rmrrs-unknown", "xen",
            f"{host.rmrrs_unknown}, so whether this guest's "
            f"{'devices have RMRRs' if domain.pci else 'rdm strategy=host reserves any RMRR'} "
            f"cannot be told: the layout shown is the one without RMRRs; give the DMAR table "
            f"(--dmar, --acpidump, --snapshot) or `xl dmesg` of a boot with iommu=verbose"))
    return Plan(domain, host, version, layout, xc, info, hv, loader, unique(findings), verdict,
                EXIT_FOR[verdict], options=options, causes=causes)


def _first_error(findings) -> str:
    """`component: its first sentence` of the first error among a stage's findings (any full
    stop and blank ends the sentence here: a headline, the findings say the rest)."""
    import re

    f = next((f for f in findings if f.severity == "error"), None)
    if f is None:
        return "see the findings"
    first = re.split(r"(?<=[.!?])\s+", f.message, maxsplit=1)[0]
    return f"{f.component}: {first}"


def _blocked_cause(layout, xc, hv, dup_findings, loader) -> str:
    """Why creation fails, from the stage that stops it (not the first error of any kind: a
    firmware finding of the host comes before the stages' own)."""
    if layout.failed:
        strict = next((r for r in layout.rdms if r.conflict and r.policy == POLICY_STRICT), None)
        if strict is not None:
            who = (f"of {_names(strict.assigned)}" if strict.assigned else
                   f"of {_names(strict.devices)}, which this guest does not have" if strict.devices
                   else "of no device of this guest")
            return (f"libxl: the RMRR at {hexa(strict.start)} ({who}; policy strict) overlaps "
                    f"guest RAM: \"RDM conflict at {hexa(strict.start)}.\"")
        return _first_error(layout.findings)
    if xc is not None and xc.failed:
        return _first_error(xc.findings)
    if hv is not None and hv.blocked:
        return _first_error(hv.findings)
    if dup_findings:
        return _first_error(dup_findings)
    if loader is not None and loader.failed:
        return _first_error(loader.findings)
    return "see the findings"


def _degraded_causes(domain, host, layout, hv, loader, not_exposed, starts=None) -> tuple[Cause, ...]:
    """Why the guest starts without every assigned device's RMRR honoured, one Cause per
    reason, the root cause of each RMRR said once: libxl dropping it (relaxed) before the
    hypervisor leaving guest RAM over it."""
    from xlrmrr.host.groups import GROUP_PARTIAL
    from xlrmrr.hypervisor.results import RUN_BUSY, RUN_IDENTITY, RUN_IOMMU, RUN_MAPPED

    out: list[Cause] = []
    said: set[int] = set()          # RMRR starts already explained
    for r in layout.rdms:
        if r.assigned and r.conflict and not r.exposed:
            out.append(Cause(f"libxl drops the RMRR at {hexa(r.start)} of {_names(r.assigned)} "
                             f"(policy {r.requested_policy}): guest RAM stays over it",
                             r.assigned, CELL_RELAXED))
            said.add(r.start)
        elif r.assigned and not r.exposed and not r.conflict:
            out.append(Cause(f"the RMRR at {hexa(r.start)} of {_names(r.assigned)} keeps policy "
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
                out.append(Cause(f"the RMRR sharing group of {_names(u.here)} is split: "
                                 f"{_names(u.elsewhere)} {'stays' if one else 'stay'} in dom0 or "
                                 f"another guest, which {'keeps its' if one else 'keep their'} "
                                 f"1:1 mapping of the same range", u.here, CELL_SPLIT))
        for f in hv.findings:
            if f.code == "rmrr-below-bridge":
                text = f.message.split(": Xen keeps", 1)[0]
                sbdf = next((d.sbdf for d in hv.devices if text.startswith(str(d.sbdf))), None)
                out.append(Cause(f"{text}: it gets no 1:1 mapping of the range",
                                 (sbdf,) if sbdf else (), CELL_BRIDGE))
    if loader is not None:
        if starts is None:
            starts = _assigned_rmrr_starts(domain, host)
        for f in loader.findings:
            hit = starts.intersection(f.addrs)
            if f.code == "ram-relocated-over-rdm" and hit:
                # "hvmloader moves guest RAM to [...] over the RDM at X that libxl did not check"
                out.append(Cause(f.message, _owners(domain, host, layout, hit), CELL_OVERLAID))
            elif f.code in ("bar-over-rdm", "bar64-over-rdm") and hit:
                # "pci dev D bar N at B overlaps the RDM at X"
                out.append(Cause("hvmloader: " + f.message.split(": ", 1)[0],
                                 _owners(domain, host, layout, hit), CELL_OVERLAID))
    for start in sorted(not_exposed - said - {r.start for r in layout.rdms}):
        owners = _owners(domain, host, layout, {start})
        out.append(Cause(f"the RMRR at {hexa(start)} of {_names(owners) or 'an assigned device'} "
                         f"is not in the guest's e820 (libxl never selected it)", owners,
                         CELL_NOT_IN_E820))
    return tuple(dict.fromkeys(out)) or (Cause("see the findings"),)


def _owners(domain, host, layout, starts) -> tuple[Sbdf, ...]:
    """The guest's devices whose RMRRs start at these addresses: libxl's view where it selected
    the RDM, else the host RMRRs' scopes."""
    out = [s for r in layout.rdms if r.start in starts for s in r.assigned]
    if not out:
        from xlrmrr.host.index import RmrrIndex

        index = RmrrIndex(host)
        mine = {d.sbdf for d in domain.pci if d.sbdf is not None}
        out = [dev for rmrr in host.rmrrs if rmrr.start_pfn << 12 in starts
               for dev in rmrr.devices if dev in mine and rmrr in index.rmrrs(dev)]
    return tuple(dict.fromkeys(out))


# xl lint findings (xlcfg) that a plan finding says again with more (code of the lint -> code of
# the plan's): the same warning is said once.
RESTATED = {"rdm-policy-unset": "rdm-policy-uninitialised"}


def unique(findings) -> tuple[Finding, ...]:
    """The findings without repeats (two pci= entries of one device used to say everything about
    it twice; an xl lint line that a plan finding restates, RESTATED), in first-seen order."""
    codes = {f.code for f in findings}
    seen: set = set()
    out = []
    for f in findings:
        if RESTATED.get(f.code) in codes:
            continue
        key = (f.severity, f.code, f.component, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return tuple(out)


def _same_device(a, b) -> bool:
    """Two pci= entries that assign the same host function (`BB:DD.*` assigns every function)."""
    if a.sbdf is None or b.sbdf is None:
        return False
    if (a.sbdf.seg, a.sbdf.bus, a.sbdf.dev) != (b.sbdf.seg, b.sbdf.bus, b.sbdf.dev):
        return False
    return LIBXL_PCI_FUNC_ALL in (a.vfunc_mask, b.vfunc_mask) or a.sbdf.fn == b.sbdf.fn


def duplicate_pci(domain: DomainConfig) -> tuple[tuple[Any, Any], ...]:
    """(first entry, later entry) for each pci= entry that assigns a function an earlier entry
    already assigns (the earliest such entry, as _same_device decides). Linear in the entries:
    per slot (seg, bus, dev) the first entry, the first `BB:DD.*` entry and the first entry
    per function are kept, each as (position, entry)."""
    out = []
    slots: dict[tuple[int, int, int], tuple[Any, Any, dict[int, Any]]] = {}
    for i, d in enumerate(domain.pci):
        s = d.sbdf
        if s is None:
            continue
        key = (s.seg, s.bus, s.dev)
        whole = d.vfunc_mask == LIBXL_PCI_FUNC_ALL
        slot = slots.get(key)
        if slot is None:
            slots[key] = ((i, d), (i, d) if whole else None, {s.fn: (i, d)})
            continue
        first, first_whole, by_fn = slot
        if whole:
            found = first
        else:
            found = min((x for x in (first_whole, by_fn.get(s.fn)) if x is not None),
                        default=None, key=lambda x: x[0])
        if found is not None:
            out.append((found[1], d))
        if whole and first_whole is None:
            slots[key] = (first, (i, d), by_fn)
        by_fn.setdefault(s.fn, (i, d))
    return tuple(out)


def _first_entries(domain: DomainConfig, duplicates=None) -> DomainConfig:
    """The config with each device's first pci= entry only: the assignments that succeed.
    duplicates: duplicate_pci(domain), where the caller has it."""
    later = {id(d) for _first, d in (duplicate_pci(domain) if duplicates is None
                                     else duplicates)}
    if not later:
        return domain
    return replace(domain, pci=tuple(d for d in domain.pci if id(d) not in later))


def _duplicate_findings(duplicates, guest_type: str) -> list[Finding]:
    """libxl__device_pci_add runs once per pci= entry. The first assigns the device to the guest;
    for the second Xen's device_assigned() finds it no longer owned by dom0 and returns -EBUSY
    (xen/drivers/passthrough/pci.c), so creation fails (HVM: xc_test_assign_device; PV:
    xc_assign_device)."""
    out = []
    for first, later in duplicates:
        sbdf = later.sbdf
        if guest_type == "hvm":
            said = (f"xc_test_assign_device fails and libxl prints `PCI device {sbdf} already "
                    f"assigned to a different guest?'")
        else:
            said = "libxl prints `xc_assign_device failed: Device or resource busy'"
        out.append(Finding(
            "error", "pci-duplicate", "libxl",
            f"pci= (line {later.line}) assigns {sbdf} twice: `{first.spec}' and `{later.spec}'. "
            f"libxl__device_pci_add runs once per entry; the first assigns the device to this guest, "
            f"so for the second Xen's device_assigned() finds it no longer owned by dom0 (-EBUSY), "
            f"{said}, and creation fails. Remove the duplicate entry `{later.spec}'"))
    return out


def _assign_devices(domain, host, rdms, populated, version, hap=None):
    """The hypervisor stage, imported only for guests that assign devices (start-up time).
    hap: libxl's decision (config hap=, else the host's HAP): the IOMMU shares the EPT only
    with HAP; None for a PV guest (no p2m)."""
    from xlrmrr.hypervisor.assignment import assign_devices

    return assign_devices(domain, host, rdms, populated, xen_version=version, shared_pt=hap)


def _assigned_rmrr_starts(domain: DomainConfig, host: Host) -> set[int]:
    """Start addresses of the host RMRRs Xen maps for the functions libxl assigns. An RMRR
    [X, X] with X page-aligned has no page: Xen reserves and maps none of it, any release."""
    if not domain.pci:
        return set()
    from xlrmrr.host.index import RmrrIndex
    from xlrmrr.hypervisor.assignment import guest_functions

    index = RmrrIndex(host)
    return {r.start_pfn << 12 for s in guest_functions(domain, host) for r in index.rmrrs(s)
            if r.nr_pages}


def _names(sbdfs) -> str:
    return ", ".join(str(s) for s in sbdfs)


def design_domain(domain: DomainConfig, xen_domain: DomainConfig) -> DomainConfig:
    """rdm_forcecheck, the original design's spelling, as libxl settings: 1 reserves every host
    RMRR and fails if any cannot be reserved (strategy host + strict, devices without a policy
    strict); 0 reserves only the assigned devices' (strategy ignore). xen_domain: the config
    as xl reads it (the key ignored)."""
    if domain.rdm_forcecheck:
        pci = tuple(replace(d, rdm_policy=POLICY_STRICT) if d.rdm_policy in (POLICY_INVALID, POLICY_UNSET)
                    else d for d in xen_domain.pci)
        return replace(xen_domain, rdm=RdmReserve(STRATEGY_HOST, POLICY_STRICT), pci=pci,
                       rdm_forcecheck=None)
    return replace(xen_domain, rdm=RdmReserve(STRATEGY_IGNORE, xen_domain.rdm.policy),
                   rdm_forcecheck=None)


def _design(domain, xen_domain, host, version, options, xen_plan: Plan):
    """The plan under rdm_forcecheck's semantics (design_domain), with a finding comparing it
    with what Xen itself does."""
    design_dom = design_domain(domain, xen_domain)
    if domain.rdm_forcecheck:
        spelled = 'rdm = "strategy=host,policy=strict"'
    else:
        spelled = "no rdm= line (strategy=ignore; each pci= device's RMRRs, per-device policy strict)"
    design = _run(design_dom, host, version, options)
    note = Finding(
        "info" if design.verdict == xen_plan.verdict else "warning", "rdm-forcecheck-outcome", "xl",
        f"outcome under the original design's rdm_forcecheck={domain.rdm_forcecheck} semantics "
        f"({spelled}): verdict {design.verdict}; Xen {version} itself, which ignores the key, with "
        f"this config as written: verdict {xen_plan.verdict}")
    design = replace(design, findings=(note,) + design.findings)
    return design, "design", xen_plan.verdict


def _summary(p: Plan) -> dict:
    lx = p.libxl
    errors = [f for f in p.findings if f.severity == "error"]
    return {
        "type": p.domain.type,
        "blocker": f"{errors[0].component}: {_first_sentence(errors[0].message)}" if errors else "",
        "verdict": p.verdict,
        "lowmem_end": None if lx.stopped else lx.lowmem_end,
        "highmem_end": None if lx.stopped else lx.highmem_end,
        "exposed": tuple(hexa(r.start) for r in lx.rdms if r.exposed),
        "e820": p.hvmloader.e820 if p.hvmloader else (),
    }


def _first_sentence(message: str) -> str:
    """The blocking message itself, without the explanation that follows it (a device class's
    RMRR text, say): up to the first full stop that a capital letter follows."""
    import re

    return re.split(r"(?<=\.)\s+(?=[A-Z])", message, maxsplit=1)[0]


def _stage_band(v: XenVersion, domain: DomainConfig, host: Host, lite: bool = False,
                memo: dict | None = None) -> tuple[bool, ...]:
    """The stage changes in effect at v that can alter this guest's plan; lite: without those
    that alter a plan only where an identity map fails (_ON_MAP_FAILURE). memo: where the
    release comparison keeps what it found out about the Hosts it asks about (_cannot_matter)."""
    from xlrmrr.releases import stage_key

    ignore = _cannot_matter(domain, host, memo)
    return stage_key(v, ignore | _on_map_failure() if lite else ignore)


def _on_map_failure() -> frozenset:
    """Changes that alter a plan only where an identity map of an assigned device fails: two
    releases differing only by them plan alike unless one of them has such a failure."""
    from xlrmrr.releases import XEN_ASSIGN_MAPS_FIRST

    return frozenset({XEN_ASSIGN_MAPS_FIRST})


def _map_failed(p: Plan) -> bool:
    return p.hypervisor is not None and any(
        o.rc for d in p.hypervisor.devices for o in d.outcomes)


def _rmrr_facts(host: Host, memo: dict | None = None) -> tuple[bool, bool]:
    """(every RMRR has a page, no two RMRRs overlap) of the host. memo: the answers for the
    first Host asked (the modelled release's) and the last other one, each kept with its Host
    (the comparison asks about the same Host for many releases; each answer reads every
    RMRR, and holding more Hosts than these two would keep each band's alive)."""
    if memo is not None:
        for slot in ("own", "last"):
            got = memo.get(slot)
            if got is not None and got[0] is host:
                return got[1]
    ranges = sorted((x.base, x.end) for x in host.rmrrs)
    facts = (all(x.nr_pages for x in host.rmrrs),
             all(b[0] > a[1] for a, b in zip(ranges, ranges[1:])))
    if memo is not None:
        memo["last" if "own" in memo else "own"] = (host, facts)
    return facts


def _cannot_matter(domain: DomainConfig, host: Host, memo: dict | None = None) -> frozenset:
    """The stage changes that cannot alter this guest's plan on this host, so that releases
    differing only by them are planned once: each is a refusal text or a path only some
    inputs reach (the predicates follow the code each change gates). memo: _rmrr_facts'."""
    from xlrmrr import releases as r

    out = set()
    all_paged, disjoint = _rmrr_facts(host, memo)
    pod = (domain.max_memkb is not None and domain.target_memkb is not None
           and domain.target_memkb < domain.max_memkb and domain.type != "pv")
    if not (domain.pci and pod):
        out.add(r.LIBXL_POD_IOMMU_MESSAGE)
    if not (domain.pci and (not host.vtd_enabled or domain.type == "pvh")):
        out.add(r.LIBXL_PASSTHROUGH_SETDEFAULT)
    if all_paged:
        out.add(r.XEN_RDM_ZERO_PAGES_SKIPPED)
    # only a passed-through 64-bit BAR over 1 GiB is placed differently (hvmloader pci_setup)
    slots = {(d.sbdf.seg, d.sbdf.bus, d.sbdf.dev) for d in domain.pci if d.sbdf is not None}
    if not any(b.is_64bit and b.size > 1 << 30 for f in host.devices
               if (f.sbdf.seg, f.sbdf.bus, f.sbdf.dev) in slots for b in f.bars):
        out.add(r.HVMLOADER_HUGE_BARS_HIGH)
    # -EADDRINUSE (or, before, shared pages) needs two different RMRRs that overlap; Xen's own
    # DMAR and rmrr= parsing refuse those, only host data given otherwise can have them
    if disjoint:
        out.add(r.XEN_IOMMU_IDENTITY_MAPPING)
    return frozenset(out)


def _host_key(host: Host) -> tuple:
    """What of a Host the stages read (not its findings, source or recorded release)."""
    return (host.rmrrs, host.vtd_enabled, host.devices, host.e820, host.topology_known,
            host.namespace_devices)


def _dom_key(domain: DomainConfig) -> DomainConfig:
    return replace(domain, xen_version=NEWEST_XEN)


def _e820_diff(theirs, mine) -> str:
    from xlrmrr.common import E820_NAMES

    def show(entries):
        items = [f"{E820_NAMES.get(e.type, e.type)} [{hexa(e.addr)}, {hexa(e.addr + e.size)})"
                 for e in entries[:3]]
        return ", ".join(items) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")

    mine_set, theirs_set = set(mine), set(theirs)
    added = [e for e in theirs if e not in mine_set]
    lacking = [e for e in mine if e not in theirs_set]
    parts = []
    if added:
        parts.append("has " + show(added))
    if lacking:
        parts.append("lacks " + show(lacking))
    return "guest e820 " + "; ".join(parts) if parts else "guest e820 entries in another order"


def _differences(theirs: dict, mine: dict) -> tuple[str, ...]:
    diffs = []
    if theirs["type"] != mine["type"]:
        diffs.append(f"xl reads the guest as {theirs['type'].upper()} instead of {mine['type'].upper()}")
    if theirs["verdict"] != mine["verdict"]:
        diffs.append(f"verdict {theirs['verdict']} instead of {mine['verdict']}")
    for key in ("lowmem_end", "highmem_end"):
        if theirs[key] != mine[key] and None not in (theirs[key], mine[key]):
            diffs.append(f"{key} {hexa(theirs[key])} instead of {hexa(mine[key])}")
    both_run = VERDICT_BLOCKED not in (theirs["verdict"], mine["verdict"])
    if theirs["verdict"] == VERDICT_BLOCKED and theirs["blocker"] != mine["blocker"]:
        diffs.append(f"fails in {theirs['blocker']}")
    if both_run and theirs["exposed"] != mine["exposed"]:
        diffs.append(f"RDMs in the e820: {', '.join(theirs['exposed']) or 'none'} instead of "
                     f"{', '.join(mine['exposed']) or 'none'}")
    if both_run and theirs["e820"] != mine["e820"] and mine["e820"] and theirs["e820"]:
        diffs.append(_e820_diff(theirs["e820"], mine["e820"]))
    return tuple(diffs)


def _version_deltas(domain, host, version, options, base: Plan) -> tuple[VersionDelta, ...]:
    """Plan under one release per band and report the bands whose outcome differs. A band whose
    inputs (xl's reading of the file, Xen's reading of the DMAR) and stage behaviour equal those
    of one already planned is not planned again; adjacent whole bands that differ alike are
    merged. A line whose point releases behave differently from its X.Y.0 (a backported change)
    is planned per part; parts with the same outcome share a row, and only a row for the whole
    band merges with a neighbour (_band_rows)."""
    quiet = replace(options, remediate=False, compare_versions=False, xen_domain=None,
                    explain=False)
    mine = _summary(base)
    memo: dict = {}
    own_key = (_stage_band(version, domain, host, memo=memo), _dom_key(domain), _host_key(host))
    own_lite = (_stage_band(version, domain, host, lite=True, memo=memo),) + own_key[1:]
    own_quiet = not _map_failed(base)
    planned: list[tuple[tuple, tuple]] = []     # (key, (verdict, differences))
    planned_lite: list[tuple[tuple, tuple]] = []    # (lite key, result) of plans without a failed map
    rows: list[tuple[int, str, bool, str, tuple[str, ...]]] = []    # (band, name, whole, verdict, diffs)
    by_band: dict[int, list[tuple[str, XenVersion]]] = {}
    for i, part, release in _candidates(version):
        by_band.setdefault(i, []).append((part, release))
    # Band by band, so that the hosts (options.host_for_version) of one band are asked for
    # together and need not outlive it.
    for i, releases in by_band.items():
        cands = []      # (part, release, key, (domain, host)); key None: xl's refusal
        for part, release in releases:
            if options.domain_for_version is not None:
                try:
                    other_dom = options.domain_for_version(release)
                except InputError as e:
                    cands.append((part, release, None, str(e)))
                    continue
            else:
                other_dom = domain
            other_host = (options.host_for_version(release) if options.host_for_version is not None
                          else host)
            key = (_stage_band(release, other_dom, other_host, memo=memo), _dom_key(other_dom),
                   _host_key(other_host))
            cands.append((part, release, key, (other_dom, other_host)))
        x0_key = next((key for part, _r, key, _x in cands if part == "x.0"), None)
        split = any(part != "x.0" and key != x0_key for part, _r, key, _x in cands)
        results = []    # per part of the line: (verdict, diffs), or None (same outcome as mine)
        for part, release, key, got in cands:
            if part != "x.0" and not split:
                continue            # the point release reads the inputs like the line's X.Y.0
            if key is None:
                results.append((VERDICT_BLOCKED, ("xl", got)))      # named below, per row
                continue
            lite = (_stage_band(release, got[0], got[1], lite=True, memo=memo),) + key[1:]
            if key == own_key or (own_quiet and lite == own_lite):
                results.append(None)
                continue
            result = next((g for k, g in planned if k == key), None)
            if result is None:
                result = next((g for k, g in planned_lite if k == lite), None)
            if result is None:
                other = plan(got[0], got[1], release, quiet)
                theirs = _summary(other)
                result = (theirs["verdict"], _differences(theirs, mine))
                planned.append((key, result))
                if not _map_failed(other):
                    planned_lite.append((lite, result))
            results.append(result if result[1] else None)
        rows.extend(_band_rows(i, [c[1] for c in cands][:len(results)], results, version))
    # [first band index, last band index, name, verdict, diffs, whole bands only]
    groups: list[list] = []
    for i, name, whole, verdict, diffs in rows:
        g = groups[-1] if groups else None
        if g and g[5] and whole and g[1] == i - 1 and (g[3], g[4]) == (verdict, diffs):
            g[1] = i
            g[2] = f"{VERSION_BANDS[g[0]][0]}-{VERSION_BANDS[i][1]}"
        else:
            groups.append([i, i, name, verdict, diffs, whole])
    # One row per outcome: releases apart that differ from the planned one alike (the parts of
    # several lines a backport split, say 4.12.0-4.12.3 and 4.13.0-4.13.1) are listed together,
    # at the place of the first.
    rows_by_outcome: dict[tuple, list] = {}
    for g in groups:
        row = rows_by_outcome.setdefault((g[3], g[4]), [[], g[3], g[4]])
        row[0].append(g[2])
    return tuple(VersionDelta(", ".join(names), verdict, diffs)
                 for names, verdict, diffs in rows_by_outcome.values())


def _band_rows(i: int, releases, results, version: XenVersion):
    """The rows of band i from the outcome of each part of its line planned (releases[k]: the
    X.Y.0 release, then each point release that behaves differently; results[k]: (verdict,
    differences), or None where the outcome is the planned release's). Consecutive parts with
    the same outcome are one row; a row standing for the whole band may merge with neighbours.
    A change in effect from several point releases of one line (4.14.1 and 4.14.5, say) gives
    the line several parts."""
    first, last, band = VERSION_BANDS[i]
    line = f"{last.major}.{last.minor}"
    patches = [r.patch or 0 for r in releases]
    out = []
    k = 0
    while k < len(results):
        j = k
        while j + 1 < len(results) and results[j + 1] == results[k]:
            j += 1
        result = results[k]
        if result is not None:
            if k == 0 and j == len(results) - 1:
                name, whole = ((f"{line}.0", False) if len(results) == 1 and first <= version <= last
                               else (band, True))
            elif j == len(results) - 1:
                name, whole = f"{line}.{patches[k]} and later {line}.x", False
            else:
                end = patches[j + 1] - 1
                name = f"{line}.{patches[k]}" + (f"-{line}.{end}" if end != patches[k] else "")
                whole = False
            verdict, diffs = result
            if diffs[:1] == ("xl",):
                diffs = (f"xl {name} rejects the config: {diffs[1]}",)
            out.append((i, name, whole, verdict, diffs))
        k = j + 1
    return out


def _line_points(last: XenVersion) -> tuple[XenVersion, ...]:
    from xlrmrr.releases import line_x0, point_releases

    return point_releases(line_x0(last))


def _candidates(version: XenVersion) -> list[tuple[int, str, XenVersion]]:
    """(band index, part, release planned): each band's last release as X.Y.0 ("x.0"), plus
    the point releases of that line that xl reads differently from X.Y.0 ("point": 4.14.5,
    4.15.3, 4.16.1 read rdm= before pci= again)."""
    out = []
    for i, (_first, last, _band) in enumerate(VERSION_BANDS):
        out.append((i, "x.0", last))
        out.extend((i, "point", p) for p in _line_points(last))
    return out


def compared_versions(version: XenVersion) -> tuple[XenVersion, ...]:
    """The releases the report plans under: the last release of every band (the modelled
    release's own band included: it is skipped when it reads the inputs alike) and the point
    releases of every line that xl reads differently. XenVersion equality ignores the point
    release: key what is read per release by str(release)."""
    return tuple(v for _i, _part, v in _candidates(version))
