"""Scenario tests for the libxl stage. Every expected number is derived by hand from
tools/libs/light (libxl_create.c:libxl__rdm_setdefault, libxl_dom.c:libxl__build_hvm,
libxl_dm.c:libxl__domain_device_construct_rdm, libxl_x86.c:domain_construct_memmap); the
derivation is written beside the assertion."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xlrmrr.common import FOUR_GB, MB, E820Entry, Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr, reserved_device_memory_map
from xlrmrr.libxl.layout import build
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice, RdmReserve

V = XenVersion
NEW = V(4, 22)
IGD = Sbdf(0, 0, 2, 0)
USB = Sbdf(0, 0, 0x14, 0)
NIC = Sbdf(0, 3, 0, 0)
# Xen list order is reverse table order: the table had USB first, then IGD.
RMRR_IGD = Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1)
RMRR_USB = Rmrr(0xAB80A000, 0xAB81DFFF, 0, (USB,), 1)
LAPTOP = Host(rmrrs=(RMRR_IGD, RMRR_USB))


def dom(mem_mb=4096, version=NEW, **kw):
    kw.setdefault("type", "hvm")
    return DomainConfig(version, target_memkb=mem_mb * 1024, **kw)


def pci(sbdf, policy="invalid"):
    return PciDevice(str(sbdf), sbdf, rdm_policy=policy)


def errors(layout):
    return [f.message for f in layout.findings if f.severity == "error"]


def warnings(layout):
    return [f.message for f in layout.findings if f.severity == "warning"]


def test_no_rdm_4gib_guest():
    # mem_size = (4096 - 8 MiB cirrus videoram) MiB = 0xff800000 > mmio_start 0xf0000000, so
    # lowmem_end = 0xf0000000 and highmem_end = 4G + (0xff800000 - 0xf0000000) = 0x10f800000.
    lx = build(dom(), LAPTOP)
    assert lx.mem_size == 0xFF800000
    assert (lx.mmio_start, lx.mmio_size) == (0xF0000000, 0x10000000)
    assert (lx.lowmem_end, lx.highmem_end) == (0xF0000000, 0x10F800000)
    assert not lx.construct_rdm_ran and lx.rdms == ()
    # 9: RAM [0x100000, lowmem_end) then RAM [4G, highmem_end).
    assert lx.memory_map == (E820Entry(0x100000, 0xEFF00000, 1), E820Entry(FOUR_GB, 0xF800000, 1))
    # 7.7: total_pages = (4096 - 8) MiB << 8.
    assert lx.total_pages == 4088 << 8
    assert not lx.failed


def test_strategy_host_relaxed_hap_8gib():
    # 8 GiB: mem_size 8184 MiB = 0x1ff800000, lowmem 0xf0000000, highmem 0x20f800000.
    # Relocation in list order (boundary 2 GiB): 0xad000000 (2 MiB aligned) -> highmem +=
    # 0xf0000000-0xad000000 = 0x43000000 -> 0x252800000, lowmem 0xad000000; then 0xab80a000 is
    # rounded down to 0xab800000 under HAP -> highmem += 0x1800000 -> 0x254000000.
    lx = build(dom(8192, rdm=RdmReserve("host", "relaxed")), LAPTOP)
    assert (lx.lowmem_end, lx.highmem_end) == (0xAB800000, 0x254000000)
    assert [(r.start, r.size, r.policy, r.relocated) for r in lx.rdms] == [
        (0xAD000000, 0x2800000, "relaxed", True), (0xAB80A000, 0x14000, "relaxed", True)]
    assert lx.memory_map == (
        E820Entry(0x100000, 0xAB700000, 1), E820Entry(0xAD000000, 0x2800000, 2),
        E820Entry(0xAB80A000, 0x14000, 2), E820Entry(FOUR_GB, 0x154000000, 1))
    assert not lx.findings


def test_strategy_host_shadow_has_no_2mib_rounding():
    # Without HAP lowmem_end = 0xab80a000 and highmem = 0x20f800000 + (0xf0000000 - 0xab80a000)
    # = 0x253ff6000 (the reference's low 0xAB80A / high 0x253FF6).
    lx = build(dom(8192, hap=False, rdm=RdmReserve("host", "relaxed")), LAPTOP)
    assert (lx.lowmem_end, lx.highmem_end) == (0xAB80A000, 0x253FF6000)
    # hap default comes from the host: no HAP available means shadow.
    lx2 = build(dom(8192, rdm=RdmReserve("host", "relaxed")), LAPTOP, hap_available=False)
    assert (lx2.lowmem_end, lx2.highmem_end) == (0xAB80A000, 0x253FF6000)


LOW = Rmrr(0x3D000000, 0x3D7FFFFF, 0, (USB,), 1)    # below the 2 GiB boundary, in guest RAM


def test_rmrr_below_boundary_strict_fails():
    # 0x3d000000 <= boundary 0x80000000: no relocation; it overlaps [0, 0xf0000000): strict ->
    # "RDM conflict at 0x3d000000." and construct_rdm fails.
    lx = build(dom(rdm=RdmReserve("host", "strict")), Host(rmrrs=(LOW,)))
    assert lx.failed
    assert errors(lx)[:2] == ["RDM conflict at 0x3d000000.", "checking reserved device memory failed"]
    assert lx.lowmem_end == 0xF0000000 and lx.memory_map == ()


def test_rmrr_below_boundary_relaxed_is_dropped():
    lx = build(dom(rdm=RdmReserve("host", "relaxed")), Host(rmrrs=(LOW,)))
    assert not lx.failed
    assert warnings(lx) == ["Ignoring RDM conflict at 0x3d000000."]
    (r,) = lx.rdms
    assert (r.policy, r.conflict, r.exposed, r.requested_policy) == ("invalid", True, False, "relaxed")
    assert [e.type for e in lx.memory_map] == [1, 1]     # not in the map


def test_per_device_strict_overrides_global_relaxed():
    # Host query gives LOW relaxed; the device query for 00:14.0 returns the same start, so its
    # policy (INVALID -> STRICT inside construct_rdm on 4.14+) overwrites the entry: fail.
    h = Host(rmrrs=(RMRR_IGD, LOW))
    lx = build(dom(rdm=RdmReserve("host", "relaxed"), pci=(pci(USB),)), h)
    assert [(r.start, r.requested_policy) for r in lx.rdms] == [
        (0xAD000000, "relaxed"), (0x3D000000, "strict")]
    assert lx.rdms[1].assigned == (USB,) and lx.rdms[1].source == "host"
    assert "RDM conflict at 0x3d000000." in errors(lx)
    # the relocation pass ran first and moved lowmem below the IGD RMRR all the same
    assert lx.lowmem_end == 0xAD000000
    # an explicit per-device relaxed policy turns it into a warning and a dropped entry
    lx = build(dom(rdm=RdmReserve("host", "strict"), pci=(pci(USB, "relaxed"),)), Host(rmrrs=(LOW,)))
    assert not lx.failed and lx.rdms[0].policy == "invalid"


def test_strategy_ignore_only_assigned_devices():
    lx = build(dom(pci=(pci(IGD),)), LAPTOP)
    assert [(r.start, r.source, r.policy) for r in lx.rdms] == [(0xAD000000, "device", "strict")]
    assert lx.lowmem_end == 0xAD000000


def test_rmrr_in_mmio_hole_is_kept_without_moving_ram():
    # [0xf8000000, 0xf80fffff] does not overlap [0, 0xf0000000) nor [4G, highmem): exposed, no move.
    h = Host(rmrrs=(Rmrr(0xF8000000, 0xF80FFFFF, 0, (IGD,), 1),))
    lx = build(dom(pci=(pci(IGD),)), h)
    assert (lx.lowmem_end, lx.highmem_end) == (0xF0000000, 0x10F800000)
    assert lx.rdms[0].exposed and not lx.rdms[0].conflict and not lx.rdms[0].relocated
    assert E820Entry(0xF8000000, 0x100000, 2) in lx.memory_map


def test_small_guest_no_highmem():
    # memory 2048: mem_size 0x7f800000 < mmio_start: lowmem_end 0x7f800000, highmem 0.
    # The RMRRs at 0xab.../0xad... lie above lowmem_end: no conflict, no relocation.
    lx = build(dom(2048, rdm=RdmReserve("host", "strict")), LAPTOP)
    assert (lx.lowmem_end, lx.highmem_end) == (0x7F800000, 0)
    assert all(r.exposed and not r.conflict for r in lx.rdms)
    assert lx.memory_map[0] == E820Entry(0x100000, 0x7F700000, 1)
    assert len(lx.memory_map) == 3          # no highmem entry


def test_mmio_hole_1gib():
    # mmio_hole = 1024 MiB: 4G - 0x40000000 = 0xc0000000 < 0xf0000000 -> mmio_size 0x40000000.
    # 4 GiB guest: lowmem 0xc0000000, highmem = 4G + 0xff800000 - 0xc0000000 = 0x13f800000.
    lx = build(dom(mmio_hole_memkb=1024 * 1024), LAPTOP)
    assert (lx.mmio_start, lx.lowmem_end, lx.highmem_end) == (0xC0000000, 0xC0000000, 0x13F800000)
    assert lx.mmio_hole_xenstore == 0x40000000
    # with the IGD assigned: 0xad000000 > boundary -> lowmem 0xad000000, highmem += 0x13000000.
    lx = build(dom(mmio_hole_memkb=1024 * 1024, pci=(pci(IGD),)), LAPTOP)
    assert (lx.lowmem_end, lx.highmem_end) == (0xAD000000, 0x152800000)
    # mmio_hole = 256 MiB equals the default hole (4G - hole == 0xf0000000 is not below it),
    # but xenstore still gets platform/mmio_hole_size (written when 4G - hole <= 0xf0000000).
    lx = build(dom(mmio_hole_memkb=256 * 1024), LAPTOP)
    assert (lx.mmio_size, lx.mmio_hole_xenstore) == (0x10000000, 0x10000000)


def test_mmio_hole_out_of_range_is_xls_error():
    lx = build(dom(mmio_hole_memkb=4000 * 1024), LAPTOP)
    assert lx.failed and 'ERROR: invalid value 4000 for "mmio_hole"' in errors(lx)


HIGH = Rmrr(0x120000000, 0x1200FFFFF, 0, (NIC,), 1)


def test_rmrr_above_4g_never_relocated():
    # 8 GiB: highmem_end 0x20f800000 covers 0x120000000 -> conflict, strict device policy -> fail.
    lx = build(dom(8192, pci=(pci(NIC),)), Host(rmrrs=(HIGH,)))
    assert lx.failed and errors(lx)[0] == "RDM conflict at 0x120000000."
    assert (lx.lowmem_end, lx.highmem_end) == (0xF0000000, 0x20F800000)
    # 4 GiB: highmem_end 0x10f800000 ends below it: exposed above guest RAM.
    lx = build(dom(4096, pci=(pci(NIC),)), Host(rmrrs=(HIGH,)))
    assert not lx.failed and lx.rdms[0].exposed


def test_pre_4_14_no_rounding_first_entry_only_invalid_policy():
    # Two RMRRs for one device: 4.22 takes both, 4.13 only the first (list order).
    two = Host(rmrrs=(RMRR_IGD, Rmrr(0xAB80A000, 0xAB81DFFF, 0, (IGD,), 1)))
    new = build(dom(8192, pci=(pci(IGD),)), two)
    assert [r.start for r in new.rdms] == [0xAD000000, 0xAB80A000]
    assert new.lowmem_end == 0xAB800000              # HAP rounding, 4.14+
    old = build(dom(8192, version=V(4, 13), pci=(pci(IGD),)), two)
    assert [r.start for r in old.rdms] == [0xAD000000]
    assert any("uses only the first" in w for w in warnings(old))
    # 4.13 leaves the per-device policy INVALID: the entry is not sent to Xen at all.
    assert old.rdms[0].policy == "invalid" and not old.rdms[0].exposed
    # relocation still ran: lowmem 0xad000000, highmem 0x20f800000 + 0x43000000 = 0x252800000
    assert old.memory_map == (E820Entry(0x100000, 0xACF00000, 1),
                              E820Entry(FOUR_GB, 0x252800000 - FOUR_GB, 1))
    # 4.13 does not round to 2 MiB under HAP: lowmem_end 0xab80a000 with host strategy.
    lx = build(dom(8192, version=V(4, 13), rdm=RdmReserve("host", "relaxed")), LAPTOP)
    assert lx.lowmem_end == 0xAB80A000


def test_pre_4_14_conflict_with_invalid_policy_only_warns():
    lx = build(dom(version=V(4, 13), pci=(pci(USB),)), Host(rmrrs=(LOW,)))
    assert not lx.failed and warnings(lx) == ["Ignoring RDM conflict at 0x3d000000."]
    # at device add libxl__device_pci_setdefault makes it STRICT for the assignment
    assert lx.devices[0].policy_at_assign == "strict"


def test_pre_4_14_highmem_forced_to_4g():
    # A 2 GiB guest with host strategy: 4.13 sets highmem_end = 4G (3840e98f3e), no RAM entry.
    lx = build(dom(2048, version=V(4, 13), rdm=RdmReserve("host", "relaxed")), LAPTOP)
    assert lx.highmem_end == FOUR_GB
    assert all(e.addr != FOUR_GB for e in lx.memory_map)
    # no RDM query at all (strategy ignore, no pci): highmem stays 0 even on 4.13
    assert build(dom(2048, version=V(4, 13)), LAPTOP).highmem_end == 0


def test_host_query_empty_returns_early():
    lx = build(dom(rdm=RdmReserve("host", "strict"), pci=(pci(IGD),)), Host(rmrrs=()))
    assert lx.rdms == () and lx.lowmem_end == 0xF0000000
    assert any(f.code == "no-rdm" for f in lx.findings)
    # The early return on an empty host query (construct_rdm) skips everything after it: on 4.13
    # that includes the highmem_end initialisation, which would otherwise force highmem_end to
    # 4G for a 2 GiB guest (the zero-size RAM entry at 4G). With strategy ignore the same guest
    # does reach it.
    small = dict(mem_mb=2048, version=V(4, 13), pci=(pci(IGD),))
    assert build(dom(rdm=RdmReserve("host", "strict"), **small), Host(rmrrs=()), V(4, 13)).highmem_end == 0
    assert build(dom(**small), Host(rmrrs=()), V(4, 13)).highmem_end == FOUR_GB


def test_pod_with_passthrough_refused():
    d = DomainConfig(NEW, type="hvm", target_memkb=2048 * 1024, max_memkb=4096 * 1024, pci=(pci(IGD),))
    lx = build(d, LAPTOP)
    assert lx.failed
    assert "IOMMU required for device passthrough but not supported together with PoD" in errors(lx)


def test_pvh_passthrough_refused_and_pv_has_no_map():
    lx = build(dom(type="pvh", pci=(pci(IGD),)), LAPTOP)
    assert lx.failed and "passthrough not yet supported for x86 PVH guests" in errors(lx)
    # PVH layout: mmio_size 4G - 0xfc000000, low RAM from 0
    lx = build(dom(type="pvh"), LAPTOP)
    assert lx.mmio_size == 0x04000000 and lx.memory_map[0].addr == 0 and lx.video_memkb == 0
    lx = build(dom(type="pv", pci=(pci(IGD),)), LAPTOP)
    assert lx.memory_map == () and lx.rdms == () and not lx.failed


def test_memory_map_entry_limit():
    # count = 1 low + N RDMs + 1 high; >= 128 -> "Ooops! Too many entries in the memory map!"
    def host(n):
        base = 64 << 32
        return Host(rmrrs=tuple(Rmrr(base + i * 0x10000, base + i * 0x10000 + 0xFFF,
                                     0, (Sbdf(0, 1, i % 32, i // 32),), 1) for i in range(n)))
    ok = build(dom(rdm=RdmReserve("host", "relaxed")), host(125))     # 127 entries
    assert not ok.failed and len(ok.memory_map) == 127
    bad = build(dom(rdm=RdmReserve("host", "relaxed")), host(126))    # 128 entries
    assert bad.failed and "Ooops! Too many entries in the memory map!" in errors(bad)


def test_videoram_defaults_and_minimum():
    assert build(dom(vga="stdvga"), LAPTOP).video_memkb == 16 * 1024
    assert build(dom(vga="none"), LAPTOP).video_memkb == 0
    lx = build(dom(vga="stdvga", video_memkb=8 * 1024), LAPTOP)
    assert lx.failed and "videoram must be at least 16 MB for STDVGA on QEMU_XEN" in errors(lx)


def test_boundary_zero_relocates_below_1mib_and_underflows():
    # rdm_mem_boundary = 0 with an RMRR at 0xe8000: start > 0, so lowmem_end = 0xe8000 and the
    # low RAM entry [0x100000, 0xe8000) underflows (construct_rdm, domain_construct_memmap).
    h = Host(rmrrs=(Rmrr(0xE8000, 0xEFFFF, 0, (USB,), 1),))
    lx = build(dom(rdm_mem_boundary_memkb=0, pci=(pci(USB),)), h)
    assert lx.lowmem_end == 0xE8000
    assert lx.memory_map[0].size == (0xE8000 - 0x100000) % 2**64
    assert any(f.code == "lowmem-underflow" for f in lx.findings)


def test_same_start_merge_keeps_first_size_and_later_device_wins():
    a = Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD, USB), 2)
    lx = build(dom(pci=(pci(IGD, "relaxed"), pci(USB, "strict"))), Host(rmrrs=(a,)))
    assert len(lx.rdms) == 1
    assert lx.rdms[0].requested_policy == "strict" and lx.rdms[0].assigned == (IGD, USB)
    # Two entries with the same start but different sizes (IGD's one page, USB's two): identity
    # is the start address only, so the first-seen size (0x1000) stays and USB's policy wins.
    one = Rmrr(0xAD000000, 0xAD000FFF, 0, (IGD,), 1)
    two = Rmrr(0xAD000000, 0xAD001FFF, 0, (USB,), 1)
    lx = build(dom(pci=(pci(IGD, "relaxed"), pci(USB, "strict"))), Host(rmrrs=(one, two)))
    assert [(r.start, r.size, r.requested_policy, r.assigned) for r in lx.rdms] == [
        (0xAD000000, 0x1000, "strict", (IGD, USB))]


@pytest.mark.parametrize("start,relocated", [(0x80000000, False), (0x80001000, True)])
def test_boundary_is_strictly_greater(start, relocated):
    # rdm_mem_boundary 2048 MiB = 0x80000000; relocation needs start > boundary (construct_rdm's
    # relocation pass). An RMRR exactly at the boundary stays in RAM: strict -> "RDM conflict at
    # 0x80000000."; one page above it moves lowmem_end to 0x80000000 (HAP: rounded down to 2 MiB).
    r = Rmrr(start, start + 0xFFF, 0, (USB,), 1)
    lx = build(dom(pci=(pci(USB, "strict"),)), Host(rmrrs=(r,)))
    assert lx.failed != relocated
    if relocated:
        assert lx.lowmem_end == 0x80000000 and lx.rdms[0].relocated
    else:
        assert "RDM conflict at 0x80000000." in errors(lx) and lx.lowmem_end == 0xF0000000


@st.composite
def hosts(draw):
    n = draw(st.integers(0, 12))
    devs = [Sbdf(0, b, d, 0) for b in range(3) for d in range(4)] + [Sbdf(0, 0, 0, 0)]
    rmrrs = []
    for i in range(n):
        scope = tuple(draw(st.lists(st.sampled_from(devs), min_size=1, max_size=3)))
        rmrrs.append(Rmrr(i << 24, (i << 24) + 0xFFF, 0, scope, len(scope)))
    return Host(rmrrs=tuple(rmrrs), vtd_enabled=draw(st.booleans()))


@given(hosts(), st.sampled_from([Sbdf(0, b, d, 0) for b in range(3) for d in range(4)]))
def test_rmrr_index_agrees_with_the_plain_walks(host, sbdf):
    """host.index.RmrrIndex (what libxl's construct_rdm and the hypervisor stage ask) against
    the plain walks of get_reserved_device_memory and for_each_rmrr_device, on hosts with VT-d
    on and off and scopes that list 00:00.0, where Xen's walk ends."""
    from xlrmrr.host.index import RmrrIndex
    from xlrmrr.host.query import device_rmrrs

    idx = RmrrIndex(host)
    assert idx.rdm(sbdf) == reserved_device_memory_map(host, sbdf)
    assert idx.rmrrs(sbdf) == device_rmrrs(host, sbdf)


@pytest.mark.parametrize("mem", [512, 2048, 3840, 4096, 8192, 16 << 20])
def test_highmem_grows_by_what_lowmem_lost(mem):
    lx = build(dom(mem, rdm=RdmReserve("host", "relaxed")), LAPTOP)
    ram = lx.lowmem_end + max(0, lx.highmem_end - FOUR_GB)
    assert ram == lx.mem_size == (mem - 8) * MB


def test_passthrough_without_iommu_fails():
    lx = build(dom(pci=(pci(IGD),)), Host(rmrrs=(RMRR_IGD,), vtd_enabled=False))
    assert lx.failed and any(f.code == "no-iommu" for f in lx.findings)
    assert lx.rdms == ()        # the hypercall answers 0 entries without VT-d


def test_pvh_has_no_rdm_defaults():
    # libxl__rdm_setdefault runs for HVM only: a PVH guest's global policy stays INVALID, so its
    # host-strategy entries never reach the memory map, and the boundary stays ~0 KiB (no move).
    lx = build(dom(type="pvh", rdm=RdmReserve("host", "invalid")), LAPTOP)
    assert lx.policy == "invalid" and all(not r.exposed for r in lx.rdms)
    assert not any(r.relocated for r in lx.rdms) and lx.rdm_mem_boundary == ((1 << 64) - 1) * 1024 % 2**64


def test_memory_above_maxmem_builds_with_maxmem_and_warns():
    # memory 2048 MiB, maxmem 1024 MiB: mem_size = (1024 - 8 videoram) MiB = 0x3f800000, all of it
    # low RAM; target > max, so no populate-on-demand; neither xl nor libxl refuses it.
    lx = build(dom(2048, max_memkb=1024 * 1024), Host(rmrrs=()), NEW)
    assert not lx.failed and not lx.pod
    assert (lx.mem_size, lx.lowmem_end, lx.highmem_end) == (0x3F800000, 0x3F800000, 0)
    assert [f.code for f in lx.findings if f.severity == "warning"] == ["memory-above-maxmem"]
    assert not any(f.code == "memory-above-maxmem" for f in build(dom(1024, max_memkb=2048 * 1024),
                                                                     Host(rmrrs=()), NEW).findings)


@pytest.mark.parametrize("vcpus,maxvcpus,fails", [(128, None, False), (129, None, True), (1, 1000, True)])
def test_more_vcpus_than_hvm_max_vcpus_fails(vcpus, maxvcpus, fails):
    # Xen's arch_sanitise_domain_config: an HVM guest may have at most HVM_MAX_VCPUS = 128;
    # maxvcpus is what libxl asks for (vcpus only sets the online bitmap).
    lx = build(dom(vcpus=vcpus, max_vcpus=maxvcpus), Host(rmrrs=()), NEW)
    assert lx.failed == fails
    if fails:
        f = [f for f in lx.findings if f.code == "too-many-vcpus"][0]
        assert f.component == "xen" and f.message.startswith(
            f"Requested vCPUs ({maxvcpus or vcpus}) exceeds max (128)")


def test_memory_zero_fails_in_libxl():
    # memory = 0 sets max_memkb = target_memkb = 0 (xl): 0 - 8 MiB videoram leaves no RAM.
    lx = build(dom(0), Host(rmrrs=()), NEW)
    assert lx.failed and [f.code for f in lx.findings if f.severity == "error"] == ["memory-too-small"]
    assert "maxmem (0 MiB, from memory= as maxmem= is absent) does not exceed videoram (8 MiB)" \
        in errors(lx)[0]


@pytest.mark.parametrize("version", [XenVersion(4, 6), XenVersion(4, 17), NEW])
def test_vga_none_keeps_an_explicit_videoram(version):
    # libxl_create.c libxl__domain_build_info_setdefault (RELEASE-4.6.0 tools/libxl, 4.17.0
    # tools/libs/light): case LIBXL_VGA_INTERFACE_TYPE_NONE sets video_memkb = 0 only
    # `if (b_info->video_memkb == LIBXL_MEMKB_DEFAULT)`. mem_size = (max_memkb - video_memkb) *
    # 1024: 2048 MiB - 16 MiB = 0x7f000000, below the MMIO hole, so lowmem_end is that.
    kept = build(dom(2048, version, vga="none", video_memkb=16 * 1024), Host(rmrrs=()), version)
    assert kept.video_memkb == 16 * 1024 and kept.lowmem_end == 0x7F000000
    # the rule does not apply when videoram is left at its default: 0, lowmem_end 2 GiB
    default = build(dom(2048, version, vga="none"), Host(rmrrs=()), version)
    assert default.video_memkb == 0 and default.lowmem_end == 0x80000000
