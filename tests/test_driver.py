"""The driver: verdicts, exit statuses, rdm_forcecheck semantics, version deltas, remediation."""

from dataclasses import replace

import pytest

from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.driver import Options, plan
from xlrmrr.host.model import Host, PciFunction, Rmrr
from xlrmrr.report.create import json_text, text
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice, RdmReserve

NEW = XenVersion(4, 22)
IGD = Sbdf(0, 0, 2, 0)
USB = Sbdf(0, 0, 0x14, 0)
RMRR_IGD = Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1)
LOW_USB = Rmrr(0x3D000000, 0x3D7FFFFF, 0, (USB,), 1)
HOST = Host(rmrrs=(RMRR_IGD, LOW_USB),
            devices=(PciFunction(IGD, class_code=0x030000, vendor=0x8086),
                     PciFunction(USB, class_code=0x0C0330, vendor=0x8086)))


def dom(mem=4096, version=NEW, **kw):
    return DomainConfig(version, type="hvm", target_memkb=mem * 1024, **kw)


def dev(sbdf, policy="invalid"):
    return PciDevice(str(sbdf)[5:], sbdf, rdm_policy=policy)


def test_ok_igd_relocates():
    p = plan(dom(pci=(dev(IGD),)), HOST)
    assert (p.verdict, p.exit_status) == ("ok", 0)
    assert p.libxl.lowmem_end == 0xAD000000
    assert p.hypervisor is not None and not p.hypervisor.blocked
    assert p.hvmloader is not None and p.remediation == ()


def test_strict_usb_below_boundary_blocked_with_verified_remediation():
    # USB RMRR at 0x3d000000 (976 MiB) below the 2 GiB boundary, per-device policy strict.
    p = plan(dom(pci=(dev(USB),)), HOST)
    assert (p.verdict, p.exit_status) == ("blocked", 1)
    assert "RDM conflict at 0x3d000000." in [f.message for f in p.findings]
    changes = {r.change: r for r in p.remediation}
    # rdm_mem_boundary below the RMRR: (0x3d000000 - 1) // 1 MiB = 975
    assert changes["rdm_mem_boundary = 975"].verified
    # memory that fits below it: 0x3d000000 = 976 MiB of RAM + 8 MiB videoram
    assert changes["memory = 984 (and maxmem = 984 if the file sets maxmem)"].verified
    # mmio_hole: 4G - 0x3d000000 = 3120 MiB (within 256..3840)
    assert changes["mmio_hole = 3120"].verified
    relaxed = [r for r in p.remediation if "rdm_policy=relaxed" in r.change][0]
    assert relaxed.verified and relaxed.verdict == "degraded" and "USB controller" in relaxed.result
    # each verified change really plans ok when applied
    ok = plan(replace(dom(pci=(dev(USB),)), rdm_mem_boundary_memkb=975 * 1024), HOST)
    assert ok.verdict == "ok" and ok.libxl.lowmem_end == 0x3D000000


def test_relaxed_usb_is_degraded_exit_3():
    p = plan(dom(pci=(dev(USB, "relaxed"),)), HOST)
    assert (p.verdict, p.exit_status) == ("degraded", 3)
    assert "Ignoring RDM conflict at 0x3d000000." in [f.message for f in p.findings]
    assert p.hypervisor.degraded


def test_rdm_forcecheck_design_semantics():
    # The guest gets only the IGD; the USB RMRR (below the boundary) is another device's.
    d = replace(dom(pci=(dev(IGD),)), rdm_forcecheck=1)
    p = plan(d, HOST)
    # design: every host RMRR, strict -> the USB RMRR cannot be reserved -> blocked
    assert p.semantics == "design" and p.verdict == "blocked"
    assert p.xen_verdict == "ok"           # xl ignores the key: Xen would create it
    assert any(f.code == "rdm-forcecheck-outcome" for f in p.findings)
    p0 = plan(replace(d, rdm_forcecheck=0), HOST)
    assert p0.verdict == "ok" and p0.xen_verdict == "ok"
    assert [r.start for r in p0.libxl.rdms] == [0xAD000000]


def test_version_deltas_reported():
    # 8 GiB, strategy host relaxed, HAP: 4.14+ round lowmem_end to 2 MiB, 4.13 does not.
    h = Host(rmrrs=(RMRR_IGD, Rmrr(0xAB80A000, 0xAB81DFFF, 0, (USB,), 1)))
    p = plan(dom(8192, rdm=RdmReserve("host", "relaxed")), h)
    bands = {d.band: d for d in p.version_deltas}
    assert "4.7-4.13" in bands
    assert any("lowmem_end 0xab80a000 instead of 0xab800000" in x for x in bands["4.7-4.13"].differences)
    assert "4.14" in bands      # no NVS entry before 4.15: one e820 entry fewer
    t = text(p, "g.cfg")
    assert "Xen 4.7-4.13: " in t


