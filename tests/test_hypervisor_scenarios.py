"""Scenarios from issue 5, run through the driver (libxl -> libxc -> hypervisor), each with its
expectation derived by hand from vtd/iommu.c:intel_iommu_assign_device, x86/iommu.c:
iommu_identity_mapping and libxl_dm.c:libxl__domain_device_construct_rdm (the derivation is
beside it).

The host: two EHCI controllers 00:1a.0 and 00:1d.0 share one USB RMRR
U = [0xba8d8000, 0xba8f7fff] (32 pages, scope_count 2), and the IGD 00:02.0 has its own stolen-
memory RMRR G = [0xad000000, 0xaf7fffff] (0x2800 pages, 40 MiB).
"""

from __future__ import annotations

from dataclasses import replace

from xlrmrr import driver
from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_OK, Sbdf, XenVersion
from xlrmrr.host.groups import GROUP_PARTIAL, GROUP_WHOLE
from xlrmrr.host.model import Host, PciFunction, Rmrr
from xlrmrr.hostcheck import GuestCheck, check_guests
from xlrmrr.hotplug import attach_check
from xlrmrr.hypervisor.assignment import assign_devices
from xlrmrr.hypervisor.messages import EADDRINUSE, EBUSY, EPERM
from xlrmrr.hypervisor.plans import assign_for_plan
from xlrmrr.hypervisor.results import MAP_COUNTED, MAP_NEW, MAP_OVERLAP, RUN_IDENTITY, RUN_KEPT, RUN_MAPPED
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice, RdmReserve

V = XenVersion(4, 22)
EHCI1, EHCI2, IGD = Sbdf(0, 0, 0x1A, 0), Sbdf(0, 0, 0x1D, 0), Sbdf(0, 0, 2, 0)
U = Rmrr(0xBA8D8000, 0xBA8F7FFF, 0, (EHCI1, EHCI2), 2)
G = Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1)
HOST = Host(rmrrs=(U, G), devices=(
    PciFunction(IGD, 0x030000, 0x8086), PciFunction(EHCI1, 0x0C0320, 0x8086),
    PciFunction(EHCI2, 0x0C0320, 0x8086)))
GiB_KB = 1024 * 1024


def dev(sbdf, policy="strict"):
    return PciDevice(spec=f"{sbdf.bus:02x}:{sbdf.dev:02x}.{sbdf.fn},rdm_policy={policy}",
                     sbdf=sbdf, rdm_policy=policy)


def guest(name, *pci, memory_gib=4, **kw):
    return DomainConfig(xen_version=V, name=name, type="hvm", target_memkb=memory_gib * GiB_KB,
                        pci=tuple(pci), **kw)


def plan(d):
    return driver.plan(d, HOST, V)


def codes(findings):
    return {f.code for f in findings}


# --- USB RMRR shared by two controllers ----------------------------------------------------

def test_usb_both_controllers_one_guest_relaxed_is_safe():
    # libxl: U starts at 0xba8d8000 > rdm_mem_boundary 2 GiB, so lowmem_end (0xf0000000 for
    # 4 GiB) moves down to U's start rounded to 2 MiB (HAP): 0xba800000. U is then in the hole.
    # Xen: 1a.0 relaxed -> "It's risky", pages 0xba8d8..0xba8f7 are empty -> mapped 1:1 (new,
    # count 1); 1d.0 -> same (base, end) already listed -> count 2, no page touched.
    p = plan(guest("usb", dev(EHCI1, "relaxed"), dev(EHCI2, "relaxed")))
    assert p.libxl.lowmem_end == 0xBA800000
    hv = p.hypervisor
    assert p.verdict == "ok" and not hv.blocked and not hv.degraded
    o1, o2 = hv.devices[0].outcomes[0], hv.devices[1].outcomes[0]
    assert (o1.action, o1.count) == (MAP_NEW, 1) and (o2.action, o2.count) == (MAP_COUNTED, 2)
    assert [(r.start, r.end, r.state) for r in o1.runs] == [(0xBA8D8000, 0xBA8F8000, RUN_MAPPED)]
    assert hv.log == (
        "[VT-D] It's risky to assign 0000:00:1a.0 with shared RMRR at ba8d8000 for d1.",
        "[VT-D] It's risky to assign 0000:00:1d.0 with shared RMRR at ba8d8000 for d1.")
    assert [u.kind for u in hv.groups] == [GROUP_WHOLE]
    assert "group-whole" in codes(hv.findings)
    assert hv.identity_maps[0].count == 2


