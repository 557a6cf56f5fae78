"""Issue 16's release rules, each tested where it applies and in the release before, with
expectations derived by hand from Xen's source at the release tags (cited as
file:function:tag; from 4.15 libxl lives in tools/libs/light, before in tools/libxl)."""

import copy
import json

import pytest
from conftest import FIXTURES

from xlrmrr import releases
from xlrmrr.cli import main
from xlrmrr.common import E820Entry, Sbdf, XenVersion
from xlrmrr.host.index import RmrrIndex
from xlrmrr.host.model import Host, Rmrr, reserved_device_memory_map
from xlrmrr.libxl.layout import build
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
        assert RmrrIndex(host).rdm(NIC, V(text)) == ((0x7F000, 0),), text
    for text in ("4.16", "4.16.7", "4.22"):
        assert reserved_device_memory_map(host, version=V(text)) == (), text
        assert reserved_device_memory_map(host, NIC, V(text)) == (), text
        assert RmrrIndex(host).rdm(NIC, V(text)) == (), text
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
    rc, out = run(capsys, "create", str(cfg), "--dry-run", "--dmar", dmar, "--xen-version", "4.16",
                  "--verbose")      # how each other release differs
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


# ---- rules 4, 5 and 7: libxl's setdefault checks ----------------------------------------------
# tools/libs/light/libxl_create.c:libxl__domain_config_setdefault:RELEASE-4.22.0 checks, each
# ending in "goto error_out": pci= without an IOMMU ("passthrough not supported on this
# platform"), PVH with pci= (libxl_x86.c:libxl__arch_passthrough_mode_setdefault), PoD with
# pci=, then calls libxl__domain_build_info_setdefault (the videoram minimums), whose failure
# prints "Unable to set domain build info defaults". All of it runs before libxl__build_hvm
# (libxl_dom.c), which computes lowmem_end and calls libxl__domain_device_construct_rdm: a
# refused config has no "RDM conflict" lines and no layout.
USB = Sbdf(0, 0, 0x14, 0)
RMRR_IGD = Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1)
RMRR_USB = Rmrr(0xAB80A000, 0xAB81DFFF, 0, (USB,), 1)
LAPTOP = Host(rmrrs=(RMRR_IGD, RMRR_USB))
NO_IOMMU = Host(rmrrs=(RMRR_IGD,), vtd_enabled=False)
POD_OLD = "PCI device assignment for HVM guest failed due to PoD enabled"
POD_NEW = "IOMMU required for device passthrough but not supported together with PoD"


def errors(lx):
    return [f.message for f in lx.findings if f.severity == "error"]


def pod_dom(version, **kw):
    return DomainConfig(version, type="hvm", target_memkb=2048 * 1024, max_memkb=4096 * 1024,
                        **kw)


