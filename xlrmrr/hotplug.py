"""`xl pci-attach` of one device into a running guest: the hypervisor's assignment of the guest as
it was created, recomputed with the hot-plugged device added. Only the pci-attach command needs
it, so `xlrmrr create` does not load it."""

from __future__ import annotations

from xlrmrr.common import Finding, Sbdf
from xlrmrr.host.groups import GROUP_PARTIAL
from xlrmrr.hypervisor.assignment import guest_functions
from xlrmrr.hypervisor.messages import rmrr_range
from xlrmrr.hypervisor.plans import assign_for_plan
from xlrmrr.hypervisor.results import AssignResult, DeviceAssignment
from xlrmrr.records import record
from xlrmrr.xlcfg.domain import POLICY_RELAXED, POLICY_STRICT


@record(eq=False)
class AttachCheck:
    """`xl pci-attach` of one device into a guest as it was created."""

    sbdf: Sbdf
    policy: str
    created: AssignResult | None        # the guest's assignment at creation (None: no start)
    result: AssignResult | None         # creation devices + the hot-plugged one
    device: DeviceAssignment | None     # the hot-plugged device's assignment
    findings: tuple[Finding, ...]
    ok: bool
    honoured: bool
    group_partial: bool = False         # the attach leaves part of an RMRR sharing group out
    rmrrs_unknown: str = ""             # Host.rmrrs_unknown: the host data does not list RMRRs

    @property
    def clean(self) -> bool:
        """Attached, every RMRR 1:1, no sharing group newly split (else exit 3 or 1)."""
        return self.ok and self.honoured and not self.group_partial

    def to_json(self) -> dict:
        return {"device": str(self.sbdf), "policy": self.policy, "ok": self.ok,
                "honoured": self.honoured, "group_partial": self.group_partial,
                "rmrrs_known": not self.rmrrs_unknown,
                "assignment": self.device.to_json() if self.device else None,
                "findings": [f.to_json() for f in self.findings]}


def attach_check(plan, sbdf: Sbdf, policy: str = POLICY_STRICT, spec: str = "") -> AttachCheck:
    """Would `xl pci-attach GUEST SBDF` succeed on the guest the plan creates?

    xl pci-attach parses the device with no rdm_policy, so libxl defaults it to strict."""
    findings: list[Finding] = []
    created = assign_for_plan(plan)
    here = set(guest_functions(plan.domain, plan.host))
    if created is None or created.blocked or plan.verdict == "blocked":
        findings.append(Finding(
            "error", "attach-no-guest", "libxl",
            "the guest itself does not start (see the create plan), so there is nothing to "
            "attach to"))
        return AttachCheck(sbdf, policy, created, None, None, tuple(findings), False, False)
    if not plan.host.vtd_enabled:
        findings.append(Finding(
            "error", "no-iommu", "libxl",
            "passthrough not supported on this platform (Xen runs without VT-d: it rejected the "
            "host's DMAR table, see the host findings), so no device can be attached"))
        return AttachCheck(sbdf, policy, created, None, None, tuple(findings), False, False)
    if sbdf in here:
        findings.append(Finding(
            "error", "attach-already", "libxl",
            f"{sbdf} is already in this guest's pci= list: PCI device already attached to a "
            f"domain"))
        return AttachCheck(sbdf, policy, created, created, None, tuple(findings), False, False)
    spec = spec or str(sbdf)
    result = assign_for_plan(plan, extra=((spec, sbdf, policy),))
    device = next((d for d in result.devices if d.hotplug), None)
    new = [f for f in result.findings if f not in created.findings]
    findings.extend(new)
    if device is None:
        return AttachCheck(sbdf, policy, created, result, None, tuple(findings), False, False)
    rdm_starts = {r.start for r in plan.libxl.rdms if r.exposed}
    for o in device.outcomes:
        if not o.exposed and (o.start not in rdm_starts):
            findings.append(Finding(
                "info", "attach-not-reserved", "libxl",
                f"{sbdf}: RMRR {rmrr_range(o.rmrr)} was not reserved when the guest was created (its "
                f"device was not in pci= and rdm is not strategy=host), so libxl did not keep "
                f"guest RAM or BARs away from it", (o.rmrr.base,)))
    before = {u.group.members: u.kind for u in created.groups}
    partial = device.assigned and any(
        u.kind == GROUP_PARTIAL and sbdf in u.here
        and before.get(u.group.members) != GROUP_PARTIAL for u in result.groups)
    unknown = plan.host.rmrrs_unknown if device.assigned else ""
    if unknown:
        findings.append(Finding(
            "warning", "rmrrs-unknown", "xen",
            f"{unknown}, so whether {sbdf} has RMRRs cannot be told: 'every RMRR 1:1' above is "
            f"the answer without RMRRs; give the DMAR table (--dmar, --acpidump, --snapshot) or "
            f"`xl dmesg` of a boot with iommu=verbose"))
    return AttachCheck(sbdf, policy, created, result, device, tuple(findings), device.succeeds,
                       device.honoured, partial, unknown)


def parse_attach_spec(text: str) -> tuple[Sbdf, str]:
    """`BDF[,rdm_policy=strict|relaxed][,other=...]` as given to `xl pci-attach`: the device and
    its policy (xl leaves it INVALID when absent; libxl__device_pci_setdefault makes it STRICT)."""
    from xlrmrr.common import InputError
    head, *opts = text.split(",")
    try:
        sbdf = Sbdf.parse(head)
    except ValueError as e:
        raise InputError(f"SBDF: {e}") from None
    policy = POLICY_STRICT
    for opt in opts:
        key, _, value = opt.partition("=")
        if key == "rdm_policy":
            if value.lower() not in (POLICY_STRICT, POLICY_RELAXED):
                raise InputError(f"SBDF: Unknown RDM policy: {value}")
            policy = value.lower()
    return sbdf, policy