def test_usb_both_controllers_one_guest_strict_is_eperm():
    # Strict: flag 0; U's scope_count is 2 > 1 -> -EPERM for the first device, nothing mapped.
    p = plan(guest("usb", dev(EHCI1), dev(EHCI2)))
    hv = p.hypervisor
    assert p.verdict == "blocked" and hv.blocked
    assert hv.devices[0].rc == -1 and len(hv.devices) == 1
    assert hv.log == ("[VT-D] It's disallowed to assign 0000:00:1a.0 with shared RMRR at "
                      "ba8d8000 for d1.",)
    assert hv.identity_maps == ()


def test_usb_one_controller_partner_left_in_dom0():
    # Relaxed: assigned and mapped 1:1, but 1d.0 stays in dom0, which keeps its 1:1 map of U:
    # the group is split between dom0 and the guest -> degraded (exit 3). Strict: -EPERM.
    p = plan(guest("usb", dev(EHCI1, "relaxed")))
    hv = p.hypervisor
    assert hv.devices[0].honoured and hv.degraded and p.verdict == "degraded"
    assert [(u.kind, u.elsewhere) for u in hv.groups] == [(GROUP_PARTIAL, (EHCI2,))]
    assert "group-partial" in codes(hv.findings)
    p = plan(guest("usb", dev(EHCI1)))
    assert p.hypervisor.devices[0].rc == -1 and p.verdict == "blocked"


def test_usb_split_over_two_guests_fails_check_even_relaxed():
    # Each guest alone: relaxed, mapped, group partial (degraded). Together: U is identity-
    # mapped into both guests -> group split + range in two guests -> exit 1.
    a = plan(guest("a", dev(EHCI1, "relaxed")))
    b = plan(guest("b", dev(EHCI2, "relaxed")))
    hc = check_guests(HOST, [GuestCheck("a.cfg", "a", a.verdict, (EHCI1,), assign_for_plan(a)),
                             GuestCheck("b.cfg", "b", b.verdict, (EHCI2,), assign_for_plan(b))])
    assert hc.exit_status == EXIT_FAIL
    assert [g.members for g in hc.split] == [(EHCI1, EHCI2)]
    assert [(r.base, gs) for r, gs in hc.shared_ranges] == [(U.base, ("a.cfg", "b.cfg"))]
    assert {"group-split", "range-in-two-guests"} <= codes(hc.findings)


def test_usb_split_over_two_guests_strict_fails_in_both():
    # Strict (no rdm_policy: libxl's default): U's scope lists 1a.0 and 1d.0 (scope_count 2 > 1)
    # and the assign flag is 0, so intel_iommu_assign_device refuses each controller with -EPERM
    # ("It's disallowed to assign ... with shared RMRR at ba8d8000 for d1." / "... for d2.")
    # before touching a page: both creates fail (table FAILS / FAILS), nothing is identity-
    # mapped anywhere (no range in two guests), and the group is still placed in two guests
    # (split) -> exit 1.
    a = plan(guest("a", dev(EHCI1)))
    b = plan(guest("b", dev(EHCI2)))
    assert a.verdict == b.verdict == "blocked"
    checks = [GuestCheck("a.cfg", "a", a.verdict, (EHCI1,), assign_for_plan(a, domid=1)),
              GuestCheck("b.cfg", "b", b.verdict, (EHCI2,), assign_for_plan(b, domid=2))]
    assert [c.assign.devices[0].rc for c in checks] == [-EPERM, -EPERM]
    assert checks[1].assign.log == (
        "[VT-D] It's disallowed to assign 0000:00:1d.0 with shared RMRR at ba8d8000 for d2.",)
    hc = check_guests(HOST, checks)
    assert hc.exit_status == EXIT_FAIL
    assert [hc.guests[0].cell(EHCI1), hc.guests[1].cell(EHCI2)] == ["FAILS", "FAILS"]
    assert [g.members for g in hc.split] == [(EHCI1, EHCI2)]
    assert hc.shared_ranges == ()
    assert "group-split" in codes(hc.findings)
    assert all(c.assign.identity_maps == () for c in hc.guests)