def test_pod_refusal_builds_nothing():
    # Without the refusal this guest's USB RMRR 0xab80a000 is below rdm_mem_boundary 0xb0000000
    # and overlaps guest RAM: strict -> "RDM conflict at 0xab80a000." (that is what xlrmrr
    # printed before). With PoD (memory < maxmem) libxl stops first.
    kw = dict(pci=(pci(USB, "strict"),), rdm_mem_boundary_memkb=0xB0000000 // 1024)
    lx = build(pod_dom(V("4.22"), **kw), LAPTOP)
    assert errors(lx) == [POD_NEW]
    assert lx.stopped == "setdefault" and lx.failed and not lx.construct_rdm_ran
    assert lx.rdms == () and lx.memory_map == ()
    # the rule does not apply: memory == maxmem, the layout is built and construct_rdm refuses
    full = build(dom(V("4.22"), **kw), LAPTOP)
    assert full.stopped == "" and errors(full) == [
        "RDM conflict at 0xab80a000.", "checking reserved device memory failed"]


@pytest.mark.parametrize("text,message", [
    # libxl_create.c:initiate_domain_create:RELEASE-4.6.0 and RELEASE-4.12.0 (the check before
    # libxl__domain_config_setdefault existed); libxl__domain_config_setdefault:RELEASE-4.14.4,
    # RELEASE-4.15.2, RELEASE-4.16.0: the old text. 07449ecfa4 ("tools/libxl: don't allow IOMMU
    # usage with PoD") is in RELEASE-4.17.0 and was backported to RELEASE-4.14.5, 4.15.3, 4.16.1.
    ("4.6", POD_OLD), ("4.12", POD_OLD), ("4.14", POD_OLD), ("4.14.4", POD_OLD),
    ("4.14.5", POD_NEW), ("4.15.2", POD_OLD), ("4.15.3", POD_NEW), ("4.16", POD_OLD),
    ("4.16.1", POD_NEW), ("4.17", POD_NEW), ("4.22", POD_NEW),
])
def test_pod_refusal_text_per_release(text, message):
    lx = build(pod_dom(V(text), pci=(pci(IGD),)), LAPTOP)
    assert errors(lx) == [message] and lx.stopped == "setdefault"


def test_videoram_refusal_builds_nothing_and_says_what_libxl_says():
    # libxl_create.c:libxl__domain_build_info_setdefault:RELEASE-4.22.0: stdvga on qemu-xen
    # needs 16 MB; the caller then logs "Unable to set domain build info defaults".
    lx = build(dom(V("4.22"), vga="stdvga", video_memkb=8 * 1024, pci=(pci(IGD),)), LAPTOP)
    assert errors(lx) == ["videoram must be at least 16 MB for STDVGA on QEMU_XEN",
                          "Unable to set domain build info defaults"]
    assert lx.stopped == "setdefault" and lx.rdms == () and lx.memory_map == ()
    # videoram 16: accepted, the layout is built (the IGD RMRR moves lowmem_end)
    ok = build(dom(V("4.22"), vga="stdvga", video_memkb=16 * 1024, pci=(pci(IGD),)), LAPTOP)
    assert ok.stopped == "" and ok.lowmem_end == 0xAD000000


@pytest.mark.parametrize("text,host,first", [
    # The first failing check wins: the IOMMU check precedes the PoD check from 4.13
    # (RELEASE-4.13.0 libxl__domain_config_setdefault); PoD precedes build_info_setdefault's
    # videoram check on every release (RELEASE-4.6.0 initiate_domain_create: the PoD check, then
    # libxl__domain_build_info_setdefault). RELEASE-4.12.0 has no IOMMU check there.
    ("4.13", "no-iommu", "passthrough not supported on this platform"),
    ("4.22", "no-iommu", "passthrough not supported on this platform"),
    ("4.12", "no-iommu", POD_OLD),
    ("4.22", "laptop", POD_NEW),
    ("4.6", "laptop", POD_OLD),
])
def test_setdefault_checks_in_libxls_order(text, host, first):
    h = NO_IOMMU if host == "no-iommu" else LAPTOP
    lx = build(pod_dom(V(text), vga="stdvga", video_memkb=8 * 1024, pci=(pci(IGD),)), h)
    assert len(errors(lx)) == 1 and errors(lx)[0].startswith(first)


def test_no_iommu_refused_from_4_13_built_and_failing_at_device_add_before():
    from xlrmrr.driver import Options, plan

    # RELEASE-4.13.0 (ad011ad088): refused in libxl__domain_config_setdefault, nothing built.
    p = plan(dom(V("4.13"), pci=(pci(IGD),)), NO_IOMMU, options=Options(compare_versions=False))
    assert p.verdict == "blocked" and p.libxl.stopped == "setdefault" and p.libxc is None
    assert [f.code for f in p.findings if f.severity == "error"] == ["no-iommu"]
    # RELEASE-4.12.0: nothing refuses it before the build. construct_rdm's query answers no
    # entries (common/memory.c:memory_op XENMEM_reserved_device_memory_map: no IOMMU, nothing to
    # walk), so the layout is a plain 4 GiB one; libxc populates it; then
    # libxl_pci.c:libxl__device_pci_add:RELEASE-4.12.0 calls xc_test_assign_device, which
    # passthrough/iommu.c:iommu_do_domctl:RELEASE-4.12.0 answers -ENOSYS ("if ( !iommu_enabled )
    # return -ENOSYS;"): "PCI device 0000:00:02.0 cannot be assigned - no IOMMU?" and the create
    # fails before the guest runs (no hvmloader).
    p = plan(dom(V("4.12"), pci=(pci(IGD),)), NO_IOMMU, options=Options(compare_versions=False))
    assert p.verdict == "blocked" and p.libxl.stopped == ""
    assert (p.libxl.lowmem_end, p.libxl.highmem_end) == (0xF0000000, 0x10F800000)
    assert p.libxc is not None and p.hvmloader is None
    errs = [f.message for f in p.findings if f.severity == "error"]
    assert errs[0].startswith("PCI device 0000:00:02.0 cannot be assigned - no IOMMU?")
    # A PV guest on RELEASE-4.12.0: do_pci_add ignores xc_assign_device's ENOSYS for PV
    # ("if (rc < 0 && (hvm || errno != ENOSYS))"): the guest starts, without DMA remapping.
    pv = DomainConfig(V("4.12"), type="pv", target_memkb=1 << 20, pci=(pci(IGD),))
    p = plan(pv, NO_IOMMU, options=Options(compare_versions=False))
    assert p.verdict == "ok" and "no-iommu-pv" in codes(p.findings)
    p = plan(replace_version(pv, "4.13"), NO_IOMMU, options=Options(compare_versions=False))
    assert p.verdict == "blocked" and "no-iommu" in codes(p.findings)


def replace_version(domain, text):
    from dataclasses import replace

    return replace(domain, xen_version=V(text))


def test_pvh_passthrough_refused_at_setdefault_from_4_13():
    # libxl_x86.c:libxl__arch_passthrough_mode_setdefault:RELEASE-4.13.0 (ad011ad088)
    lx = build(dom(V("4.13"), type="pvh", pci=(pci(IGD),)), LAPTOP)
    assert errors(lx) == ["passthrough not yet supported for x86 PVH guests"]
    assert lx.stopped == "setdefault"
    # RELEASE-4.12.0 has no such check: libxl builds the PVH layout. libxl__build_hvm: PVH
    # mmio_start 0xfc000000, so lowmem_end = min(4 GiB, 0xfc000000); construct_rdm runs, but
    # libxl__rdm_setdefault is HVM-only (boundary stays ~0: nothing moves) and the device's
    # INVALID policy is not defaulted before 4.14: the IGD RMRR only warns. What follows is
    # not modelled, planned as failing.
    lx = build(dom(V("4.12"), type="pvh", pci=(pci(IGD),)), LAPTOP)
    assert lx.stopped == "" and lx.construct_rdm_ran and lx.lowmem_end == 0xFC000000
    assert "Ignoring RDM conflict at 0xad000000." in [f.message for f in lx.findings]
    assert codes(f for f in lx.findings if f.severity == "error") == ["pvh-passthrough"]


def test_cli_refusal_shows_no_layout(tmp_path, capsys):
    cfg = tmp_path / "pod.cfg"
    cfg.write_text('name = "p"\ntype = "hvm"\nmemory = 2048\nmaxmem = 4096\n'
                   'pci = [ "00:02.0" ]\n')
    dmar = str(FIXTURES / "dmar" / "laptop-typical.bin")
    rc, out = run(capsys, "create", str(cfg), "--dry-run", "--dmar", dmar, "--xen-version",
                  "4.14.5", "--verbose")       # how each other release differs
    assert rc == 1 and "Layout: none. libxl refused the config" in out
    for absent in ("Layout (libxl)", "Reserved device memory", "XENMEM_set_memory_map",
                   "Guest physical address space", "lowmem_end"):
        assert absent not in out.split("Remediation")[0], absent
    assert POD_NEW in out
    # the comparison names each part of each line by the text its libxl prints
    rows = out.split("Other Xen releases")[1]
    assert f"Xen 4.10-4.13, 4.14.0-4.14.4, 4.15.0-4.15.2, 4.16.0: fails in libxl: {POD_OLD}" \
        in rows
    assert "Xen 4.17" not in rows
    rc = main(["create", str(cfg), "--dry-run", "--dmar", dmar, "--json"])
    j = json.loads(capsys.readouterr().out)
    assert (rc, j["lowmem_end"], j["highmem_end"], j["mem_size"], j["rdms"], j["memory_map"],
            j["e820"], j["hvm_info"]) == (1, None, None, None, [], [], [], None)


def test_memory_below_videoram_is_one_not_modelled_line(tmp_path, capsys):
    # libxl_dom.c:libxl__build_hvm:RELEASE-4.22.0: mem_size = (max_memkb - video_memkb) * 1024
    # in uint64_t: 8 MiB maxmem - 8 MiB cirrus videoram leaves 0; below that it wraps. xlrmrr
    # does not follow the wrapped arithmetic: it says so and prints no layout values.
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text('name = "t"\ntype = "hvm"\nmemory = 8\n')
    rc, out = run(capsys, "create", str(cfg), "--dry-run", "--dmar",
                  str(FIXTURES / "dmar" / "laptop-typical.bin"))
    assert rc == 1
    notes = [line for line in out.splitlines() if "not modelled: libxl__build_hvm" in line]
    assert len(notes) == 1 and "wraps around as a u64" in notes[0]
    assert "mem_size" not in out.replace("libxl__build_hvm's mem_size", "")
    assert "lowmem_end" not in out and "Guest e820" not in out


def test_traditional_cirrus_videoram_only_warns():
    # libxl_create.c:libxl__domain_build_info_setdefault:RELEASE-4.14.0, QEMU_XEN_TRADITIONAL:
    # cirrus defaults to 4 MB and any other videoram only logs a warning ("ignoring videoram
    # other than 4 MB for CIRRUS on QEMU_XEN_TRADITIONAL"), keeping the value; qxl is refused
    # ("qemu upstream required for qxl vga"). xlrmrr used to refuse cirrus below 4 MB with a
    # text libxl never prints.
    d = dom(V("4.14"), device_model_version="qemu-xen-traditional", video_memkb=2 * 1024)
    lx = build(d, LAPTOP)
    assert lx.stopped == "" and not lx.failed and lx.video_memkb == 2 * 1024
    assert [(f.severity, f.message) for f in lx.findings] == [
        ("warning", "ignoring videoram other than 4 MB for CIRRUS on QEMU_XEN_TRADITIONAL")]
    assert build(dom(V("4.14"), device_model_version="qemu-xen-traditional"),
                 LAPTOP).video_memkb == 4 * 1024
    lx = build(dom(V("4.14"), device_model_version="qemu-xen-traditional", vga="qxl"), LAPTOP)
    assert errors(lx) == ["qemu upstream required for qxl vga",
                          "Unable to set domain build info defaults"]


# ---- rule 1: hvmloader's dynamic reserved area --------------------------------------------
# tools/firmware/hvmloader/config.h: RESERVED_MEMORY_DYNAMIC_START is 0xFC001000 at
# RELEASE-4.6.0 ... RELEASE-4.12.3, RELEASE-4.13.0, 4.13.1 and RELEASE-4.14.0, and 0xFC100000
# at RELEASE-4.12.4, RELEASE-4.13.2, RELEASE-4.14.1 and RELEASE-4.15.0 onwards (8efa46516c
# "hvmloader: indicate ACPI tables with "ACPI data" type in e820", backported with its NVS
# follow-up de6d188a51 as 0ca821f197/0108b011e1, f63b20a213/dc38c1103c, 43eceee913/7b1e587f25).
# e820.c:memory_map_setup BUG()s ("Fail to setup memory map due to conflict on dynamic reserved
# memory range.") when an E820_RESERVED entry of the memory map satisfies check_overlap(
# RESERVED_MEMORY_DYNAMIC_START, RESERVED_MEMORY_DYNAMIC_END - START, addr, size), i.e.
# addr + size > START && addr < 0xFE000000.
DYN_OLD = ("4.6", "4.11", "4.12", "4.12.3", "4.13", "4.13.1", "4.14", "4.14.0")
DYN_NEW = ("4.12.4", "4.13.2", "4.13.5", "4.14.1", "4.14.6", "4.15", "4.22")


def _hvm_plan(text, rmrr, **kw):
    from xlrmrr.driver import Options, plan

    d = dom(V(text), pci=(pci(NIC, "strict"),), **kw)
    return plan(d, Host(rmrrs=(rmrr,)), options=Options(compare_versions=False, remediate=False))


@pytest.mark.parametrize("text", DYN_OLD + DYN_NEW)
def test_rdm_between_the_two_dynamic_starts(text):
    # [0xfc010000, 0xfc01ffff]: in the MMIO hole, no guest RAM there, so libxl exposes it
    # (E820_RESERVED in the memory map). It overlaps [0xfc001000, 0xfe000000) but not
    # [0xfc100000, 0xfe000000).
    p = _hvm_plan(text, Rmrr(0xFC010000, 0xFC01FFFF, 0, (NIC,), 1))
    conflict = "hvmloader-dynamic-conflict" in codes(p.findings)
    assert conflict is (text in DYN_OLD), text
    assert p.verdict == ("blocked" if text in DYN_OLD else "ok"), text


@pytest.mark.parametrize("text", ("4.6", "4.14", "4.14.1", "4.22"))
def test_rdm_in_the_new_dynamic_area_stops_hvmloader_on_every_release(text):
    # [0xfc100000, 0xfc10ffff] overlaps both areas; [0xfc000000, 0xfc000fff] ends exactly at
    # 0xfc001000, so check_overlap (addr + size > start) is false for both.
    p = _hvm_plan(text, Rmrr(0xFC100000, 0xFC10FFFF, 0, (NIC,), 1))
    assert "hvmloader-dynamic-conflict" in codes(p.findings) and p.verdict == "blocked"
    p = _hvm_plan(text, Rmrr(0xFC000000, 0xFC000FFF, 0, (NIC,), 1))
    assert "hvmloader-dynamic-conflict" not in codes(p.findings)


@pytest.mark.parametrize("text,nvs", [
    ("4.12.3", False), ("4.12.4", True), ("4.13.1", False), ("4.13.2", True),
    ("4.14.0", False), ("4.14.1", True), ("4.15", True),
])
def test_acpi_nvs_entry_reached_the_same_point_releases(text, nvs):
    # e820.c:build_e820_table at those tags: acpi_mem_end and the E820_NVS entry
    # [RESERVED_MEMBASE, acpi_mem_end) exist exactly where the dynamic start moved.
    p = _hvm_plan(text, Rmrr(0xAD000000, 0xAF7FFFFF, 0, (NIC,), 1))
    assert any(e.addr == 0xFC000000 and e.type == 4 for e in p.hvmloader.e820) is nvs


def test_comparison_lists_each_part_of_each_line():
    from xlrmrr.driver import plan

    host = Host(rmrrs=(Rmrr(0xFC010000, 0xFC01FFFF, 0, (NIC,), 1),))
    p = plan(dom(V("4.22"), pci=(pci(NIC, "strict"),)), host)
    rows = {d.band: d.verdict for d in p.version_deltas}
    # 4.6-4.11 whole bands (no backport there), then the part of each later line before its
    # backport; everything else behaves like 4.22
    assert rows == {"4.6-4.11, 4.12.0-4.12.3, 4.13.0-4.13.1, 4.14.0": "blocked"}
    # planned at 4.14.0, the other parts of its own line are rows of their own
    p = plan(dom(V("4.14.0"), pci=(pci(NIC, "strict"),)), host)
    assert {d.band: d.verdict for d in p.version_deltas} == {
        "4.12.4 and later 4.12.x, 4.13.2 and later 4.13.x, 4.14.1 and later 4.14.x, 4.15-4.22":
        "ok"}


# ---- rule 6: no e820 after hvmloader BUG()s -------------------------------------------------
# tools/firmware/hvmloader/hvmloader.c:main:RELEASE-4.14.0 calls memory_map_setup first and
# bios->e820_setup (build_e820_table) last; e820.c:memory_map_setup BUG()s on a reserved entry in
# the dynamic area, before pci_setup: no BAR is placed and no e820 exists.
# e820.c:build_e820_table:RELEASE-4.22.0 has BUG_ON(low_mem_end < MB(2)) after the fixed
# entries and before the memory map is copied: pci_setup has placed the BARs, but the table is
# never finished nor handed to the BIOS.

def test_memory_map_setup_bug_leaves_no_bars_and_no_e820():
    p = _hvm_plan("4.14", Rmrr(0xFC010000, 0xFC01FFFF, 0, (NIC,), 1))
    h = p.hvmloader
    assert h.bug == "memory_map_setup" and h.failed
    assert h.e820 == () and h.bars == ()
    # the release after (4.14.1) builds it: the rule does not apply there
    p = _hvm_plan("4.14.1", Rmrr(0xFC010000, 0xFC01FFFF, 0, (NIC,), 1))
    assert p.hvmloader.bug == "" and p.hvmloader.e820 and p.hvmloader.bars


def test_build_e820_table_bug_on_keeps_the_bars_but_no_e820():
    # rdm_mem_boundary = 0 and an RMRR at 0xe8000 (start > 0 = boundary): construct_rdm moves
    # lowmem_end to 0xe8000 (libxl_dm.c:libxl__domain_device_construct_rdm:RELEASE-4.22.0), so
    # hvm_info's low_mem_pgend is 0xe8 and low_mem_end 0xe8000 < 2 MiB.
    usb = Rmrr(0xE8000, 0xEFFFF, 0, (NIC,), 1)
    p = _hvm_plan("4.22", usb, mem_mb=1024, rdm_mem_boundary_memkb=0)
    h = p.hvmloader
    assert p.libxl.lowmem_end == 0xE8000
    assert h.bug == "build_e820_table" and h.e820 == () and len(h.bars) == 4


def test_emit_writes_no_e820_after_a_bug(tmp_path, capsys):
    table = laptop_table()
    nic = copy.deepcopy(table["structures"][2])
    nic.update(base="0xfc010000", end="0xfc01ffff")
    nic["scopes"][0]["path"] = [["0x1c", 0]]
    table["structures"].insert(2, nic)
    dmar = write_dmar(tmp_path, table)
    cfg = tmp_path / "g.cfg"
    cfg.write_text('name = "g"\ntype = "hvm"\nmemory = 4096\npci = [ "00:1c.0" ]\n')
    out_dir = tmp_path / "emit"
    # 4.14.1: hvmloader builds the e820 (0xfc100000 start): all four payloads
    rc = main(["create", str(cfg), "--dry-run", "--dmar", dmar, "--xen-version", "4.14.1",
               "--emit", str(out_dir)])
    capsys.readouterr()
    import os
    assert rc == 0 and sorted(os.listdir(out_dir)) == [
        "e820.bin", "hvm_info.bin", "memory_map.bin", "plan.json"]
    # 4.14.0: memory_map_setup BUG()s; xl create has built the memory map and hvm_info, so those
    # are written, and the e820 of the earlier run is removed
    rc = main(["create", str(cfg), "--dry-run", "--dmar", dmar, "--xen-version", "4.14.0",
               "--emit", str(out_dir)])
    out = capsys.readouterr().out
    assert rc == 1 and sorted(os.listdir(out_dir)) == ["hvm_info.bin", "memory_map.bin",
                                                       "plan.json"]
    j = json.loads((out_dir / "plan.json").read_text())
    assert j["e820"] == [] and j["hvmloader"]["bars"] == []
    assert j["hvmloader"]["pci_mem_start"] is None
    assert "xl create succeeds, but the guest never boots" in out.splitlines()[0]
    assert "Guest e820 (hvmloader)" not in out and "MMIO BARs" not in out


# ---- rule 2: an identity-map failure that a later RMRR of the device hides -------------------
# vtd/dmar.h:for_each_rmrr_device is two nested loops (the RMRR list, each RMRR's scope);
# vtd/iommu.c:intel_iommu_assign_device's `break` after "cannot map reserved region" leaves
# only the inner one, so each RMRR of the device is mapped in Xen's list order and `ret` is the
# result of the last.
# - RELEASE-4.16.0 (and 4.6.0 ... 4.13.4, 4.14.4, 4.15.2): reassign_device_ownership(s, d) runs
#   before the maps; a failing map calls reassign_device_ownership(d, s) (back to the previous
#   owner) and prints " cannot map reserved region (%lx,%lx] for Dom%d (%d)".
# - RELEASE-4.17.0 (78a40f8b5d, XSA-400; backported to 4.13.5, 4.14.5, 4.15.3, 4.16.1): the
#   maps come first, "%pd: cannot map reserved region [%lx,%lx]: %d"; `if ( !ret )` hands the
#   device over; else every RMRR of the device is unmapped with p2m_access_x.
# The failing map here: the page 0xfeff8000 holds one of libxc's special pages
# (xg_dom_x86.c: X86_HVM_END_SPECIAL_REGION 0xff000, 8 pages from 0xfeff8), so
# p2m_add_identity_entry / set_identity_p2m_entry refuses it under the strict policy (-EBUSY).
# libxl reserves the RMRR (it is in the MMIO hole, no RAM conflict), hvmloader accepts it (above
# RESERVED_MEMORY_DYNAMIC_END 0xfe000000).
SPECIAL = Rmrr(0xFEFF8000, 0xFEFF8FFF, 0, (NIC,), 1)      # fails: special page
HOLE = Rmrr(0xF8000000, 0xF800FFFF, 0, (NIC,), 1)         # maps: nothing there


def _assign(text, rmrrs):
    from xlrmrr.driver import Options, plan

    d = dom(V(text), mem_mb=2048, pci=(pci(NIC, "strict"),))
    return plan(d, Host(rmrrs=rmrrs), options=Options(compare_versions=False, remediate=False))


@pytest.mark.parametrize("text,handed_back,message", [
    ("4.6", True, "[VT-D] cannot map reserved region (feff8000,feff8fff] for Dom1 (-16)"),
    ("4.14.4", True, "[VT-D] cannot map reserved region (feff8000,feff8fff] for Dom1 (-16)"),
    ("4.16", True, "[VT-D] cannot map reserved region (feff8000,feff8fff] for Dom1 (-16)"),
    ("4.13.5", False, "[VT-D]d1: cannot map reserved region [feff8000,feff8fff]: -16"),
    ("4.14.5", False, "[VT-D]d1: cannot map reserved region [feff8000,feff8fff]: -16"),
    ("4.16.1", False, "[VT-D]d1: cannot map reserved region [feff8000,feff8fff]: -16"),
    ("4.17", False, "[VT-D]d1: cannot map reserved region [feff8000,feff8fff]: -16"),
    ("4.22", False, "[VT-D]d1: cannot map reserved region [feff8000,feff8fff]: -16"),
])
def test_failure_hidden_by_a_later_rmrr(text, handed_back, message):
    # Xen's list order SPECIAL, HOLE: SPECIAL fails (-EBUSY), HOLE maps, ret = 0: xl create
    # succeeds. Up to XSA-400 the device is back with its previous owner; from it, the device
    # is the guest's with SPECIAL unmapped. Either way it does not work: degraded, not blocked.
    p = _assign(text, (SPECIAL, HOLE))
    d = p.hypervisor.devices[0]
    assert (d.rc, d.succeeds, d.handed_back, d.assigned) == (0, True, handed_back,
                                                             not handed_back)
    assert [o.rc for o in d.outcomes] == [-16, 0]      # both RMRRs tried
    assert message in d.log
    assert p.verdict == "degraded" and not p.hypervisor.blocked
    assert "identity-failure-hidden" in codes(p.findings)
    assert not [f for f in p.findings if f.severity == "error"]


@pytest.mark.parametrize("text,undone", [("4.16", False), ("4.16.1", True), ("4.22", True)])
def test_failure_of_the_last_rmrr_fails_the_assignment(text, undone):
    # Xen's list order HOLE, SPECIAL: the last map fails, ret = -EBUSY: xc_assign_device
    # fails and xl create with it (blocked, as before). From XSA-400 the HOLE map is undone
    # (iommu_identity_mapping(d, p2m_access_x, ...): count 1 -> 0, pages cleared, unlisted);
    # before, nothing undoes it.
    p = _assign(text, (HOLE, SPECIAL))
    d = p.hypervisor.devices[0]
    assert d.rc == -16 and not d.succeeds and not d.handed_back and p.verdict == "blocked"
    assert d.undone is undone
    assert [(m.base, m.count) for m in p.hypervisor.identity_maps] == (
        [] if undone else [(0xF8000000, 1)])
    assert "identity-failure-hidden" not in codes(p.findings)


def test_single_rmrr_failure_still_blocks():
    # one RMRR: it is the last, so its failure is the result on every release
    for text in ("4.6", "4.16", "4.22"):
        p = _assign(text, (SPECIAL,))
        assert p.verdict == "blocked" and p.hypervisor.devices[0].rc == -16, text


# ---- found on the way: huge 64-bit BARs (hvmloader pci.c) ------------------------------------
# tools/firmware/hvmloader/pci.c:pci_setup:RELEASE-4.19.0 (57acad12a0, backported to
# RELEASE-4.17.4 and RELEASE-4.18.1): a 64-bit BAR over BAR_RELOC_THRESH (1 GiB) sets
# bar64_relocate, is left out of mmio_total and goes above 4 GiB unconditionally. At
# RELEASE-4.18.0 it counts in mmio_total, so the hole grows: for a 1 GiB guest (low_mem_end
# 0x3f800000) pci_mem_start 0xf0000000 << 1 ... stops at 0x80000000 (the next shift is 0);
# 0x80000000 + 16 MiB (xen-platform) still exceed [0x80000000, 0xfc000000), so the 2 GiB BAR
# goes high (4 GiB, 2 GiB aligned) and the platform BAR lands at 0x80000000.

@pytest.mark.parametrize("text,pci_mem_start,platform", [
    ("4.17.3", 0x80000000, 0x80000000), ("4.17.4", 0xF0000000, 0xF0000000),
    ("4.18", 0x80000000, 0x80000000), ("4.18.1", 0xF0000000, 0xF0000000),
    ("4.19", 0xF0000000, 0xF0000000), ("4.14", 0x80000000, 0x80000000),
])
def test_huge_64bit_bar_and_the_low_hole(text, pci_mem_start, platform):
    from xlrmrr.host.model import Bar, PciFunction
    from xlrmrr.hvmloader.main import build as hvmloader_build

    gpu = PciFunction(IGD, class_code=0x030000, vendor=0x8086,
                      bars=(Bar(0, 1 << 31, is_64bit=True, prefetchable=True),))
    host = Host(rmrrs=(), devices=(gpu,))
    d = dom(V(text), mem_mb=1024, pci=(pci(IGD),), gfx_passthru="igd")
    lx = build(d, host)
    h = hvmloader_build(lx, d, host, V(text))
    assert h.pci_mem_start == pci_mem_start
    bars = {(b.device, b.index): b for b in h.bars}
    assert bars[("0000:00:02.0", 0)].high and bars[("0000:00:02.0", 0)].base == 0x100000000
    assert bars[("xen-platform", 1)].base == platform