def test_domain_for_version_is_used():
    seen = []

    def reparse(v):
        seen.append(v)
        return dom(version=v)
    plan(dom(), HOST, NEW, Options(domain_for_version=reparse))
    assert XenVersion(4, 13) in seen and NEW not in seen


def test_pv_guest_plans_without_hvm_stages():
    p = plan(DomainConfig(NEW, type="pv", target_memkb=1 << 20, pci=(dev(USB),)), HOST)
    assert p.verdict == "ok" and p.libxc is None and p.hvmloader is None


def test_plan_is_deterministic():
    d = dom(8192, pci=(dev(USB, "relaxed"), dev(IGD)), rdm=RdmReserve("host", "relaxed"))
    assert json_text(plan(d, HOST)) == json_text(plan(d, HOST))
    assert text(plan(d, HOST)) == text(plan(d, HOST))


def test_hotplug_remediation_offered_when_not_blocked():
    p = plan(dom(pci=(dev(USB, "relaxed"),)), HOST)
    hot = [r for r in p.remediation if "hotplug" in r.change]
    assert hot and hot[0].change.startswith('rdm = "strategy=host"') and not hot[0].verified


def test_pv_guest_still_meets_the_shared_rmrr_rule():
    shared = Host(rmrrs=(Rmrr(0xAB80A000, 0xAB81DFFF, 0, (USB, Sbdf(0, 0, 0x1D, 0)), 2),))
    p = plan(DomainConfig(NEW, type="pv", target_memkb=1 << 20, pci=(dev(USB),)), shared)
    assert p.verdict == "blocked" and p.hypervisor is not None and p.hypervisor.blocked
    assert p.libxc is None and p.hvmloader is None


def test_pvh_populates_from_pfn_0():
    p = plan(DomainConfig(NEW, type="pvh", target_memkb=1 << 20), HOST)
    # 1 GiB PVH: no VGA hole; [0, 0x40000) is one aligned 1 GiB extent
    assert [(e.gfn, e.order, e.count) for e in p.libxc.extents] == [(0, 18, 1)]
    assert p.libxl.memory_map[0].addr == 0 and p.hvmloader is None


def test_bar_over_an_assigned_rdm_is_degraded():
    # Xen 4.9: hvmloader avoids only the first RDM above pci_mem_start (xen-rdm.md 1, ecc607b185):
    # cirrus' 32 MiB BAR skips A and lands on B, an RMRR of the assigned device.
    a = Rmrr(0xF0000000, 0xF00FFFFF, 0, (USB,), 1)
    b = Rmrr(0xF2000000, 0xF20FFFFF, 0, (USB,), 1)
    d = dom(version=XenVersion(4, 9), rdm=RdmReserve("host", "strict"), pci=(dev(USB, "strict"),))
    p = plan(d, Host(rmrrs=(a, b)), XenVersion(4, 9), Options(compare_versions=False))
    assert p.verdict == "degraded" and any(f.code == "bar-over-rdm" for f in p.findings)
    assert plan(replace(d, xen_version=NEW), Host(rmrrs=(a, b)), NEW).verdict == "ok"


# The design's four cases (rdm_forcecheck x pci=) on a host with the IGD RMRR (0xad000000, above
# the boundary: always reservable) and the USB RMRR at 0x3d000000 (below it: reservable only by
# dropping RAM, which strict forbids).
@pytest.mark.parametrize("forcecheck,pci,reserved,verdict", [
    (0, (), [], "ok"),                                   # nothing assigned, nothing reserved
    (1, (), [0xAD000000, 0x3D000000], "blocked"),        # every host RMRR, for later hotplug
    (0, ("igd",), [0xAD000000], "ok"),                   # only the assigned device's
    (1, ("igd",), [0xAD000000, 0x3D000000], "blocked"),  # every host RMRR, strict
])
def test_design_four_cases(forcecheck, pci, reserved, verdict):
    d = replace(dom(pci=tuple(dev(IGD) for _ in pci)), rdm_forcecheck=forcecheck)
    p = plan(d, HOST, options=Options(compare_versions=False))
    assert p.semantics == "design" and p.verdict == verdict
    assert [r.start for r in p.libxl.rdms] == reserved
    # xl ignores the key: Xen reserves only the IGD's RMRR when it is assigned
    assert p.xen_verdict == "ok"
