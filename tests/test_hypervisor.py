"""assign_devices: the hypervisor's device assignment, with hand-derived expectations."""

from __future__ import annotations

from dataclasses import replace

from xlrmrr.common import FOUR_GB, MB, Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.hypervisor.assignment import assign_devices
from xlrmrr.hypervisor.messages import EBUSY, EPERM
from xlrmrr.hypervisor.results import MAP_COUNTED, RUN_BUSY, RUN_KEPT, RUN_MAPPED
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice

V = XenVersion(4, 22)
USB1 = Sbdf(0, 0, 0x14, 0)
USB2 = Sbdf(0, 0, 0x1A, 0)
IGD = Sbdf(0, 0, 2, 0)


def dev(sbdf, policy="strict"):
    return PciDevice(spec=f"{sbdf.bus:02x}:{sbdf.dev:02x}.{sbdf.fn},rdm_policy={policy}",
                     sbdf=sbdf, rdm_policy=policy)


def guest(*pci):
    return DomainConfig(xen_version=V, name="g", type="hvm", pci=tuple(pci))


def usb_host():
    # One 12-page USB RMRR [0xe8000, 0xf3fff] below 1 MiB shared by two controllers.
    return Host(rmrrs=(Rmrr(0xE8000, 0xF3FFF, 0, (USB1, USB2), 2),))


RAM = ((0, 0xA0000), (0xC0000, 0x80000000))


def test_shared_usb_strict_is_eperm():
    # scope_count 2 > 1 and flag 0 (strict) -> -EPERM before any page is touched.
    r = assign_devices(guest(dev(USB1)), usb_host(), (), RAM)
    assert r.blocked and not r.degraded
    d = r.devices[0]
    assert d.rc == -EPERM
    assert d.log == ("[VT-D] It's disallowed to assign 0000:00:14.0 with shared RMRR at e8000 "
                     "for d1.",)
    assert r.identity_maps == ()


def test_shared_usb_relaxed_both_in_one_guest():
    # Relaxed: "risky" warning; pages 0xe8..0xf3 are guest RAM (populated from 0xc0) so they
    # are kept (12 pages), the range is listed once; the 2nd controller only counts it (2).
    r = assign_devices(guest(dev(USB1, "relaxed"), dev(USB2, "relaxed")), usb_host(), (), RAM)
    assert not r.blocked and r.degraded
    o1 = r.devices[0].outcomes[0]
    assert [(x.start, x.end, x.state) for x in o1.runs] == [(0xE8000, 0xF4000, RUN_KEPT)]
    assert r.devices[1].outcomes[0].action == MAP_COUNTED
    assert r.identity_maps[0].count == 2
    assert r.devices[0].log[0] == ("[VT-D] It's risky to assign 0000:00:14.0 with shared RMRR "
                                   "at e8000 for d1.")


def test_igd_in_ram_strict_busy_and_hole_mapped():
    # IGD RMRR [0xad000000, 0xaf7fffff]: in RAM (relaxed libxl) -> strict assign stops at the
    # first page with -EBUSY; outside RAM (libxl moved lowmem_end to 0xad000000) -> all mapped.
    h = Host(rmrrs=(Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1),))
    r = assign_devices(guest(dev(IGD)), h, (), ((0, 0xA0000), (0xC0000, 0xC0000000)))
    assert r.blocked and r.devices[0].rc == -EBUSY
    assert r.devices[0].outcomes[0].runs[0].state == RUN_BUSY
    assert r.devices[0].log == (
        "Cannot setup identity map d1:ad000, gfn already mapped to <mfn>.",
        "[VT-D]d1: cannot map reserved region [ad000000,af7fffff]: -16")
    r = assign_devices(guest(dev(IGD)), h, (), ((0, 0xA0000), (0xC0000, 0xAD000000),
                                                 (FOUR_GB, FOUR_GB + 512 * MB)))
    assert not r.blocked and not r.degraded
    assert [(x.start, x.end, x.state) for x in r.devices[0].outcomes[0].runs] == [
        (0xAD000000, 0xAF800000, RUN_MAPPED)]


# --- building blocks ---------------------------------------------------------------------------

def test_sharing_groups_are_transitive_and_skip_unshared():
    from xlrmrr.host.groups import sharing_groups
    a, b, c, d = (Sbdf(0, 0, n, 0) for n in (1, 2, 3, 4))
    h = Host(rmrrs=(Rmrr(0x1000, 0x1FFF, 0, (a, b), 2), Rmrr(0x3000, 0x3FFF, 0, (b, c), 2),
                    Rmrr(0x5000, 0x5FFF, 0, (d,), 1)))
    # a-b share the first range, b-c the second: one group {a, b, c}; d shares nothing.
    gs = sharing_groups(h)
    assert [g.members for g in gs] == [(a, b, c)]
    assert [r.base for r in gs[0].rmrrs] == [0x1000, 0x3000]


