"""The driver: verdicts, exit statuses, rdm_forcecheck semantics, version deltas, remediation."""

import json
from dataclasses import replace

import pytest
from conftest import row_for

from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.driver import Options, plan
from xlrmrr.host.model import Bar, Host, PciFunction, Rmrr
from xlrmrr.report.create import VERBOSE, text
from xlrmrr.report.create_json import json_text
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
    # 8 GiB, strategy host relaxed, HAP: 4.14+ round lowmem_end down to 2 MiB (0xab80a000 ->
    # 0xab800000), 4.6-4.13 do not; highmem grows by the same amount: 0x20f800000 + (0xf0000000 -
    # 0xab80a000) = 0x253ff6000 against + (0xf0000000 - 0xab800000) = 0x254000000.
    h = Host(rmrrs=(RMRR_IGD, Rmrr(0xAB80A000, 0xAB81DFFF, 0, (USB,), 1)))
    p = plan(dom(8192, rdm=RdmReserve("host", "relaxed")), h)
    deltas = p.version_deltas
    # 4.6 (no highmem entry added by hvmloader, but libxl <= 4.13 always has one) and 4.7-4.13
    # produce the same summary, up to hvmloader's ACPI NVS entry, which 4.12.4 and 4.13.2 have
    # (hvmloader e820.c:build_e820_table at RELEASE-4.12.4, RELEASE-4.13.2): two rows.
    for release in ("4.6", "4.11", "4.12.3", "4.13.1", "4.12.4", "4.13.2", "4.13.5"):
        assert row_for(deltas, release).differences[:2] == (
            "lowmem_end 0xab80a000 instead of 0xab800000",
            "highmem_end 0x253ff6000 instead of 0x254000000"), release
    assert row_for(deltas, "4.13.1") is row_for(deltas, "4.6")
    assert row_for(deltas, "4.13.2") is not row_for(deltas, "4.13.1")
    # 4.14.0: no NVS entry yet: one RESERVED [0xfc000000, 4G) instead of NVS [0xfc000000,
    # 0xfc00a000) + RESERVED [0xfc00a000, 4G) (default ACPI end 0xfc00a000); from 4.14.1 as 4.22.
    assert row_for(deltas, "4.14.0").differences == (
        "guest e820 has RESERVED [0xfc000000, 0x100000000); lacks NVS [0xfc000000, 0xfc00a000), "
        "RESERVED [0xfc00a000, 0x100000000)",)
    assert row_for(deltas, "4.14.1") is None and row_for(deltas, "4.15") is None
    assert "Xen 4.6-4.11, 4.12.0-4.12.3, 4.13.0-4.13.1: " in text(p, "g.cfg", VERBOSE)
    # the default report names the bands that differ, --verbose how (issue 11 item 6)
    assert "Other Xen releases that differ: 4.6-4.11, 4.12.0-4.12.3, 4.13.0-4.13.1; " in text(
        p, "g.cfg")


def test_version_bands_follow_the_reference_boundaries():
    from xlrmrr.compare import VERSION_BANDS
    # the releases of the named changes (releases.py): 4.7, 4.10, 4.13, 4.14, 4.15, 4.16, 4.17,
    # 4.19, 4.21, 4.22; plus Xen's rmrr= option (4.8) and its RMRR device-presence checks (4.12),
    # both modelled in host/build.py.
    assert [b for _f, _l, b in VERSION_BANDS] == [
        "4.6", "4.7", "4.8-4.9", "4.10-4.11", "4.12", "4.13", "4.14", "4.15", "4.16", "4.17",
        "4.18", "4.19-4.20", "4.21", "4.22"]


