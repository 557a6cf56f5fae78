"""Findings of the hypervisor stage that no other test pinned down (each assertion below fails
if the condition that produces or suppresses the finding is changed)."""

from __future__ import annotations

import json

from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.host.model import Host, PciFunction, Rmrr
from xlrmrr.hvmloader.model import IGD_OPREGION_ADDR as IGD_OPREGION
from xlrmrr.hypervisor.assignment import assign_devices
from xlrmrr.libxl.model import Rdm
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice

F = FIXTURES / "guests" / "check"
HOST_ARGS = ["--dmar", str(F / "host.dmar"), "--host-json", str(F / "host.json"),
             "--xen-version", "4.22"]
V = XenVersion(4, 22)
IGD, EHCI1, EHCI2 = Sbdf(0, 0, 2, 0), Sbdf(0, 0, 0x1A, 0), Sbdf(0, 0, 0x1D, 0)
RAM = ((0, 0xA0000), (0xC0000, 0x80000000), (0xFEFF0000, 0xFF000000))


def guest(*pci, **kw):
    return DomainConfig(xen_version=V, name="g", type="hvm", pci=tuple(pci), **kw)


def dev(sbdf, policy="strict"):
    return PciDevice(spec=str(sbdf), sbdf=sbdf, rdm_policy=policy)


def codes(result):
    return [f.code for f in result.findings]


def igd_host(base, end):
    return Host(rmrrs=(Rmrr(base, end, 0, (IGD,), 1),),
                devices=(PciFunction(IGD, 0x030000, 0x8086),), topology_known=True)


# --- igd-opregion-rmrr ------------------------------------------------------------------------

def test_igd_rmrr_over_the_opregion_address_with_gfx_passthru():
    # hvmloader puts the IGD OpRegion at 0xfdffc000-0xfdffefff (3 pages,
    # tools/firmware/hvmloader/pci.c:pci_setup, util.c:mem_hole_alloc). An IGD RMRR [0xfdff0000,
    # 0xfdffffff] (in the MMIO hole: mapped 1:1) covers it, and QEMU maps the host OpRegion there
    # later: warning, with both addresses.
    r = assign_devices(guest(dev(IGD), gfx_passthru="igd"), igd_host(0xFDFF0000, 0xFDFFFFFF), (),
                       RAM)
    (f,) = [f for f in r.findings if f.code == "igd-opregion-rmrr"]
    assert f.severity == "warning" and f.addrs == (0xFDFF0000, IGD_OPREGION)
    assert "covers the guest address where hvmloader puts the IGD OpRegion (0xfdffc000)" in f.message
    assert "igd-no-gfx-passthru" not in codes(r)


def test_igd_rmrr_just_below_the_opregion_is_fine():
    # [0xfdff0000, 0xfdffbfff] ends one byte before 0xfdffc000: no overlap (the end is
    # exclusive once page-aligned: 0xfdffc000).
    r = assign_devices(guest(dev(IGD), gfx_passthru="igd"), igd_host(0xFDFF0000, 0xFDFFBFFF), (),
                       RAM)
    assert "igd-opregion-rmrr" not in codes(r)
    # iommu_identity_mapping (x86/iommu.c) maps up to PAGE_ALIGN(end) exclusive: an
    # inclusive end of 0xfdffc000 still stops before page 0xfdffc, 0xfdffc001 takes it.
    for end, hit in ((0xFDFFC000, False), (0xFDFFC001, True)):
        r = assign_devices(guest(dev(IGD), gfx_passthru="igd"), igd_host(0xFDFF0000, end), (),
                           RAM)
        assert ("igd-opregion-rmrr" in codes(r)) == hit, hex(end)


def test_igd_without_gfx_passthru_has_no_opregion():
    r = assign_devices(guest(dev(IGD)), igd_host(0xFDFF0000, 0xFDFFFFFF), (), RAM)
    assert "igd-no-gfx-passthru" in codes(r) and "igd-opregion-rmrr" not in codes(r)


# --- open-device-model ------------------------------------------------------------------------

def test_honoured_rmrr_missing_from_the_e820_is_open_to_the_device_model():
    # G = [0xad000000, 0xaf7fffff] is in the hole of a 2 GiB guest (mapped 1:1), but libxl gave
    # no RDM entry (rdms=()), so hvmloader does not avoid it when placing BARs: warning.
    host = igd_host(0xAD000000, 0xAF7FFFFF)
    r = assign_devices(guest(dev(IGD)), host, (), RAM)
    (f,) = [f for f in r.findings if f.code == "open-device-model"]
    assert "so hvmloader does not avoid it" in f.message and f.addrs == (0xAD000000,)
    # Reserved in the e820 (an RDM entry with a policy): hvmloader avoids it, no warning.
    exposed = assign_devices(guest(dev(IGD)), host, (Rdm(0xAD000000, 0x2800000, "strict"),), RAM)
    assert exposed.devices[0].outcomes[0].exposed
    assert "open-device-model" not in codes(exposed)
    # Inside hvmloader's own reserved area [0xfc000000, 4 GiB) no BAR goes: no warning.
    high = assign_devices(guest(dev(IGD)), igd_host(0xFD000000, 0xFD00FFFF), (), RAM)
    assert high.devices[0].honoured and "open-device-model" not in codes(high)