def test_device_rmrrs_stop_at_bdf_zero_and_match_segment():
    from xlrmrr.host.query import device_rmrrs
    h = Host(rmrrs=(Rmrr(0x1000, 0x1FFF, 0, (Sbdf(0, 0, 0, 0), USB1), 2),
                    Rmrr(0x3000, 0x3FFF, 1, (USB1,), 1),
                    Rmrr(0x5000, 0x5FFF, 0, (USB1,), 1)))
    # First RMRR: the scope walk stops at 00:00.0 before reaching 00:14.0 (Xen's macro).
    # Second: segment 1 is another device. Only the third belongs to 0000:00:14.0.
    assert [r.base for r in device_rmrrs(h, USB1)] == [0x5000]
    assert device_rmrrs(Host(rmrrs=h.rmrrs, vtd_enabled=False), USB1) == ()


def test_messages_before_4_15_and_4_16():
    # <4.15: "%04x:%02x:%02x.%u ... for Dom%d"; <4.16 the map failure is the old
    # rmrr_identity_mapping text "cannot map reserved region (b,e] for Dom%d (rc)".
    from dataclasses import replace
    d = replace(guest(dev(USB1)), xen_version=XenVersion(4, 14))
    r = assign_devices(d, usb_host(), (), RAM)
    assert r.devices[0].log == ("[VT-D] It's disallowed to assign 0000:00:14.0 with shared RMRR "
                                "at e8000 for Dom1.",)
    h = Host(rmrrs=(Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1),))
    r = assign_devices(replace(d, pci=(dev(IGD),)), h, (), ((0, 0xA0000), (0xC0000, 0xC0000000)))
    assert r.devices[0].log[-1] == ("[VT-D] cannot map reserved region (ad000000,af7fffff] for "
                                    "Dom1 (-16)")


def test_pv_guest_maps_in_iommu_only():
    from dataclasses import replace

    from xlrmrr.hypervisor.results import RUN_IOMMU
    d = replace(guest(dev(IGD)), type="pv")
    h = Host(rmrrs=(Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1),))
    r = assign_devices(d, h, (), ((0, 1 << 33),))
    assert not r.blocked and not r.shared_pt
    assert [x.state for x in r.devices[0].outcomes[0].runs] == [RUN_IOMMU]


def test_unset_policy_is_unknown_rdm_check_flag():
    r = assign_devices(guest(dev(USB1, "unset")), usb_host(), (), RAM)
    assert r.blocked and r.devices == ()
    assert r.findings[0].code == "rdm-flag-unknown"
    assert r.findings[0].message.startswith("0000:00:14.0: unknown rdm check flag.")


def test_invalid_policy_defaults_to_strict_at_assignment():
    r = assign_devices(guest(dev(USB1, "invalid")), usb_host(), (), RAM)
    assert r.devices[0].policy == "strict" and not r.devices[0].relaxed and r.blocked


def test_all_functions_expand_to_host_functions():
    from xlrmrr.host.model import PciFunction
    from xlrmrr.hypervisor.assignment import assigned_functions
    from xlrmrr.xlcfg.domain import LIBXL_PCI_FUNC_ALL
    fns = (Sbdf(0, 3, 0, 0), Sbdf(0, 3, 0, 1), Sbdf(0, 3, 1, 0))
    h = Host(rmrrs=(), devices=tuple(PciFunction(s) for s in fns))
    d = PciDevice(spec="03:00.*", sbdf=Sbdf(0, 3, 0, 0), vfunc_mask=LIBXL_PCI_FUNC_ALL)
    assert assigned_functions(d, h) == fns[:2]


def test_page_table_states_and_access():
    from xlrmrr.devices import ACCESS_IDENTITY, ACCESS_RAM
    r = assign_devices(guest(dev(USB1, "relaxed"), dev(USB2, "relaxed")), usb_host(), (), RAM)
    kept = r.page_tables[0]
    assert kept.cpu_access == ACCESS_RAM and "guest RAM" in kept.p2m
    assert r.shared_pt and kept.iommu_shared.startswith("the EPT itself")
    h = Host(rmrrs=(Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1),))
    r = assign_devices(guest(dev(IGD)), h, (), ((0, 0xA0000), (0xC0000, 0xAD000000)))
    assert r.page_tables[0].cpu_access == ACCESS_IDENTITY
    assert r.page_tables[0].p2m == "gfn == mfn, p2m_mmio_direct, rw"


def test_ballooning_flagged():
    from dataclasses import replace
    d = replace(guest(dev(IGD)), target_memkb=1 << 20, max_memkb=2 << 20)
    r = assign_devices(d, Host(rmrrs=()), (), RAM)
    assert "open-ballooning" in {f.code for f in r.findings}


def test_group_left_in_dom0_makes_check_degraded():
    from xlrmrr.common import EXIT_DEGRADED
    from xlrmrr.hostcheck import GuestCheck, check_guests
    h = Host(rmrrs=(Rmrr(0xBA8D8000, 0xBA8F7FFF, 0, (USB1, USB2), 2),))
    r = assign_devices(guest(dev(USB1, "relaxed")), h, (), ((0, 0xA0000), (0xC0000, 0xBA800000)))
    assert r.degraded and not r.blocked
    hc = check_guests(h, [GuestCheck("a.cfg", "a", "degraded", (USB1,), r)])
    assert hc.exit_status == EXIT_DEGRADED
    assert hc.placement == (((USB1, "a.cfg"), (USB2, "dom0")),)