def test_comparison_plans_each_distinct_behaviour_once(monkeypatch):
    # Same domain and host for every release: only the stages' own boundaries (4.7, 4.10, 4.14,
    # 4.15, 4.16) and hvmloader's backport to 4.12.4, 4.13.2, 4.14.1 separate plans; each band
    # is planned at its last release (4.6, 4.7, 4.9, 4.11, 4.12, 4.13, ...) and its point
    # releases, the first of each stage behaviour wins (4.13.2 plans like 4.12.4, 4.14.5 like
    # 4.14.1: the PoD text and the no-IOMMU refusal cannot matter for this guest), and 4.15-4.22
    # share the modelled release's (XSA-378's overlap check needs overlapping RMRRs, which this
    # host has not; XSA-400's order matters only where a map fails, and none does here): 6
    # plans besides the modelled one.
    import xlrmrr.driver as drv
    calls = []
    real = drv._run
    monkeypatch.setattr(drv, "_run", lambda d, h, v, o: calls.append(v) or real(d, h, v, o))
    plan(dom(pci=(dev(IGD),)), HOST, NEW, Options(remediate=False))
    assert [str(v) for v in calls] == ["4.22", "4.6", "4.7", "4.11", "4.12.4", "4.14", "4.14.1"]


def test_comparison_plans_go_without_causes_and_compare_alike(monkeypatch):
    # The release comparison reads only a plan's verdict, first error and layout
    # (compare._summary): its plans are made with Options(explain=False), which leaves out the
    # causes of a verdict that is not ok and the hypervisor's warnings, notes and page tables.
    # Here the relaxed USB RMRR under guest RAM degrades every release.
    import xlrmrr.driver as drv
    seen = []
    real = drv._run
    monkeypatch.setattr(drv, "_run", lambda d, h, v, o: seen.append((str(v), o.explain))
                        or real(d, h, v, o))
    d = dom(pci=(dev(USB, "relaxed"),))
    p = plan(d, HOST, NEW, Options(remediate=False))
    assert seen[0] == ("4.22", True) and len(seen) > 1
    assert all(not explain for _v, explain in seen[1:])
    assert p.verdict == "degraded" and p.causes and p.causes[0].kind == "relaxed"
    for v, _explain in seen[1:]:
        full = plan(d, HOST, XenVersion.parse(v), Options(remediate=False, compare_versions=False))
        bare = plan(d, HOST, XenVersion.parse(v), Options(remediate=False, compare_versions=False,
                                                          explain=False))
        assert bare.causes == () and (full.verdict == "ok") == (full.causes == ())
        assert (bare.verdict, bare.libxl.lowmem_end, bare.hvmloader.e820) == (
            full.verdict, full.libxl.lowmem_end, full.hvmloader.e820)
        # the hypervisor's errors stay, in order; its warnings, notes and page tables go
        errors = [f for f in full.findings if f.severity == "error"]
        assert [f for f in bare.findings if f.severity == "error"] == errors
        assert set(bare.findings) <= set(full.findings)
        assert bare.hypervisor.page_tables == () and full.hypervisor.page_tables
        assert {f.code for f in full.findings} - {f.code for f in bare.findings} >= {
            "identity-relaxed"}         # the relaxed USB RMRR's page-by-page explanation


def test_domain_for_version_is_used():
    seen = []

    def reparse(v):
        seen.append(v)
        return dom(version=v, pci=(dev(IGD),) if v == XenVersion(4, 13) else ())
    p = plan(dom(), HOST, NEW, Options(domain_for_version=reparse))
    # the own band is read too, and left out when it reads the file alike
    assert XenVersion(4, 13) in seen and NEW in seen
    assert row_for(p.version_deltas, "4.22") is None
    # only the 4.13 reading assigns the IGD: its RMRR at 0xad000000 (above the 2 GiB boundary)
    # moves lowmem_end there from min(4 GiB - 8 MiB video, 0xf0000000) = 0xf0000000; 4.13 leaves
    # the device's policy INVALID (no defaulting before 4.14), so the RMRR is not exposed: degraded
    for release in ("4.13", "4.13.1", "4.13.2"):
        assert row_for(p.version_deltas, release).differences[:2] == (
            "verdict degraded instead of ok", "lowmem_end 0xad000000 instead of 0xf0000000")


def test_pv_guest_plans_without_hvm_stages():
    p = plan(DomainConfig(NEW, type="pv", target_memkb=1 << 20, pci=(dev(USB),)), HOST)
    assert p.verdict == "ok" and p.libxc is None and p.hvmloader is None


