"""Issue 16's release rules, each tested where it applies and in the release before, with
expectations derived by hand from Xen's source at the release tags (cited as
file:function:tag; from 4.15 libxl lives in tools/libs/light, before in tools/libxl)."""

import copy
import json

from conftest import FIXTURES

from xlrmrr import releases
from xlrmrr.cli import main
from xlrmrr.common import E820Entry, Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr, reserved_device_memory_map
from xlrmrr.libxl import RdmIndex, build
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice, RdmReserve

V = XenVersion.parse
NIC = Sbdf(0, 3, 0, 0)
IGD = Sbdf(0, 0, 2, 0)


def dom(version, mem_mb=4096, **kw):
    kw.setdefault("type", "hvm")
    return DomainConfig(version, target_memkb=mem_mb * 1024, **kw)


def pci(sbdf, policy="invalid"):
    return PciDevice(str(sbdf), sbdf, rdm_policy=policy)


def codes(findings):
    return [f.code for f in findings]


def laptop_table():
    return json.loads((FIXTURES / "dmar" / "laptop-typical.json").read_text())["table"]


def write_dmar(tmp_path, table, name="host.bin"):
    from xlrmrr.acpi.dmar import build as build_dmar
    from xlrmrr.acpi.dmar import from_json

    path = tmp_path / name
    path.write_bytes(build_dmar(from_json(table)))
    return str(path)


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr().out
    return rc, out


# ---- rule 3: zero-page RMRRs ----------------------------------------------------------------
# xen/common/memory.c:get_reserved_device_memory:RELEASE-4.15.0 copies every RMRR the vendor
# walk offers, nr_pages 0 included; RELEASE-4.16.0 (2209c36007) returns at once when nr is 0
# ("if ( !nr ) return 1;"), so the RMRR is neither copied nor counted. nr is
# PFN_UP(end_address) - PFN_DOWN(base_address) (vtd/dmar.c:
# intel_iommu_get_reserved_device_memory): 0 for [X, X] with X page-aligned.
ZERO = Rmrr(0x7F000000, 0x7F000000, 0, (NIC,), 1)       # PFN_UP 0x7f000 - PFN_DOWN 0x7f000 = 0
ONE_BYTE = Rmrr(0x7F000800, 0x7F000800, 0, (NIC,), 1)   # PFN_UP 0x7f001 - 0x7f000 = 1 page


def test_zero_page_rmrr_query_per_release():
    host = Host(rmrrs=(ZERO,))
    assert ZERO.nr_pages == 0
    for text in ("4.6", "4.14.6", "4.15", "4.15.7"):
        assert reserved_device_memory_map(host, version=V(text)) == ((0x7F000, 0),), text
        assert reserved_device_memory_map(host, NIC, V(text)) == ((0x7F000, 0),), text
        assert RdmIndex(host, V(text)).query(NIC) == ((0x7F000, 0),), text
    for text in ("4.16", "4.16.7", "4.22"):
        assert reserved_device_memory_map(host, version=V(text)) == (), text
        assert reserved_device_memory_map(host, NIC, V(text)) == (), text
        assert RdmIndex(host, V(text)).query(None) == (), text
    # Not page-aligned: one page, reported by every release (the rule does not apply).
    one = Host(rmrrs=(ONE_BYTE,))
    for text in ("4.15", "4.16", "4.22"):
        assert reserved_device_memory_map(one, version=V(text)) == ((0x7F000, 1),), text


