"""Remediation that decides (remedies.create, remedies.rank): the ranking rules, exactly one
recommended change, what is never proposed, and the shared-RMRR group fix as one pci= line.

Expectations are hand-derived from the tables: the shared RMRR of the sys-usb case is taken from
a real Acer Aspire 5750G DMAR (corpus), mirrored in a table built here with the fixture builder,
so that the test does not need the corpus."""

import json
import sys

import pytest
from conftest import CORPUS, FIXTURES, need

from xlrmrr.cli import main
from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.driver import Options, plan
from xlrmrr.host.model import Host, PciFunction, Rmrr
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice

sys.path.insert(0, str(FIXTURES))
from build_fixtures import build_fixture  # noqa: E402

NEW = XenVersion(4, 22)
LAPTOP = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]
ACER = CORPUS / "dmar" / "acer-aspire-5750g-1c75b68b6f9e.bin"


def create_json(capsys, *args):
    rc = main(["create", *args, "--dry-run", "--json"])
    return rc, json.loads(capsys.readouterr().out)


def _scope(dev):
    return {"type": 1, "bus": "0x0", "path": [[hex(dev), 0]]}


def acer_like(tmp_path):
    """The Acer Aspire 5750G's two RMRRs as `xlrmrr host` shows them: [0x96e9c000, 0x96ebbfff]
    shared by EHCI 00:1d.0 and 00:1a.0, and the IGD's [0x97800000, 0x9f9fffff]; the DRHDs are
    the fixtures' usual two (IGD unit, INCLUDE_PCI_ALL unit)."""
    src = json.loads((FIXTURES / "dmar/usb-shared.json").read_text())
    drhds = [s for s in src["table"]["structures"] if s["type"] == 0]
    src["table"]["structures"] = drhds + [
        {"type": 1, "segment": 0, "base": "0x96e9c000", "end": "0x96ebbfff",
         "scopes": [_scope(0x1D), _scope(0x1A)]},
        {"type": 1, "segment": 0, "base": "0x97800000", "end": "0x9f9fffff",
         "scopes": [_scope(0x02)]},
    ]
    path = tmp_path / "acer-like.bin"
    path.write_bytes(build_fixture(src))
    return path


def sys_usb(tmp_path, pci="'00:1a.0'", name="sys-usb.cfg"):
    cfg = tmp_path / name
    cfg.write_text(f'# sys-usb: the USB controller for a USB VM\nname = "sys-usb"\ntype = "hvm"\n'
                   f'memory = 4096\npci = [ {pci} ]\n')
    return cfg


def _check_sys_usb(capsys, tmp_path, dmar):
    # 00:1a.0 shares its RMRR with 00:1d.0: strict, Xen refuses the assignment (-EPERM,
    # intel_iommu_assign_device): blocked. The one fix: both controllers, relaxed; the RMRR is
    # above the 2 GiB boundary, so libxl moves lowmem_end below it (0x96e9c000 rounded down to
    # 2 MiB: 0x96e00000) and the guest keeps its 4096 MiB.
    cfg = sys_usb(tmp_path)
    rc, j = create_json(capsys, str(cfg), "--dmar", str(dmar))
    assert (rc, j["verdict"]) == (1, "blocked")
    rem = j["remediation"]
    assert [r["recommended"] for r in rem].count(True) == 1
    best = rem[0]
    line = "pci = [ '00:1a.0,rdm_policy=relaxed', '00:1d.0,rdm_policy=relaxed' ]"
    assert best["recommended"] and best["verified"] and best["verdict"] == "ok"
    assert best["change"].startswith(line + " (the whole RMRR sharing group")
    assert best["edits"] == [{"key": "pci", "value": "[ '00:1a.0,rdm_policy=relaxed', "
                                                     "'00:1d.0,rdm_policy=relaxed' ]",
                              "only_if_set": False}]
    assert "whole RMRR sharing group" in best["why"] and best["why"].startswith("plans ok")
    # the line pasted into the file plans ok, lowmem_end as promised
    fixed = sys_usb(tmp_path, "'00:1a.0,rdm_policy=relaxed', '00:1d.0,rdm_policy=relaxed'",
                    "fixed.cfg")
    rc, j = create_json(capsys, str(fixed), "--dmar", str(dmar))
    assert (rc, j["verdict"], j["lowmem_end"]) == (0, "ok", 0x96E00000)
    # the text report: the Remediation section exists and the class sentence reads
    assert main(["create", str(cfg), "--dry-run", "--dmar", str(dmar)]) == 1
    out = capsys.readouterr().out
    assert f"  [recommended] {line}" in out and "      why: plans ok; assigns the whole" in out
    assert "of unknown class the range is for unknown" not in out
    assert "A relaxed policy is unknown" not in out
    assert "The device's class is not known" in out