def test_plan_is_deterministic():
    d = dom(8192, pci=(dev(USB, "relaxed"), dev(IGD)), rdm=RdmReserve("host", "relaxed"))
    assert json_text(plan(d, HOST)) == json_text(plan(d, HOST))
    assert text(plan(d, HOST)) == text(plan(d, HOST))


def test_no_hotplug_advice_for_devices_the_user_did_not_name():
    # Relaxed USB: degraded. The IGD (00:02.0) also has an RMRR, but the user named only the
    # USB controller: create proposes nothing about reserving the IGD's RMRR for a later
    # hotplug (pci-attach GUEST 00:02.0 does, for the device named).
    p = plan(dom(pci=(dev(USB, "relaxed"),)), HOST)
    assert p.verdict == "degraded"
    assert not [r for r in p.remediation if "hotplug" in r.change or "strategy=host" in r.change]


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
    # Xen 4.9: hvmloader avoids only the first RDM above pci_mem_start (pci.c:find_next_rmrr, ecc607b185):
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


V413 = XenVersion(4, 13)


def test_unexposed_rdm_gets_a_verified_explicit_strict_proposal():
    # 4.13, strategy ignore, IGD without rdm_policy: construct_rdm keeps the per-device policy
    # INVALID (defaulting came in 4.14, 6fdb8eef87), so the RMRR at 0xad000000 (above the 2 GiB
    # boundary, relocated below) is not in the e820: degraded. Written strict it is exposed: ok.
    p = plan(dom(version=V413, pci=(dev(IGD),)), HOST, V413)
    assert p.verdict == "degraded" and any(f.code == "rdm-not-exposed" for f in p.findings)
    changes = {r.change: r for r in p.remediation}
    strict = changes["pci = [ '00:02.0,rdm_policy=strict' ] (explicit rdm_policy=strict)"]
    assert strict.verified and strict.verdict == "ok" and strict.result.startswith("verified: verdict ok")
    fixed = plan(dom(version=V413, pci=(dev(IGD, "strict"),)), HOST, V413)
    assert fixed.verdict == "ok" and [r.exposed for r in fixed.libxl.rdms] == [True]


def test_rmrr_libxl_never_selected_gets_strategy_host_proposal():
    # 4.13 uses only the first per-device entry: the IGD's second RMRR at 0xb0000000 is never
    # selected (rmrr-not-in-e820) although the device is already strict, so the only fix is
    # strategy=host with an explicit policy: both RMRRs are above the boundary, lowmem_end moves
    # to the lower one (0xad000000) and neither overlaps RAM: ok.
    second = Rmrr(0xB0000000, 0xB00FFFFF, 0, (IGD,), 1)
    host = replace(HOST, rmrrs=(RMRR_IGD, second, LOW_USB))
    p = plan(dom(version=V413, pci=(dev(IGD, "strict"),)), host, V413)
    assert p.verdict == "degraded" and any(f.code == "rmrr-not-in-e820" for f in p.findings)
    changes = {r.change: r for r in p.remediation}
    assert not any("rdm_policy=strict" in c for c in changes)       # already strict
    rem = changes['rdm = "strategy=host,policy=strict"']
    # USB's RMRR at 0x3d000000 is below the boundary and strict too: RDM conflict -> blocked
    assert not rem.verified and rem.verdict == "blocked" and rem.result.startswith("checked, does not help")


def test_remediation_that_does_not_help_is_never_verified():
    from xlrmrr.driver import RANK
    from xlrmrr.remedies.create import Trial
    base = plan(dom(pci=(dev(USB),)), HOST, NEW, Options(compare_versions=False))
    assert base.verdict == "blocked"
    same = Trial(base, HOST, NEW, base.options, plan).check("nothing", base.domain)
    assert (same.verified, same.verdict) == (False, "blocked")
    assert same.result.startswith("checked, does not help")
    # and across several plans: verified exactly when the re-plan is better than the original
    cases = [(dom(pci=(dev(USB),)), NEW), (dom(pci=(dev(USB, "relaxed"),)), NEW),
             (dom(version=V413, pci=(dev(IGD),)), V413), (dom(8192, pci=(dev(USB), dev(IGD))), NEW)]
    seen = 0
    for d, v in cases:
        p = plan(d, HOST, v)
        for r in p.remediation:
            if r.verdict is not None:
                seen += 1
                assert r.verified == (RANK[r.verdict] < RANK[p.verdict]), r
    assert seen >= 6