def test_zero_page_rmrr_below_boundary_conflicts_up_to_4_15_only():
    # tools/libs/light/libxl_dm.c:libxl__domain_device_construct_rdm:RELEASE-4.15.0: the device
    # query returns (0x7f000, 0); its INVALID policy defaults to strict (6fdb8eef87); start
    # 0x7f000000 is not above rdm_mem_boundary 0x80000000, so lowmem_end stays 0xf0000000;
    # overlaps_rdm(0, 0xf0000000, 0x7f000000, 0) = (0 + 0xf0000000 > 0x7f000000) &&
    # (0 < 0x7f000000 + 0) is true: strict -> "RDM conflict at 0x7f000000." and
    # "checking reserved device memory failed" (libxl_dom.c:libxl__build_hvm).
    host = Host(rmrrs=(ZERO,))
    lx = build(dom(V("4.15"), pci=(pci(NIC),)), host)
    assert lx.failed
    assert [(r.start, r.size, r.policy, r.conflict) for r in lx.rdms] == [
        (0x7F000000, 0, "strict", True)]
    assert [f.message for f in lx.findings if f.severity == "error"] == [
        "RDM conflict at 0x7f000000.", "checking reserved device memory failed"]
    # RELEASE-4.16.0: the query answers nothing; libxl__domain_device_construct_rdm has no RDM
    # and the layout is that of a guest without RMRRs: RAM [0x100000, 0xf0000000),
    # [4G, 4G + 0xff800000 - 0xf0000000).
    lx = build(dom(V("4.16"), pci=(pci(NIC),)), host)
    assert not lx.failed and lx.rdms == ()
    assert (lx.lowmem_end, lx.highmem_end) == (0xF0000000, 0x10F800000)
    assert lx.memory_map == (E820Entry(0x100000, 0xEFF00000, 1),
                             E820Entry(0x100000000, 0xF800000, 1))


def test_zero_page_rmrr_above_boundary_moves_lowmem_up_to_4_15_only():
    # Same walk with [0xab80a000, 0xab80a000] and rdm=strategy=host (RELEASE-4.15.0): start
    # 0xab80a000 > boundary and < lowmem_end 0xf0000000, so lowmem_end moves to it, rounded
    # down to 2 MiB under HAP (5f29f34981): 0xab800000; highmem_end 0x10f800000 + 0xf0000000 -
    # 0xab800000 = 0x154000000. The entry (size 0) goes into the memory map as RESERVED
    # (libxl_x86.c:domain_construct_memmap). 4.16.0: nothing reported, nothing moves.
    host = Host(rmrrs=(Rmrr(0xAB80A000, 0xAB80A000, 0, (IGD,), 1),))
    d = dict(rdm=RdmReserve("host", "strict"))
    lx = build(dom(V("4.15"), **d), host)
    assert (lx.lowmem_end, lx.highmem_end) == (0xAB800000, 0x154000000)
    assert E820Entry(0xAB80A000, 0, 2) in lx.memory_map
    lx = build(dom(V("4.16"), **d), host)
    assert (lx.lowmem_end, lx.highmem_end) == (0xF0000000, 0x10F800000)
    assert "no-rdm" in codes(lx.findings)


def test_zero_page_rmrr_cli_per_release(tmp_path, capsys):
    table = laptop_table()
    nic = copy.deepcopy(table["structures"][2])
    nic.update(base="0x7f000000", end="0x7f000000")
    nic["scopes"][0]["path"] = [["0x1c", 0]]
    table["structures"].insert(2, nic)
    dmar = write_dmar(tmp_path, table)
    cfg = tmp_path / "g.cfg"
    cfg.write_text('name = "g"\ntype = "hvm"\nmemory = 4096\npci = [ "00:1c.0" ]\n')
    rc, out = run(capsys, "create", str(cfg), "--dry-run", "--dmar", dmar, "--xen-version", "4.15")
    assert rc == 1 and "RDM conflict at 0x7f000000." in out
    rc, out = run(capsys, "create", str(cfg), "--dry-run", "--dmar", dmar, "--xen-version", "4.16")
    own, rows = out.split("Other Xen releases")
    assert rc == 0 and "RDM conflict" not in own
    # no page of it is identity-mapped (iommu_identity_mapping maps base_pfn up to
    # PAGE_ALIGN(end) >> 12, none here), so nothing warns of BARs over a 1:1 mapping
    assert "is identity-mapped but not in the guest's e820" not in own
    # the release comparison names the bands that still see the RMRR (4.14-4.15: it is
    # reported and conflicts; before 4.14 the device's INVALID policy only warns)
    assert "Xen 4.14-4.15: verdict blocked instead of ok; fails in libxl: RDM conflict at " \
        "0x7f000000." in rows


def test_zero_page_change_is_named():
    c = releases.XEN_RDM_ZERO_PAGES_SKIPPED
    assert (str(c.first), c.commit, c.points) == ("4.16", "2209c36007", ())
    assert not c.in_effect(V("4.15.7")) and c.in_effect(V("4.16"))