def test_sys_usb_shared_group_fixture(capsys, tmp_path):
    _check_sys_usb(capsys, tmp_path, acer_like(tmp_path))


def test_sys_usb_shared_group_corpus(capsys, tmp_path):
    need(ACER.is_file(), f"corpus table {ACER} not found")
    _check_sys_usb(capsys, tmp_path, ACER)


def test_shared_group_with_known_classes_adds_every_member(capsys, tmp_path):
    # usb-shared: one RMRR [0xab80a000, 0xab81dfff] for 00:1a.0, 00:1d.0 and 00:14.0 (all USB
    # controllers in hosts/laptop.json). Passing 00:14.0 alone: blocked; the line names all three.
    cfg = tmp_path / "xhci.cfg"
    cfg.write_text('name = "x"\ntype = "hvm"\nmemory = 2048\npci = [ \'00:14.0\' ]\n')
    rc, j = create_json(capsys, str(cfg), "--dmar", str(FIXTURES / "dmar/usb-shared.bin"),
                        "--host-json", str(FIXTURES / "hosts/laptop.json"))
    assert (rc, j["verdict"]) == (1, "blocked")
    best = j["remediation"][0]
    assert best["recommended"] and best["verdict"] == "ok"
    assert best["change"].startswith("pci = [ '00:14.0,rdm_policy=relaxed', '00:1a.0,rdm_policy="
                                     "relaxed', '00:1d.0,rdm_policy=relaxed' ]")
    assert "is a USB controller" in best["result"]      # the risk, by class


def test_shared_group_over_low_ram_adds_the_boundary(capsys, tmp_path):
    # The same group with rdm_mem_boundary = 4096: the RMRR at 0xab80a000 is below the boundary,
    # so relaxed alone leaves RAM over it (degraded); with rdm_mem_boundary below it,
    # (0xab80a000 - 1) // 1 MiB = 2744, libxl moves lowmem_end under it: ok, recommended.
    cfg = tmp_path / "xhci.cfg"
    cfg.write_text('name = "x"\ntype = "hvm"\nmemory = 8192\nrdm_mem_boundary = 4096\n'
                   'pci = [ \'00:14.0\' ]\n')
    rc, j = create_json(capsys, str(cfg), "--dmar", str(FIXTURES / "dmar/usb-shared.bin"),
                        "--host-json", str(FIXTURES / "hosts/laptop.json"))
    assert rc == 1
    best = j["remediation"][0]
    assert best["recommended"] and best["verdict"] == "ok"
    assert best["change"].endswith(" and rdm_mem_boundary = 2744")
    assert [e["key"] for e in best["edits"]] == ["pci", "rdm_mem_boundary"]
    alone = [r for r in j["remediation"] if r["change"].endswith("rdm_policy=relaxed)")]
    assert alone and alone[0]["verdict"] == "degraded" and not alone[0]["recommended"]


def test_keep_the_guests_memory_first(capsys):
    # usb-strict-boundary: xHCI RMRR at 0xab80a000 below rdm_mem_boundary 4096, strict: blocked.
    # Verified ok: rdm_mem_boundary = 2744 and mmio_hole = 1352 (both keep 8192 MiB) and memory
    # = 2752 (0xab800000 = 2744 MiB + 8 MiB videoram: shrinks the guest); relaxed only degraded.
    rc, j = create_json(capsys, str(FIXTURES / "guests/usb-strict-boundary.cfg"), *LAPTOP)
    assert rc == 1
    rem = j["remediation"]
    assert [(r["change"].split(" (")[0], r["verdict"], r["recommended"]) for r in rem] == [
        ("rdm_mem_boundary = 2744", "ok", True),
        ("mmio_hole = 1352", "ok", False),
        ("memory = 2752", "ok", False),
        ("pci = [ '00:14.0,rdm_policy=relaxed' ]", "degraded", False),
    ]
    assert rem[0]["why"].startswith("plans ok; keeps the guest's 8192 MiB")
    assert rem[2]["why"] == "plans ok; gives the guest less memory (8192 -> 2752 MiB)"


