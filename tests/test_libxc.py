"""meminit_hvm extents, special pages, hvm_info and module placement (tools/libs/guest/xg_dom_x86.c:
meminit_hvm, alloc_magic_pages_hvm, build_hvm_info), derived by hand."""

from hypothesis import given, settings
from hypothesis import strategies as st

from xlrmrr.common import FOUR_GB, Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.libxc import build, meminit_extents, place_modules
from xlrmrr.libxl.layout import build as libxl_build
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice, RdmReserve

HOLE = (0xF0000000, 0x10000000)


def runs(lo, hi, hole=HOLE):
    return [(g, o, c) for g, o, c in meminit_extents(lo, hi, *hole)]


def test_4gib_guest_extents_by_hand():
    # pfns 0-0x9f: 0xa0 x 4K. cur=0xc0: 1G clip to 0x40000-0xc0, 2M clip to 0x200-0xc0 = 0x140
    # x 4K. 0x200..0x40000: 2 MiB extents, 8 MiB at a time: (0x40000-0x200)/0x200 = 0x1ff.
    # 0x40000..0xc0000: two 1 GiB extents ([0x40000,0x80000), [0x80000,0xc0000) avoid the hole);
    # 0xc0000..0xf0000: 0x30000 pages < 1 GiB: 0x180 x 2M. High: 0x100000..0x10f800: 0x7c x 2M.
    assert runs(0xF0000000, 0x10F800000) == [
        (0, 0, 0xA0), (0xC0, 0, 0x140), (0x200, 9, 0x1FF), (0x40000, 18, 2),
        (0xC0000, 9, 0x180), (0x100000, 9, 0x7C)]


def test_unaligned_lowmem_end_gets_4k_tail():
    # lowmem_end 0xab80a000 (shadow, no rounding): after 2M up to 0xab800 the 0xa pages are 4K.
    r = runs(0xAB80A000, 0)
    assert r[-1] == (0xAB800, 0, 0xA)
    assert r[-2] == (0x80000, 9, (0xAB800 - 0x80000) >> 9)


def test_1gib_never_over_the_mmio_hole():
    # mmio_hole 1 GiB: hole and lowmem_end at 0xc0000000: [0x40000, 0xc0000) is two 1 GiB extents.
    assert (0x40000, 18, 2) in runs(0xC0000000, 0, (0xC0000000, 0x40000000))
    # check_mmio_hole itself: with a (synthetic) hole at [0x80000000, +4 KiB) inside RAM, the
    # 1 GiB extent [0x80000, 0xc0000) is refused and that GiB goes as 2 MiB extents instead, which
    # run on to lowmem_end: (0xf0000 - 0x80000) / 0x200 = 0x380 of them.
    r = runs(0xF0000000, 0, (0x80000000, 0x1000))
    assert r[-2:] == [(0x40000, 18, 1), (0x80000, 9, 0x380)]
    assert not any(o == 18 and g <= 0x80000 < g + (c << 18) for g, o, c in r)


def test_16tib_guest_is_a_handful_of_runs():
    hi = FOUR_GB + (16 << 40)
    r = runs(0xF0000000, hi)
    assert len(r) < 10
    assert r[-1] == (0x100000, 18, (16 << 40) >> 30)


def _layout(mem_mb, **kw):
    d = DomainConfig(XenVersion(4, 22), type="hvm", target_memkb=mem_mb * 1024, **kw)
    return libxl_build(d, Host(rmrrs=(Rmrr(0xAD000000, 0xAF7FFFFF, 0, (Sbdf(0, 0, 2, 0),), 1),)))


def test_result_counts_special_pages_and_hvm_info():
    lx = _layout(8192, rdm=RdmReserve("host", "relaxed"))
    xc = build(lx, nr_vcpus=1, vcpus_online=1)
    # lowmem 0xad000000, highmem 0x252800000 -> hvm_info low 0xad000 / high 0x252800.
    assert xc.hvm_info[20:24] == (0xAD000).to_bytes(4, "little")
    assert xc.hvm_info[28:32] == (0x252800).to_bytes(4, "little")
    assert sum(xc.hvm_info) % 256 == 0
    assert [(e.gfn, e.order, e.count) for e in xc.special_pages] == [(0xFEFF0, 0, 8), (0xFEFF8, 0, 8)]
    # debug counter starts at 0xc0: 0xc0 + 0xa0 + 0x140 - 0xa0 = 0x200 (the VGA hole counted)
    assert xc.pages_4k == 0xC0 + 0x140
    assert not xc.failed and not xc.pod


