"""Layout invariants over random hosts and configs (hypothesis): the guest e820 is sorted and
non-overlapping (except RDMs inside hvmloader's reserved area, a documented hvmloader overlap),
no exposed RDM overlaps guest RAM, populated pages are exactly the guest's RAM, payloads round
trip, and output is byte-identical run to run."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlrmrr.common import FOUR_GB, PAGE_SHIFT, Sbdf, XenVersion
from xlrmrr.driver import Options, plan
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.payloads import e820_bytes, parse_e820, parse_hvm_info
from xlrmrr.report.create import text
from xlrmrr.report.create_json import json_text
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice, RdmReserve

VERSIONS = [XenVersion(4, m) for m in (6, 7, 10, 13, 14, 15, 17, 19, 22)]
DEVICES = [Sbdf(0, b, d, 0) for b in (0, 1, 3) for d in (2, 0x14, 0x1D)]
REGIONS = [(0xE0000, 0x100000), (0x1000000, 0x80000000), (0x80000000, 0xF0000000),
           (0xF0000000, 0xFC000000), (0xFC000000, 0x100000000), (FOUR_GB, 64 << 30)]
QUIET = Options(compare_versions=False, remediate=False)


@st.composite
def hosts(draw):
    rmrrs, taken = [], []
    for _ in range(draw(st.integers(0, 8))):
        lo, hi = draw(st.sampled_from(REGIONS))
        pages = draw(st.integers(1, 0x3000))
        base = draw(st.integers(lo >> 12, max(lo >> 12, (hi >> 12) - pages))) << 12
        end = base + (pages << 12) - 1
        if any(base <= e and b <= end for b, e in taken):
            continue
        taken.append((base, end))
        scope = tuple(draw(st.lists(st.sampled_from(DEVICES), min_size=1, max_size=2, unique=True)))
        rmrrs.append(Rmrr(base, end, 0, scope, len(scope)))
    return Host(rmrrs=tuple(rmrrs))


@st.composite
def domains(draw):
    version = draw(st.sampled_from(VERSIONS))
    mem = draw(st.sampled_from([128, 512, 1024, 2048, 3072, 3840, 4096, 6000, 8192, 65536]))
    pci = tuple(PciDevice(str(s), s, rdm_policy=draw(st.sampled_from(["invalid", "strict", "relaxed"])))
                for s in draw(st.lists(st.sampled_from(DEVICES), max_size=3, unique=True)))
    return DomainConfig(
        version, type="hvm", target_memkb=mem * 1024, pci=pci,
        rdm=RdmReserve(draw(st.sampled_from(["ignore", "host"])),
                       draw(st.sampled_from(["invalid", "strict", "relaxed"]))),
        rdm_mem_boundary_memkb=draw(st.sampled_from([None, 0, 512 * 1024, 3072 * 1024, 8 << 20])),
        mmio_hole_memkb=draw(st.sampled_from([0, 0, 256 * 1024, 1024 * 1024, 3072 * 1024])),
        hap=draw(st.sampled_from([None, True, False])),
        bios=draw(st.sampled_from(["seabios", "ovmf", "rombios"])),
        vga=draw(st.sampled_from(["cirrus", "stdvga", "none"])))


def _overlap(a, b):
    return a.size and b.size and a.addr < b.addr + b.size and b.addr < a.addr + a.size


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts(), domains())
def test_layout_invariants(host, domain):
    p = plan(domain, host, domain.xen_version, QUIET)
    lx = p.libxl
    ram = [(0, lx.lowmem_end)] + ([(FOUR_GB, lx.highmem_end)] if lx.highmem_end > FOUR_GB else [])
    if not lx.failed:
        for r in lx.exposed_rdms:
            assert not any(r.start < e and s < r.end for s, e in ram), hex(r.start)
        assert parse_e820(e820_bytes(lx.memory_map)) == lx.memory_map
    if p.libxc is not None:
        xc = p.libxc
        spans = sorted((e.gfn, e.end_gfn) for e in xc.extents)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))            # each page once
        pages = sum(e.pages for e in xc.extents)
        want = (lx.lowmem_end >> PAGE_SHIFT) - 0x20 + max(0, (lx.highmem_end - FOUR_GB) >> PAGE_SHIFT)
        assert pages == want
        info = parse_hvm_info(p.hvm_info)
        assert info["low_mem_pgend"] == lx.lowmem_end >> 12 and info["high_mem_pgend"] == lx.highmem_end >> 12
    if p.hvmloader is not None and not p.hvmloader.failed:
        e820 = p.hvmloader.e820
        assert [e.addr for e in e820] == sorted(e.addr for e in e820)
        rdm_starts = {r.start for r in lx.exposed_rdms}
        for i, a in enumerate(e820):
            for b in e820[i + 1:]:
                if _overlap(a, b):
                    # the documented case: an RDM inside hvmloader's [ACPI area, 4G) block
                    pair = {a.addr, b.addr}
                    assert pair & rdm_starts and any(x.addr >= 0xFC000000 and x.addr + x.size == FOUR_GB
                                                     or x.addr == 0xFC000000 for x in (a, b)), (a, b)
        assert parse_e820(e820_bytes(e820)) == e820
        for e in e820:
            if e.type == 1:
                assert not any(r.start < e.addr + e.size and e.addr < r.end for r in lx.exposed_rdms)
    if p.verdict == "ok":
        assert not [f for f in p.findings if f.severity == "error"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts(), domains())
def test_output_is_byte_identical(host, domain):
    a, b = plan(domain, host), plan(domain, host)
    assert json_text(a) == json_text(b)
    assert text(a, "g.cfg") == text(b, "g.cfg")


def test_huge_guest_costs_no_more_than_small():
    import tracemalloc

    host = Host(rmrrs=(Rmrr(0xAD000000, 0xAF7FFFFF, 0, (DEVICES[0],), 1),))

    def peak(mem_mb):
        d = DomainConfig(XenVersion(4, 22), type="hvm", target_memkb=mem_mb * 1024, pci=(
            PciDevice("00:02.0", DEVICES[0]),))
        tracemalloc.start()
        p = plan(d, host, options=QUIET)
        _cur, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return p, top
    (p_small, small), (p_huge, huge) = peak(4096), peak(16 << 20)       # 4 GiB vs 16 TiB
    assert p_small.verdict == "ok"
    assert huge < small * 1.5 + 64 * 1024
    # 16 TiB + the relocated RAM does not fit hvm_info's 32-bit high_mem_pgend
    assert p_huge.verdict == "blocked" and any(f.code == "hvm-info-truncated" for f in p_huge.findings)
    p_15 = peak((15 << 20) + 1)[0]
    assert p_15.verdict == "ok" and p_15.libxl.highmem_end > 15 << 40


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts(), st.integers(0, 1 << 62), st.one_of(st.none(), st.integers(0, 1 << 62)),
       st.integers(0, 1 << 40), st.one_of(st.none(), st.integers(0, 1 << 62)), st.integers(1, 512),
       st.sampled_from(["hvm", "pvh", "pv"]), st.sampled_from(VERSIONS))
def test_any_sizes_give_a_report_never_an_exception(host, mem_kb, max_kb, hole_kb, boundary_kb, vcpus,
                                                    kind, version):
    from xlrmrr.report.create_json import payload_files

    d = DomainConfig(version, type=kind, target_memkb=mem_kb, max_memkb=max_kb, mmio_hole_memkb=hole_kb,
                     rdm_mem_boundary_memkb=boundary_kb, vcpus=vcpus,
                     pci=(PciDevice(str(DEVICES[0]), DEVICES[0]),), rdm=RdmReserve("host", "relaxed"))
    p = plan(d, host, version, QUIET if mem_kb % 4 else Options())   # a quarter with remediation
    assert p.verdict in ("ok", "blocked", "degraded")
    text(p, "g.cfg")
    json_text(p)
    payload_files(p)
