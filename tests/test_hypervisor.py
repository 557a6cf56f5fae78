"""assign_devices: the hypervisor's device assignment, with hand-derived expectations."""

from __future__ import annotations

from xlrmrr.common import FOUR_GB, MB, Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.hypervisor import (
    EBUSY,
    EPERM,
    MAP_COUNTED,
    RUN_BUSY,
    RUN_KEPT,
    RUN_MAPPED,
    assign_devices,
)
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