def test_uninitialised_policy_takes_the_worst_reading():
    # rdm = "strategy=host" (4.15+: policy is stack garbage). The USB RMRR at 0x3d000000 lies
    # below the 2 GiB boundary in guest RAM: read as 0 (strict) libxl fails "RDM conflict at
    # 0x3d000000."; as 1 or anything else it only warns (no assigned device: ok). Worst: blocked.
    p = plan(dom(rdm=RdmReserve("host", "unset")), HOST)
    assert (p.verdict, p.exit_status) == ("blocked", 1)
    note = p.findings[0]
    assert (note.code, note.component) == ("rdm-policy-uninitialised", "xl")
    assert "as 0 (strict, a zeroed stack) the verdict is blocked; as 1 (relaxed) ok" in note.message
    assert "RDM conflict at 0x3d000000." in [f.message for f in p.findings]
    assert {r["policy"] for r in json.loads(json_text(p))["rdms"]} == {"strict"}


def test_uninitialised_device_policy_any_other_value_is_worst_and_json_stays_in_schema():
    # IGD inherits the garbage; its RMRR at 0xad000000 is above the boundary, so 0 and 1 both
    # give ok, but any other value makes libxl refuse the device at assignment ("unknown rdm
    # check flag."): blocked. In JSON such an entry reads "relaxed" (construct_rdm treats every
    # non-strict value alike), never "unset".
    p = plan(dom(pci=(dev(IGD, "unset"),), rdm=RdmReserve("host", "unset")), Host(rmrrs=(RMRR_IGD,)))
    assert p.verdict == "blocked"
    assert "ok; as 1 (relaxed) ok; as any other value" in p.findings[0].message
    rdms = json.loads(json_text(p))["rdms"]
    assert [(r["policy"], r["requested_policy"]) for r in rdms] == [("relaxed", "unset")]


def test_memory_fix_for_an_rdm_above_4g_leaves_room_for_64_bit_bars():
    # IGD RMRR at 0x480000000 (18 GiB) in a 20 GiB guest's high RAM: strict conflict, blocked.
    # A memory that ends highmem exactly at the RDM is not enough: the low MMIO hole (192 MiB
    # up to 0xfc000000) cannot hold cirrus 32 + platform 16 + the IGD's 256 MiB 64-bit BAR, so
    # hvmloader moves that BAR above highmem_end, where it does not avoid RDMs (hvmloader pci.c:pci_setup).
    # Room for it: (0x480000000 - 256 MiB) aligned down to 256 MiB = 0x470000000; memory =
    # (0x470000000 - 4G + lowmem 0xf0000000) / 1 MiB + 8 MiB videoram = 17920 + 8 = 17928.
    igd = PciFunction(IGD, class_code=0x030000, vendor=0x8086,
                      bars=(Bar(0, 16 << 20, is_64bit=True),
                            Bar(2, 256 << 20, is_64bit=True, prefetchable=True)))
    host = Host(rmrrs=(Rmrr(0x480000000, 0x4803FFFFF, 0, (IGD,), 1),), devices=(igd,))
    p = plan(dom(20480, pci=(dev(IGD),)), host, NEW, Options(compare_versions=False))
    assert p.verdict == "blocked" and "RDM conflict at 0x480000000." in [f.message for f in p.findings]
    mem = [r for r in p.remediation if r.change.startswith("memory")][0]
    assert mem.change.startswith("memory = 17928") and (mem.verified, mem.verdict) == (True, "ok")
    fixed = plan(dom(17928, pci=(dev(IGD),)), host, NEW, Options(compare_versions=False))
    assert fixed.verdict == "ok" and fixed.libxl.highmem_end == 0x470000000
    assert [b.base for b in fixed.hvmloader.bars if b.high] == [0x470000000]
    # ending highmem right at the RDM puts the BAR on it: degraded
    at = plan(dom(18184, pci=(dev(IGD),)), host, NEW, Options(compare_versions=False))
    assert at.verdict == "degraded" and any(f.code == "bar64-over-rdm" for f in at.findings)