# --- IGD RMRR in guest RAM -------------------------------------------------------------------

def test_igd_rmrr_in_ram_relaxed_and_strict():
    # rdm_mem_boundary = 4096 MiB puts G (0xad000000) below the boundary, so libxl does not move
    # lowmem_end (0xf0000000): G overlaps RAM. Strict: libxl "RDM conflict at 0xad000000." and
    # the create fails before any assignment. Relaxed: "Ignoring RDM conflict", G dropped from
    # the e820, RAM populated over it; Xen keeps all 0x2800 pages as RAM (one warning per page)
    # -> assigned but not honoured: degraded.
    strict = plan(guest("igd", dev(IGD), rdm_mem_boundary_memkb=4 * GiB_KB))
    assert strict.verdict == "blocked" and strict.hypervisor is None
    assert "rdm-conflict" in codes(strict.findings)
    relaxed = plan(guest("igd", dev(IGD, "relaxed"), rdm_mem_boundary_memkb=4 * GiB_KB))
    hv = relaxed.hypervisor
    assert relaxed.verdict == "degraded" and hv.degraded and not hv.blocked
    o = hv.devices[0].outcomes[0]
    assert not o.exposed and not o.honoured
    assert [(r.start, r.end, r.state, r.pages) for r in o.runs] == [
        (0xAD000000, 0xAF800000, RUN_KEPT, 0x2800)]
    assert hv.log == ("Cannot setup identity map d1:ad000, gfn already mapped to <mfn>. "
                      "[repeated for each of the next 10239 page(s), up to gfn af7ff; guest-level messages "
                      "are rate-limited]",)
    assert "identity-relaxed" in codes(hv.findings)
    assert hv.page_tables[0].dma.startswith("lands in guest RAM")


def test_igd_strict_flag_over_ram_is_ebusy_at_first_page():
    # Assignment with flag 0 over RAM: p2m_add_identity_entry meets guest RAM at gfn 0xad000 and
    # returns -EBUSY at once; nothing after it is reached.
    d = guest("igd", dev(IGD))
    r = assign_devices(d, HOST, (), ((0, 0xA0000), (0xC0000, 0xF0000000)))
    assert r.blocked and r.devices[0].rc == -EBUSY
    assert [(x.start, x.end, x.state) for x in r.devices[0].outcomes[0].runs] == [
        (0xAD000000, 0xAD001000, "busy"), (0xAD001000, 0xAF800000, "not-reached")]
    assert r.devices[0].log == (
        "Cannot setup identity map d1:ad000, gfn already mapped to <mfn>.",
        "[VT-D]d1: cannot map reserved region [ad000000,af7fffff]: -16")


# --- two different overlapping RMRRs on one device --------------------------------------------

NIC = Sbdf(0, 3, 0, 0)
A = Rmrr(0xFD000000, 0xFD0FFFFF, 0, (NIC,), 1)
B = Rmrr(0xFD080000, 0xFD17FFFF, 0, (NIC,), 1)
OVERLAP_HOST = Host(rmrrs=(A, B))
RAM_2G = ((0, 0xA0000), (0xC0000, 0x80000000), (0xFEFF0000, 0xFF000000))


