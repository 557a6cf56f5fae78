"""The driver: runs libxl -> libxc -> hypervisor -> hvmloader over immutable data into a Plan
and decides the verdict and exit status; causes.py says why, compare.py compares Xen releases,
remedies/ proposes the fixes."""

from __future__ import annotations

from dataclasses import field, replace
from typing import TYPE_CHECKING, Callable

from xlrmrr.causes import Cause, blocked_cause, degraded_causes, names
from xlrmrr.common import (
    EXIT_INPUT,
    EXIT_OK,
    Finding,
    XenVersion,
    hexa,
)
from xlrmrr.host.model import Host
from xlrmrr.pci_entries import duplicate_findings, duplicate_pci, first_entries
from xlrmrr.records import record
from xlrmrr.releases import XL_RDM_POLICY_INVERTED
from xlrmrr.remedies import Remediation
from xlrmrr.verdicts import (  # noqa: F401  (named here too: the plan's vocabulary)
    EXIT_FOR,
    RANK,
    VERDICT_BLOCKED,
    VERDICT_DEGRADED,
    VERDICT_OK,
    VERDICT_UNKNOWN,
)
from xlrmrr.xlcfg.domain import (
    POLICY_INVALID,
    POLICY_RELAXED,
    POLICY_STRICT,
    POLICY_UNSET,
    STRATEGY_HOST,
    STRATEGY_IGNORE,
    DomainConfig,
    RdmReserve,
)

if TYPE_CHECKING:     # the stages are imported when a plan runs them (start-up time)
    from xlrmrr.compare import VersionDelta
    from xlrmrr.hvmloader.model import HvmloaderResult
    from xlrmrr.hypervisor.results import AssignResult
    from xlrmrr.libxc import LibxcResult
    from xlrmrr.libxl.model import LibxlLayout


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
    # Say why a verdict is not ok (Plan.causes) and what the hypervisor's assignments mean
    # (its warnings, notes and page tables; its errors are always made); the release
    # comparison's plans, of which only the verdicts, first errors and layouts are compared
    # (compare._summary), go without.
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


@record(eq=False)
class Plan:
    """Everything xlrmrr predicts for one guest on one host."""

    domain: DomainConfig
    host: Host
    xen_version: XenVersion
    libxl: LibxlLayout | None        # None: xl refused the config
    libxc: LibxcResult | None = None  # None if libxl failed
    hvm_info: bytes | None = None    # the 48-byte hvm_info_table
    hypervisor: AssignResult | None = None   # None if not reached
    hvmloader: HvmloaderResult | None = None  # None if not reached
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
    # (the CLI decides it with the plan, cli.launch.forcecheck_launch); "" otherwise.
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
        from xlrmrr.compare import version_deltas

        deltas = version_deltas(domain, host, version, options, base, plan)
    remediation: tuple[Remediation, ...] = ()
    if options.remediate and base.verdict != VERDICT_UNKNOWN and (
            base.verdict != VERDICT_OK or any(r.conflict for r in base.libxl.rdms)
            or options.typos):
        from xlrmrr.remedies import propose

        remediation = propose(base, host, version, options, domain, plan)
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
    from xlrmrr import libxc
    from xlrmrr.hvmloader.main import build as run_hvmloader
    from xlrmrr.libxl.layout import build as run_libxl

    layout = run_libxl(domain, host, version, hap_available=options.hap_available)
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
            hv = _assign_devices(first_entries(domain, duplicates), host, layout.rdms, xc.populated, version,
                                 layout.hap, options.explain)
            findings.extend(hv.findings)
            blocked, degraded = hv.blocked, hv.degraded
            if duplicates:
                dup_findings = duplicate_findings(duplicates, domain.type)
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
        hv = _assign_devices(first_entries(domain, duplicates), host, (), (), version,
                             explain=options.explain)
        findings.extend(hv.findings)
        blocked, degraded = hv.blocked, hv.degraded
        if duplicates:
            dup_findings = duplicate_findings(duplicates, domain.type)
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
                f"the RMRR at {hexa(r.start)} of {names(r.assigned)} keeps policy INVALID (Xen "
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
        causes = (Cause(blocked_cause(layout, xc, hv, dup_findings, loader)),)
    elif verdict == VERDICT_DEGRADED:
        causes = degraded_causes(domain, host, layout, hv, loader, not_exposed, starts)
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


def _assign_devices(domain, host, rdms, populated, version, hap=None, explain=True):
    """The hypervisor stage, imported only for guests that assign devices (start-up time).
    hap: libxl's decision (config hap=, else the host's HAP): the IOMMU shares the EPT only
    with HAP; None for a PV guest (no p2m). explain: Options.explain."""
    from xlrmrr.hypervisor.assignment import assign_devices

    return assign_devices(domain, host, rdms, populated, xen_version=version, shared_pt=hap,
                          explain=explain)


def _assigned_rmrr_starts(domain: DomainConfig, host: Host) -> set[int]:
    """hypervisor.assignment.assigned_rmrr_starts, imported when a guest assigns devices (start-up
    time), asked once per plan."""
    if not domain.pci:
        return set()
    from xlrmrr.hypervisor.assignment import assigned_rmrr_starts

    return assigned_rmrr_starts(domain, host)


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