def test_exactly_one_recommended_wherever_a_fix_is_verified(capsys):
    seen = 0
    guests = sorted((FIXTURES / "guests").glob("*.cfg"))
    for dmar in ("laptop-typical", "usb-shared", "rmrr-above-4g", "rmrr-below-1m", "rmrr-mmio-hole"):
        for g in guests:
            for v in ("4.13", "4.22"):
                main(["create", str(g), "--dry-run", "--json", "--dmar",
                      str(FIXTURES / f"dmar/{dmar}.bin"), "--xen-version", v])
                rem = json.loads(capsys.readouterr().out)["remediation"]
                flags = [r["recommended"] for r in rem]
                assert all(isinstance(f, bool) for f in flags)
                if any(r["verified"] for r in rem):
                    seen += 1
                    # the first listed, verified, and the only one
                    assert flags.count(True) == 1 and flags[0] and rem[0]["verified"]
                    ok = [r for r in rem if r["verified"] and r["verdict"] == "ok"]
                    assert not ok or rem[0]["verdict"] == "ok"
                else:
                    assert flags.count(True) == 0
                assert not [r for r in rem if "rdm_forcecheck" in r["change"]]
                assert not [r for r in rem if "hotplug" in r["change"]]
    assert seen >= 10


IGD = Sbdf(0, 0, 2, 0)
USB = Sbdf(0, 0, 0x14, 0)


@pytest.mark.parametrize("known", [True, False])
def test_never_relax_an_igd(known):
    # The IGD's stolen memory at 0x60000000 (1.5 GiB, below the 2 GiB boundary) conflicts with
    # a 4 GiB guest's RAM, strict: blocked. Relaxing it is never proposed, whether the host data
    # names its class or not (unknown: Xen itself takes 0000:00:02.0 for the IGD).
    devices = (PciFunction(IGD, class_code=0x030000, vendor=0x8086),) if known else ()
    host = Host(rmrrs=(Rmrr(0x60000000, 0x63FFFFFF, 0, (IGD,), 1),), devices=devices)
    d = DomainConfig(NEW, type="hvm", target_memkb=4096 << 10, pci=(PciDevice("00:02.0", IGD),))
    p = plan(d, host, NEW, Options(compare_versions=False))
    assert p.verdict == "blocked"
    assert p.remediation and not [r for r in p.remediation if "relaxed" in r.change]
    assert p.remediation[0].recommended and p.remediation[0].change == "rdm_mem_boundary = 1535"


def test_a_usb_controller_beside_an_igd_is_still_relaxed():
    host = Host(rmrrs=(Rmrr(0x3D000000, 0x3D7FFFFF, 0, (USB,), 1),),
                devices=(PciFunction(USB, class_code=0x0C0330, vendor=0x8086),))
    d = DomainConfig(NEW, type="hvm", target_memkb=4096 << 10,
                     pci=(PciDevice("00:02.0", IGD), PciDevice("00:14.0", USB)))
    p = plan(d, host, NEW, Options(compare_versions=False))
    relaxed = [r for r in p.remediation if "relaxed" in r.change]
    # the whole pci= line, IGD entry kept as written
    assert [r.change for r in relaxed] == [
        "pci = [ '00:02.0', '00:14.0,rdm_policy=relaxed' ] (rdm_policy=relaxed)"]


def test_relaxing_risk_names_the_device_class_devices_classify_gives():
    """remedies.risk says what relaxing risks by devices.classify, the one class rule: Intel
    integrated graphics is Intel display class at 00:02.0 even when it is not the VGA subclass
    (an IGD that is not the primary display reports 0x038000), so its stolen-memory RMRR is
    named as such (the risk text used to require class 0x0300); an NVIDIA VGA device is no IGD,
    and a storage controller (class 0x01) keeps its own clause."""
    from xlrmrr.common import Sbdf
    from xlrmrr.host.model import Host, PciFunction
    from xlrmrr.remedies.risk import device_class_risk

    igd, gpu, nvme = Sbdf(0, 0, 2, 0), Sbdf(0, 1, 0, 0), Sbdf(0, 2, 0, 0)
    host = Host(rmrrs=(), devices=(PciFunction(igd, class_code=0x038000, vendor=0x8086),
                                   PciFunction(gpu, class_code=0x030000, vendor=0x10DE),
                                   PciFunction(nvme, class_code=0x010802, vendor=0x144D)))
    assert device_class_risk(host, (igd,)).startswith(f"{igd} is Intel integrated graphics")
    assert device_class_risk(host, (gpu,)).startswith(f"{gpu}: device DMA to its RMRR lands in")
    assert device_class_risk(host, (nvme,)).startswith(f"{nvme} is a storage controller")