def test_overlapping_rmrrs_one_device_4_22_is_eaddrinuse():
    # (Real Xen rejects such a DMAR at boot with "Overlapping RMRRs"; this is the Host a
    # rmrr= option or a lax reader could still produce.) 4.16+: A is mapped (new, 256 pages);
    # B = a different (base, end) overlapping A -> iommu_identity_mapping returns -EADDRINUSE
    # before touching a page, whatever the policy.
    for policy in ("strict", "relaxed"):
        r = assign_devices(guest("nic", dev(NIC, policy)), OVERLAP_HOST, (), RAM_2G)
        oa, ob = r.devices[0].outcomes
        assert oa.action == MAP_NEW and oa.runs[0].pages == 256
        assert ob.action == MAP_OVERLAP and ob.rc == -EADDRINUSE and r.blocked
        assert r.devices[0].log == ("[VT-D]d1: cannot map reserved region [fd080000,fd17ffff]: -98",)


def test_overlapping_rmrrs_one_device_4_14_maps_the_rest():
    # Before 4.16 rmrr_identity_mapping has no overlap check: B's first 128 pages are already
    # 1:1 p2m_mmio_direct (nothing to do), the last 128 are mapped; both ranges listed.
    d = replace(guest("nic", dev(NIC)), xen_version=XenVersion(4, 14))
    r = assign_devices(d, OVERLAP_HOST, (), RAM_2G)
    ob = r.devices[0].outcomes[1]
    assert not r.blocked and ob.action == MAP_NEW and ob.honoured
    assert [(x.start, x.end, x.state) for x in ob.runs] == [
        (0xFD080000, 0xFD100000, RUN_IDENTITY), (0xFD100000, 0xFD180000, RUN_MAPPED)]
    assert [(m.base, m.count) for m in r.identity_maps] == [(A.base, 1), (B.base, 1)]
    assert "identity-overlap-old" in codes(r.findings)


# --- hotplug ----------------------------------------------------------------------------------

def test_hotplug_igd_without_and_with_strategy_host():
    # Without strategy=host and with no pci=, construct_rdm does nothing: lowmem_end stays
    # 0xf0000000 and G is guest RAM. xl pci-attach (policy defaults to strict) -> -EBUSY.
    plain = plan(guest("h"))
    att = attach_check(plain, IGD)
    assert not att.ok and att.device.rc == -EBUSY
    assert "attach-not-reserved" in codes(att.findings)
    # With strategy=host (policy relaxed) libxl reserves U and G: lowmem_end = 0xad000000 (G's
    # start, already 2 MiB aligned); G is E820_RESERVED and empty -> the attach maps it 1:1.
    host_rdm = plan(guest("h", rdm=RdmReserve("host", "relaxed")))
    assert host_rdm.libxl.lowmem_end == 0xAD000000
    att = attach_check(host_rdm, IGD)
    assert att.ok and att.honoured and att.device.outcomes[0].exposed


def test_hotplug_device_already_in_config():
    att = attach_check(plan(guest("h", dev(IGD))), IGD)
    assert not att.ok and "attach-already" in codes(att.findings)


# --- the same device in two configs -----------------------------------------------------------

def test_same_device_in_two_configs():
    # Each guest alone is fine (G relocated around: 0xad000000 > 2 GiB); together the second
    # one to start fails in libxl: "PCI device already attached to a domain".
    a, b = plan(guest("a", dev(IGD))), plan(guest("b", dev(IGD)))
    assert a.verdict == b.verdict == "ok"
    hc = check_guests(HOST, [GuestCheck("a.cfg", "a", "ok", (IGD,), assign_for_plan(a)),
                             GuestCheck("b.cfg", "b", "ok", (IGD,), assign_for_plan(b))])
    assert hc.exit_status == EXIT_FAIL
    assert hc.duplicates == ((IGD, ("a.cfg", "b.cfg")),)
    assert "device-twice" in codes(hc.findings)