def test_devices_classify():
    from xlrmrr.devices import KIND_DISPLAY, KIND_IGD, KIND_OTHER, KIND_UNKNOWN, KIND_USB, classify
    from xlrmrr.host.model import PciFunction
    assert classify(PciFunction(USB1, 0x0C0330, 0x8086)).kind == KIND_USB
    assert classify(PciFunction(IGD, 0x030000, 0x8086)).kind == KIND_IGD
    assert classify(PciFunction(Sbdf(0, 1, 0, 0), 0x030000, 0x10DE)).kind == KIND_DISPLAY
    assert classify(PciFunction(Sbdf(0, 1, 0, 0), 0x020000, 0x8086)).kind == KIND_OTHER
    assert classify(None).kind == KIND_UNKNOWN


def test_ioapic_scope_entry_makes_rmrr_shared_but_group_whole():
    # Xen counts the IOAPIC scope entry in devices_cnt (2 > 1): strict -> -EPERM. With the PCI
    # topology known, f0:1f.0 is no PCI function, so the group has one assignable member and a
    # relaxed guest holding 00:14.0 holds the whole group.
    from xlrmrr.host.model import PciFunction
    ioapic = Sbdf(0, 0xF0, 0x1F, 0)
    h = Host(rmrrs=(Rmrr(0xBA8D8000, 0xBA8F7FFF, 0, (USB1, ioapic), 2),),
             devices=(PciFunction(USB1, 0x0C0330, 0x8086),))
    ram = ((0, 0xA0000), (0xC0000, 0xBA800000))
    assert assign_devices(guest(dev(USB1)), h, (), ram).devices[0].rc == -EPERM
    r = assign_devices(guest(dev(USB1, "relaxed")), h, (), ram)
    assert [(u.kind, u.group.fixed) for u in r.groups] == [("whole", (ioapic,))]
    assert not r.degraded


def test_device_below_a_bridge_scope_gets_no_identity_map():
    # The RMRR's scope names bridge 00:1c.0 (sub-hierarchy); Xen stores only 00:1c.0, so the
    # NIC 03:00.0 behind it matches no RMRR: assigned without any mapping, with a warning.
    bridge, nic = Sbdf(0, 0, 0x1C, 0), Sbdf(0, 3, 0, 0)
    h = Host(rmrrs=(Rmrr(0xBA8D8000, 0xBA8F7FFF, 0, (bridge,), 1, below_bridges=(nic,)),))
    r = assign_devices(guest(dev(nic)), h, (), RAM)
    assert not r.blocked and r.devices[0].outcomes == () and r.degraded
    assert [f.code for f in r.findings] == ["rmrr-below-bridge", "device-presence-assumed"]
    # the fact the driver reads (degraded, its cause), beside the finding that explains it
    assert r.below_bridge == ((nic, h.rmrrs[0]),)


def test_without_explanations_the_errors_and_the_facts_stay():
    # explain=False (the release comparison's plans): the same assignments, identity maps,
    # blocked/degraded and error findings in the same order; no warning, note, page table or
    # console line for the pages a relaxed map leaves.
    igd = Host(rmrrs=(Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1),))
    in_ram = ((0, 0xA0000), (0xC0000, 0xC0000000))
    dropped = 0
    for d, h, ram in ((guest(dev(USB1)), usb_host(), RAM),                          # -EPERM
                      (guest(dev(USB1, "relaxed"), dev(USB2, "relaxed")), usb_host(), RAM),
                      (guest(dev(IGD)), igd, in_ram),                                  # -EBUSY
                      (guest(dev(IGD, "relaxed")), igd, in_ram)):
        full = assign_devices(d, h, (), ram)
        bare = assign_devices(d, h, (), ram, explain=False)
        assert repr((bare.identity_maps, bare.blocked, bare.degraded)) == repr(
            (full.identity_maps, full.blocked, full.degraded))
        # the same assignments; Xen's console lines but those for pages a relaxed map leaves
        kept = "Cannot setup identity map"
        assert repr([replace(d, log=()) for d in bare.devices]) == repr(
            [replace(d, log=()) for d in full.devices])
        for b_, f_ in zip(bare.devices, full.devices):
            assert b_.log == tuple(x for x in f_.log if not (f_.relaxed and x.startswith(kept)))
            dropped += len(f_.log) - len(b_.log)
        assert bare.findings == tuple(f for f in full.findings if f.severity == "error")
        assert bare.page_tables == () and (full.page_tables or full.devices[0].rc == -EPERM)
    assert dropped == 2         # the relaxed USB pair's first map, the relaxed IGD's
    assert any(f.code == "identity-busy" for f in
               assign_devices(guest(dev(IGD)), igd, (), in_ram, explain=False).findings)
    assert any(f.severity == "warning" for f in
               assign_devices(guest(dev(IGD, "relaxed")), igd, (), in_ram).findings)