def _dup_usb(second_spec="0000:00:14.0", second=USB):
    return dom(512, pci=(PciDevice("00:14.0", USB, rdm_policy="invalid", line=4),
                          PciDevice(second_spec, second, rdm_policy="invalid", line=4)))


@pytest.mark.parametrize("guest_type", ["hvm", "pv"])
def test_same_device_twice_fails_assignment(guest_type):
    # The first libxl__device_pci_add assigns 00:14.0 to the guest; for the second, Xen's
    # device_assigned() no longer finds it owned by dom0 and returns -EBUSY
    # (xen/drivers/passthrough/pci.c), so libxl fails and xl destroys the half-built guest.
    # 512 MiB: RAM ends at 512 - 8 MiB videoram = 0x1f800000, below the USB RMRR at 0x3d000000,
    # so the duplicate is the only reason to fail.
    p = plan(replace(_dup_usb(), type=guest_type), HOST)
    errors = [f for f in p.findings if f.severity == "error"]
    dup = [f for f in errors if f.code == "pci-duplicate"]
    assert (p.verdict, p.exit_status) == ("blocked", 1)
    assert len(dup) == 1 and dup[0].component == "libxl"
    assert "`00:14.0' and `0000:00:14.0'" in dup[0].message
    assert "Remove the duplicate entry `0000:00:14.0'" in dup[0].message
    if guest_type == "hvm":
        assert "PCI device 0000:00:14.0 already assigned to a different guest?" in dup[0].message
        assert p.hvmloader is None          # the guest never starts
    # every finding is said once, though the device is listed twice
    keys = [(f.severity, f.code, f.component, f.message) for f in p.findings]
    assert len(keys) == len(set(keys))
    fix = [r for r in p.remediation if "duplicate" in r.change]
    assert fix and fix[0].change.startswith("pci = [ '00:14.0' ]")


def test_whole_slot_and_one_of_its_functions_is_a_duplicate():
    # `00:14.*' assigns every function of slot 0x14, so `00:14.0' after it assigns 00:14.0 again
    first = PciDevice("00:14.*", USB, vfunc_mask=0xFFFFFFFF, rdm_policy="invalid", line=4)
    p = plan(dom(512, pci=(first, dev(USB))), HOST)
    assert p.verdict == "blocked" and any(f.code == "pci-duplicate" for f in p.findings)


def test_two_functions_of_one_slot_are_not_duplicates():
    p = plan(dom(512, pci=(dev(USB), dev(Sbdf(0, 0, 0x14, 2)))), HOST)
    assert not any(f.code == "pci-duplicate" for f in p.findings)


_SLOT_FUNCS = [Sbdf(0, b, d, f) for b in (0, 1) for d in (0x14, 0x1f) for f in (0, 1, 2)]


@pytest.mark.parametrize("seed", range(40))
def test_duplicate_pci_matches_the_pairwise_rule(seed):
    # duplicate_pci keeps per slot the first entry, the first `BB:DD.*` and the first per
    # function; the answer must be the earliest earlier entry _same_device accepts, as the
    # plain pairwise walk finds it.
    import random

    from xlrmrr.pci_entries import duplicate_pci, same_device

    rnd = random.Random(seed)
    pci = []
    for line in range(rnd.randint(0, 14)):
        sbdf = rnd.choice(_SLOT_FUNCS + [None])
        mask = 0xFFFFFFFF if rnd.random() < 0.3 else 1
        pci.append(PciDevice(f"e{line}", sbdf, vfunc_mask=mask, line=line))
    d = dom(pci=tuple(pci))
    want = []
    for i, later in enumerate(d.pci):
        first = next((e for e in d.pci[:i] if same_device(e, later)), None)
        if first is not None:
            want.append((first, later))
    assert duplicate_pci(d) == tuple(want)