def test_check_exit_statuses_ok_and_degraded():
    ok = plan(guest("usb", dev(EHCI1, "relaxed"), dev(EHCI2, "relaxed")))
    hc = check_guests(HOST, [GuestCheck("u.cfg", "usb", ok.verdict, (EHCI1, EHCI2),
                                        assign_for_plan(ok))])
    assert hc.exit_status == EXIT_OK and "group-whole" in codes(hc.findings)
    deg = plan(guest("igd", dev(IGD, "relaxed"), rdm_mem_boundary_memkb=4 * GiB_KB))
    hc = check_guests(HOST, [GuestCheck("i.cfg", "igd", deg.verdict, (IGD,), assign_for_plan(deg))])
    assert hc.exit_status == EXIT_DEGRADED
    assert hc.guests[0].cell(IGD) == "relaxed"


def test_strategy_host_reserves_unused_ranges_unmapped():
    # strategy=host puts U and G into the e820 (both relocated around), but only the IGD is
    # assigned: U stays E820_RESERVED with nothing in the p2m -> a guest access to it is an
    # EPT violation forwarded to the device model.
    from xlrmrr.devices import ACCESS_UNMAPPED
    p = plan(guest("h", dev(IGD), rdm=RdmReserve("host", "relaxed"), gfx_passthru="igd"))
    states = {t.rmrr.base: t for t in p.hypervisor.page_tables}
    assert states[U.base].cpu_access == ACCESS_UNMAPPED and states[U.base].exposed
    assert states[G.base].p2m == "gfn == mfn, p2m_mmio_direct, rw"
    assert "igd-no-gfx-passthru" not in codes(p.hypervisor.findings)
    p = plan(guest("h", dev(IGD)))
    assert "igd-no-gfx-passthru" in codes(p.hypervisor.findings)


def test_hotplug_rmrr_over_a_mapped_passthrough_bar():
    # A running guest's passthrough BARs are p2m_mmio_direct entries to the host BARs (mapped by
    # the device model), not 1:1: an RMRR of a hot-plugged device over one of them meets an
    # occupied gfn -> -EBUSY (strict, xl's default). Where hvmloader put the BAR is read from the
    # plan; the RMRR is made to cover its first page.
    NIC2 = Sbdf(0, 4, 0, 0)
    from xlrmrr.host.model import Bar
    host = Host(rmrrs=HOST.rmrrs, devices=HOST.devices + (
        PciFunction(NIC, 0x020000, 0x8086, bars=(Bar(0, 0x100000),)),
        PciFunction(NIC2, 0x020000, 0x8086)))
    p = driver.plan(guest("h", dev(NIC), memory_gib=1), host, V)
    bar = next(b for b in p.hvmloader.bars if b.device == str(NIC))
    host2 = Host(rmrrs=host.rmrrs + (Rmrr(bar.base, bar.base + 0xFFF, 0, (NIC2,), 1),),
                 devices=host.devices)
    p2 = driver.plan(guest("h", dev(NIC), memory_gib=1), host2, V)
    att = attach_check(p2, NIC2)
    assert not att.ok and att.device.rc == -EBUSY
    assert att.device.outcomes[0].runs[0].occupant == f"BAR 0 of {NIC}, mapped by the device model"


def test_hotplug_rmrr_over_the_vga_frame_buffer():
    # QEMU moves the 8 MiB of cirrus video RAM to the VGA BAR 0 hvmloader chose: those gfns are
    # RAM-backed p2m entries, so a hot-plugged device's RMRR over them is -EBUSY under strict;
    # past the 8 MiB (the BAR is 32 MiB) the p2m is empty and the identity map succeeds.
    NIC2 = Sbdf(0, 4, 0, 0)
    p = driver.plan(guest("h", memory_gib=1), HOST, V)
    fb = next(b for b in p.hvmloader.bars if b.device == "vga" and b.index == 0)
    for offset, ok in ((0, False), (8 << 20, True)):
        host = Host(rmrrs=HOST.rmrrs + (Rmrr(fb.base + offset, fb.base + offset + 0xFFF, 0,
                                             (NIC2,), 1),), devices=HOST.devices)
        att = attach_check(driver.plan(guest("h", memory_gib=1), host, V), NIC2)
        assert att.ok is ok
        if not ok:
            assert att.device.outcomes[0].runs[0].occupant.startswith("the VGA frame buffer")


