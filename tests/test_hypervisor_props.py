"""Property tests: no plan xlrmrr calls clean leaves an identity map over guest RAM, and no check
that passes leaves an RMRR sharing group split across guests (or a device in two guests).

The oracles here are computed independently of xlrmrr.hypervisor: guest RAM from libxl's
lowmem_end/highmem_end (xen-rdm.md 10.1), groups by a plain transitive closure over RMRR scopes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlrmrr import driver
from xlrmrr.common import FOUR_GB, Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.hypervisor import (
    RUN_KEPT,
    RUN_MAPPED,
    GuestCheck,
    assign_for_plan,
    check_guests,
    guest_functions,
)
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice, RdmReserve

POOL = tuple(Sbdf(0, 0, d, 0) for d in (0x02, 0x14, 0x1A, 0x1D, 0x1F))
ZONES = ((0x80000, 0x100000), (0x100000, 0x80000000), (0x80000000, 0xF0000000),
         (0xF0000000, 0xFC000000), (FOUR_GB, FOUR_GB + (8 << 30)))


@st.composite
def hosts(draw):
    rmrrs, taken = [], []
    for _ in range(draw(st.integers(1, 4))):
        lo, hi = draw(st.sampled_from(ZONES))
        pages = draw(st.integers(1, 0x2000))
        base = draw(st.integers(lo >> 12, max(lo >> 12, (hi >> 12) - pages))) << 12
        end = base + (pages << 12) - 1
        if any(base <= e and b <= end for b, e in taken):
            continue                       # Xen refuses overlapping RMRRs at boot
        taken.append((base, end))
        devs = tuple(draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=3, unique=True)))
        rmrrs.append(Rmrr(base, end, 0, devs, len(devs)))
    return Host(rmrrs=tuple(rmrrs))


@st.composite
def guests(draw, name):
    devs = draw(st.lists(st.sampled_from(POOL), max_size=3, unique=True))
    pci = tuple(PciDevice(spec=str(s), sbdf=s,
                          rdm_policy=draw(st.sampled_from(("strict", "relaxed", "invalid"))))
                for s in devs)
    rdm = draw(st.sampled_from((RdmReserve(), RdmReserve("host", "relaxed"),
                                RdmReserve("host", "strict"))))
    return DomainConfig(xen_version=XenVersion(4, 22), name=name, type="hvm",
                        target_memkb=draw(st.integers(512, 8192)) * 1024, pci=pci, rdm=rdm)


def guest_ram(layout):
    out = [(0, 0xA0000), (0xC0000, layout.lowmem_end), (0xFEFF0000, 0xFF000000)]
    if layout.highmem_end > FOUR_GB:
        out.append((FOUR_GB, layout.highmem_end))
    return out


def groups_by_closure(host):
    adj = {}
    for r in host.rmrrs:
        if r.scope_count > 1:
            for a in r.devices:
                adj.setdefault(a, set()).update(r.devices)
    seen, out = set(), []
    for start in adj:
        if start in seen:
            continue
        todo, comp = [start], set()
        while todo:
            x = todo.pop()
            if x not in comp:
                comp.add(x)
                todo.extend(adj[x] - comp)
        seen |= comp
        out.append(comp)
    return out


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(hosts(), guests("g"))
def test_clean_plan_never_maps_over_guest_ram(host, domain):
    p = driver.plan(domain, host, XenVersion(4, 22), driver.Options(remediate=False))
    hv = assign_for_plan(p)
    if hv is None:
        return
    ram = guest_ram(p.libxl)
    for d in hv.devices:
        for o in d.outcomes:
            for run in o.runs:
                overlaps = any(run.start < e and s < run.end for s, e in ram)
                if run.state == RUN_MAPPED:
                    assert not overlaps        # Xen never replaces a RAM page by a 1:1 entry
                if run.state == RUN_KEPT:
                    assert overlaps
    if p.verdict == "ok":
        for d in hv.devices:
            assert d.assigned
            for o in d.outcomes:
                assert o.honoured
                assert not any(o.start < e and s < o.end for s, e in ram)


@SETTINGS
@given(hosts(), st.lists(st.integers(0, 10), min_size=2, max_size=3), st.data())
def test_passing_check_never_splits_a_group(host, seeds, data):
    checks = []
    for i, _ in enumerate(seeds):
        d = data.draw(guests(f"g{i}"))
        p = driver.plan(d, host, XenVersion(4, 22), driver.Options(remediate=False))
        checks.append(GuestCheck(f"g{i}.cfg", d.name, p.verdict, guest_functions(d, host),
                                 assign_for_plan(p)))
    hc = check_guests(host, checks)
    if hc.exit_status != 0:
        return
    owner = {}
    for g in checks:
        for s in g.functions:
            assert s not in owner, "a device in two guests passed the check"
            owner[s] = g.label
    for comp in groups_by_closure(host):
        assert len({owner[m] for m in comp if m in owner}) <= 1