def test_hotplug_into_the_hole_names_the_guest_os(capsys):
    # nic.cfg + the IGD (test_attach_cli): G mapped 1:1 in the hole, never reserved at
    # creation: the guest OS places hot-plugged BARs, not hvmloader.
    assert main(["pci-attach", str(F / "nic.cfg"), "00:02.0", "-n", *HOST_ARGS]) == 0
    out = capsys.readouterr().out
    assert ("\n  warning [xen] 0000:00:02.0: RMRR [0xad000000, 0xaf7fffff] is identity-mapped but "
            "not in the guest's e820") in out
    assert "the guest OS, which assigns the BARs of hot-plugged devices" in out


# --- group-whole only when every member is relaxed ----------------------------------------------

def test_group_whole_is_safe_only_when_relaxed():
    # Both EHCI controllers of U in one guest. Relaxed: "It's risky" but safe -> group-whole.
    # 1a.0 relaxed and 1d.0 strict: 1d.0 is refused (-EPERM): no "safe" verdict for the group.
    u = Rmrr(0xF8000000, 0xF801FFFF, 0, (EHCI1, EHCI2), 2)
    host = Host(rmrrs=(u,))
    ok = assign_devices(guest(dev(EHCI1, "relaxed"), dev(EHCI2, "relaxed")), host, (), RAM)
    assert "group-whole" in codes(ok) and not ok.blocked
    mixed = assign_devices(guest(dev(EHCI1, "relaxed"), dev(EHCI2)), host, (), RAM)
    assert mixed.blocked and mixed.devices[1].rc == -1
    assert "group-whole" not in codes(mixed)


# --- open-ballooning end to end ------------------------------------------------------------------

def test_ballooning_guest_with_pci_fails_in_libxl(tmp_path, capsys):
    # maxmem > memory with pci=: populate-on-demand, which libxl refuses with passthrough
    # ("IOMMU required for device passthrough but not supported together with PoD"): exit 1.
    f = tmp_path / "pod.cfg"
    f.write_text('name = "pod"\ntype = "hvm"\nmemory = 1024\nmaxmem = 2048\npci = [ \'03:00.0\' ]\n')
    assert main(["create", "-n", str(f), *HOST_ARGS, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert "pod-passthrough" in {x["code"] for x in doc["findings"]}


def test_hotplug_into_a_ballooning_guest_is_flagged(tmp_path, capsys):
    # No pci= at creation, so libxl allows PoD (memory 1024 < maxmem 2048); a later pci-attach
    # meets Xen's arch_iommu_use_permitted, which refuses assignment while PoD is active.
    f = tmp_path / "pod.cfg"
    f.write_text('name = "pod"\ntype = "hvm"\nmemory = 1024\nmaxmem = 2048\n')
    main(["pci-attach", str(f), "00:02.0", "-n", *HOST_ARGS])
    out = capsys.readouterr().out
    assert ("  warning [xen] 0000:00:02.0: maxmem (2048 MiB) > memory (1024 MiB) "
            "and no pci= at creation") in out
    assert "-EXDEV" in out and "Set maxmem = memory at creation" in out
    f.write_text('name = "pod"\ntype = "hvm"\nmemory = 2048\nmaxmem = 2048\n')
    main(["pci-attach", str(f), "00:02.0", "-n", *HOST_ARGS])
    assert "open-ballooning" not in capsys.readouterr().out


def test_pv_guest_does_not_get_the_pod_note():
    # PV guests have no populate-on-demand; maxmem > memory is ordinary ballooning there.
    d = DomainConfig(xen_version=V, name="g", type="pv", pci=(dev(EHCI1),),
                     target_memkb=1 << 20, max_memkb=2 << 20)
    r = assign_devices(d, Host(rmrrs=()), (), ())
    assert "open-ballooning" not in codes(r)


# --- bad SBDF: one line, exit 2 ----------------------------------------------------------------

def test_bad_sbdf_is_a_one_line_input_error(capsys):
    assert main(["pci-attach", str(F / "nic.cfg"), "zz:02.0", "--dry-run", *HOST_ARGS]) == 2
    err = capsys.readouterr().err
    assert err == ("xlrmrr pci-attach: error: SBDF: not a PCI address (SSSS:BB:DD.F): "
                   "'zz:02.0'\n")
    assert main(["pci-attach", str(F / "nic.cfg"), "00:02.0,rdm_policy=bogus", "-n",
                 *HOST_ARGS]) == 2
    assert capsys.readouterr().err == "xlrmrr pci-attach: error: SBDF: Unknown RDM policy: bogus\n"