def test_a_counted_shared_range_is_honoured_only_if_its_first_mapping_was(capsys, tmp_path):
    """Xen's iommu_identity_mapping (xen/drivers/passthrough/x86/iommu.c, 4.16+; and
    rmrr_identity_mapping before) finds a range already in the domain's list and only does
    ++map->count: no page is touched. Three relaxed USB controllers share the RMRR
    [0xab80a000, 0xab81dfff] (fixtures/dmar/usb-shared.bin); with 8 GiB and rdm_mem_boundary
    4096 libxl drops it (relaxed) and guest RAM stays over it, so 00:14.0's mapping keeps the
    guest RAM (not 1:1), and the two devices counted after it reach that same RAM: none is
    honoured (they said "every RMRR 1:1")."""
    import json

    from conftest import FIXTURES

    from xlrmrr.cli import main

    cfg = tmp_path / "sys-usb.cfg"
    cfg.write_text('name = "sys-usb"\ntype = "hvm"\nmemory = 8192\nrdm_mem_boundary = 4096\n'
                   "pci = [ '00:14.0,rdm_policy=relaxed', '00:1a.0,rdm_policy=relaxed', "
                   "'00:1d.0,rdm_policy=relaxed' ]\n")
    args = [str(cfg), "--dry-run", "--dmar", str(FIXTURES / "dmar/usb-shared.bin"),
            "--host-json", str(FIXTURES / "hosts/laptop.json"), "--xen-version", "4.17"]
    assert main(["create", *args, "--json"]) == 3
    devices = json.loads(capsys.readouterr().out)["hypervisor"]["devices"]
    assert [(d["sbdf"], [r["action"] for r in d["rmrrs"]], d["honoured"]) for d in devices] == [
        ("0000:00:14.0", ["new"], False), ("0000:00:1a.0", ["counted"], False),
        ("0000:00:1d.0", ["counted"], False)]
    main(["create", *args])
    out = capsys.readouterr().out
    assert "every RMRR 1:1" not in out and out.count("assigned, RMRR NOT honoured") == 3


def test_a_counted_range_whose_first_mapping_was_1to1_is_honoured(capsys, tmp_path):
    """The same three devices with rdm_mem_boundary 2048 (libxl's default): libxl moves
    lowmem_end below the RMRR, 00:14.0's mapping puts its 20 pages 1:1, and the counted ones
    reach the same 1:1 pages: all honoured, the verdict ok."""
    import json

    from conftest import FIXTURES

    from xlrmrr.cli import main

    cfg = tmp_path / "sys-usb.cfg"
    cfg.write_text('name = "sys-usb"\ntype = "hvm"\nmemory = 8192\n'
                   "pci = [ '00:14.0,rdm_policy=relaxed', '00:1a.0,rdm_policy=relaxed', "
                   "'00:1d.0,rdm_policy=relaxed' ]\n")
    assert main(["create", str(cfg), "--dry-run", "--json", "--dmar",
                 str(FIXTURES / "dmar/usb-shared.bin"), "--host-json",
                 str(FIXTURES / "hosts/laptop.json"), "--xen-version", "4.17"]) == 0
    j = json.loads(capsys.readouterr().out)
    devices = j["hypervisor"]["devices"]
    assert [(d["sbdf"], [r["action"] for r in d["rmrrs"]], d["honoured"]) for d in devices] == [
        ("0000:00:14.0", ["new"], True), ("0000:00:1a.0", ["counted"], True),
        ("0000:00:1d.0", ["counted"], True)]