def test_pod_flagged():
    d = DomainConfig(XenVersion(4, 22), type="hvm", target_memkb=1024 * 1024, max_memkb=2048 * 1024)
    lx = libxl_build(d, Host(rmrrs=()))
    xc = build(lx, 1, 1)
    assert xc.pod and any(f.code == "pod" for f in xc.findings)


def test_modules_follow_hvmloader_and_are_checked_against_rdms():
    mods = place_modules((("acpi_firmware", 0x1801), ("smbios_firmware", 0x100)), 0x80000)
    assert [(m.addr, m.size) for m in mods] == [(0x180000, 0x1801), (0x182000, 0x100)]
    # an RMRR in low RAM dropped under relaxed, right where the module lands
    h = Host(rmrrs=(Rmrr(0x180000, 0x18FFFF, 0, (Sbdf(0, 0, 0x14, 0),), 1),))
    d = DomainConfig(XenVersion(4, 22), type="hvm", target_memkb=2048 * 1024,
                     pci=(PciDevice("00:14.0", Sbdf(0, 0, 0x14, 0), rdm_policy="relaxed"),))
    lx = libxl_build(d, h)
    xc = build(lx, 1, 1, firmware_sizes=(("acpi_firmware", 0x1000),), hvmloader_size=0x80000)
    assert any(f.code == "module-over-rdm" and f.severity == "warning" for f in xc.findings)


@settings(max_examples=60, deadline=None)
@given(st.integers(0x200, 0xFEFF0), st.integers(0, 1 << 30),
       st.sampled_from([0xF0000000, 0xC0000000, 0x80000000]))
def test_extents_cover_ram_exactly_once(low_pages, high_pages, mmio_start):
    lowmem_end = min(low_pages << 12, mmio_start)
    highmem_end = FOUR_GB + (high_pages << 12) if high_pages else 0
    r = meminit_extents(lowmem_end, highmem_end, mmio_start, FOUR_GB - mmio_start)
    spans = sorted((g, g + (c << o)) for g, o, c in r)
    for (_s1, e1), (s2, _e2) in zip(spans, spans[1:]):
        assert e1 <= s2                                # disjoint
    want = [(0, 0xA0), (0xC0, lowmem_end >> 12)]
    if high_pages:
        want.append((FOUR_GB >> 12, highmem_end >> 12))
    merged = []
    for s, e in spans:
        if merged and merged[-1][1] == s:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    assert merged == [w for w in want if w[1] > w[0]]
    for g, o, c in r:
        assert g % (1 << o) == 0                       # superpages are aligned
        if o == 18:
            assert not (g << 12 < FOUR_GB and (g + (c << 18)) << 12 > mmio_start)


def test_module_reaching_the_mmio_hole_fails_like_libxc():
    lx = _layout(512)
    xc = build(lx, 1, 1, firmware_sizes=(("acpi_firmware", 0xF0000000),), hvmloader_size=0x80000)
    assert xc.failed
    assert any("Module ACPI module would be loaded abrove 4GB" in f.message for f in xc.findings)


def test_partial_8mib_batch_is_clipped_to_whole_2mib_extents():
    # lowmem_end 21 MiB = pfn 0x1500. 0xc0..0x200: 0x140 x 4K; 0x200..0x1200: 8 MiB batches,
    # 2 x 4 x 2M. At 0x1200 only 0x300 pages remain: not a 2 MiB multiple and > 0x200, so libxc
    # clips the count to 0x200 (one 2M extent) and the last 0x100 pages are 4K. Without that
    # clipping all 0x300 would be 4K pages.
    assert runs(0x1500000, 0) == [(0, 0, 0xA0), (0xC0, 0, 0x140), (0x200, 9, 9), (0x1400, 0, 0x100)]
