"""Device-class explanations (issue 5 item 5) on the findings of the hypervisor stage.

The host: two EHCI controllers 00:1a.0 and 00:1d.0 (class 0x0c0320) share the USB RMRR
U = [0xba8d8000, 0xba8f7fff]; the Intel IGD 00:02.0 (class 0x030000) has G = [0xad000000,
0xaf7fffff]; the xHCI 00:14.0 (0x0c0330) has L = [0xe8000, 0xebfff]; the NIC 03:00.0
(0x020000) has N = [0xfd000000, 0xfd000fff]. The expected texts are the class records of
xlrmrr.devices (what the range is for, whether relaxed is safe, what breaks), looked up by
class code, so a finding that drops any of the three parts fails here."""

from __future__ import annotations

from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.devices import classify
from xlrmrr.host.model import Host, PciFunction, Rmrr
from xlrmrr.hypervisor.assignment import assign_devices
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice

V = XenVersion(4, 22)
EHCI1, EHCI2, IGD = Sbdf(0, 0, 0x1A, 0), Sbdf(0, 0, 0x1D, 0), Sbdf(0, 0, 2, 0)
XHCI, NIC = Sbdf(0, 0, 0x14, 0), Sbdf(0, 3, 0, 0)
U = Rmrr(0xBA8D8000, 0xBA8F7FFF, 0, (EHCI1, EHCI2), 2)
G = Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1)
L = Rmrr(0xE8000, 0xEBFFF, 0, (XHCI,), 1)
N = Rmrr(0xFD000000, 0xFD000FFF, 0, (NIC,), 1)
FUNCS = (PciFunction(IGD, 0x030000, 0x8086), PciFunction(XHCI, 0x0C0330, 0x8086),
         PciFunction(EHCI1, 0x0C0320, 0x8086), PciFunction(EHCI2, 0x0C0320, 0x8086),
         PciFunction(NIC, 0x020000, 0x8086))
HOST = Host(rmrrs=(U, G, L, N), devices=FUNCS, topology_known=True)
USB = classify(FUNCS[1])
GFX = classify(FUNCS[0])
# 2 GiB guest, lowmem_end 0x80000000: U, G and N lie in the hole; L (below 1 MiB) is guest RAM.
RAM = ((0, 0xA0000), (0xC0000, 0x80000000), (0xFEFF0000, 0xFF000000))


def dev(sbdf, policy="strict"):
    return PciDevice(spec=str(sbdf), sbdf=sbdf, rdm_policy=policy)


def assign(*pci, ram=RAM):
    return assign_devices(DomainConfig(xen_version=V, name="g", type="hvm", pci=tuple(pci)),
                          HOST, (), ram)


def one(result, code):
    (f,) = [f for f in result.findings if f.code == code]
    return f.message


def has_class_text(message, cls):
    return cls.purpose in message and cls.relaxed_safe in message and cls.breaks in message


def test_shared_rmrr_eperm_explains_the_usb_range():
    # The typical Qubes case: one EHCI strict, its RMRR shared -> -EPERM. The finding says
    # what the USB range is for, that relaxed is usually safe, and what breaks otherwise.
    r = assign(dev(EHCI1))
    assert r.blocked
    assert has_class_text(one(r, "shared-rmrr"), USB)


def test_identity_busy_explains_whether_relaxed_is_safe():
    # The IGD strict over guest RAM (RAM up to 0xf0000000 covers G) -> -EBUSY at 0xad000000.
    r = assign(dev(IGD), ram=((0, 0xA0000), (0xC0000, 0xF0000000)))
    msg = one(r, "identity-busy")
    assert has_class_text(msg, GFX)
    assert "not safe" in GFX.relaxed_safe


def test_identity_relaxed_says_what_breaks():
    # The xHCI relaxed: its 4 pages at 0xe8000 are guest RAM, kept -> not honoured.
    r = assign(dev(XHCI, "relaxed"))
    assert has_class_text(one(r, "identity-relaxed"), USB)


def test_honoured_usb_and_igd_get_a_class_note_and_others_none():
    # Both EHCI relaxed (whole group) and the IGD strict: every range in the hole, mapped 1:1.
    # One device-class note per RMRR-bearing USB/IGD device (3), none for the NIC (class 0x02).
    r = assign(dev(EHCI1, "relaxed"), dev(EHCI2, "relaxed"), dev(IGD), dev(NIC))
    assert not r.blocked and all(d.honoured for d in r.devices)
    notes = [f for f in r.findings if f.code == "device-class"]
    assert [n.message.split(" ", 1)[0] for n in notes] == [str(EHCI1), str(EHCI2), str(IGD)]
    assert all("every range is honoured" in n.message for n in notes)
    assert has_class_text(notes[0].message, USB) and has_class_text(notes[2].message, GFX)
    assert "[0xad000000, 0xaf7fffff]" in notes[2].message


def test_class_note_states_a_failed_or_unhonoured_range():
    failed = [f for f in assign(dev(EHCI1)).findings if f.code == "device-class"]
    assert len(failed) == 1 and "the assignment fails" in failed[0].message
    kept = [f for f in assign(dev(XHCI, "relaxed")).findings if f.code == "device-class"]
    assert len(kept) == 1 and "NOT honoured" in kept[0].message


def test_class_note_article():
    # "is a USB controller", "is an Intel integrated graphics device" (never "a Intel")
    r = assign(dev(EHCI1, "relaxed"), dev(EHCI2, "relaxed"), dev(IGD))
    notes = [f.message for f in r.findings if f.code == "device-class"]
    assert notes[0].startswith(f"{EHCI1} is a USB controller: its RMRR(s)")
    assert notes[2].startswith(f"{IGD} is an Intel integrated graphics device: its RMRR(s)")
    assert not any(" a Intel" in n for n in notes)
