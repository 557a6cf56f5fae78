"""Property tests: no plan xlrmrr calls clean leaves an identity map over guest RAM, and no check
that passes leaves an RMRR sharing group split across guests (or a device in two guests).

The oracles here are computed independently of xlrmrr.hypervisor: guest RAM from libxl's
lowmem_end/highmem_end (xg_dom_x86.c:meminit_hvm), groups by a plain transitive closure over
RMRR scopes.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from xlrmrr import driver
from xlrmrr.common import FOUR_GB, Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr
from xlrmrr.hostcheck import GuestCheck, check_guests
from xlrmrr.hypervisor.assignment import guest_functions
from xlrmrr.hypervisor.plans import assign_for_plan
from xlrmrr.hypervisor.results import RUN_KEPT, RUN_MAPPED
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice, RdmReserve

POOL = tuple(Sbdf(0, 0, d, 0) for d in (0x02, 0x14, 0x1A, 0x1D, 0x1F))
ZONES = ((0x80000, 0x100000), (0x100000, 0x80000000), (0x80000000, 0xF0000000),
         (0xF0000000, 0xFC000000), (FOUR_GB, FOUR_GB + (8 << 30)))


# The MMIO hole and 2-4 GiB (where libxl moves lowmem_end below an RDM) weigh more, so that
# plans with honoured RMRRs (verdict ok) are common, not just failures.
WEIGHTED_ZONES = ZONES + (ZONES[3],) * 3 + (ZONES[2],) * 2


@st.composite
def hosts(draw, zones=ZONES, max_scope=3):
    rmrrs, taken = [], []
    for _ in range(draw(st.integers(1, 4))):
        lo, hi = draw(st.sampled_from(zones))
        pages = draw(st.integers(1, 0x2000))
        base = draw(st.integers(lo >> 12, max(lo >> 12, (hi >> 12) - pages))) << 12
        end = base + (pages << 12) - 1
        if any(base <= e and b <= end for b, e in taken):
            continue                       # Xen refuses overlapping RMRRs at boot
        taken.append((base, end))
        devs = tuple(draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=max_scope,
                                   unique=True)))
        rmrrs.append(Rmrr(base, end, 0, devs, len(devs)))
    return Host(rmrrs=tuple(rmrrs))


@st.composite
def guests(draw, name, pool=POOL, min_devs=0):
    devs = draw(st.lists(st.sampled_from(pool), min_size=min_devs, max_size=3, unique=True))
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


@st.composite
def host_and_guest(draw):
    """Half the cases: RMRRs weighted to the MMIO hole and 2-4 GiB, unshared, and a guest that
    takes devices those RMRRs name, so that ok plans with RMRRs are common, not rare (about a
    third of the examples in a measured run, against 4 in 150 with uniform zones)."""
    if draw(st.booleans()):
        return draw(hosts()), draw(guests("g"))
    host = draw(hosts(WEIGHTED_ZONES, max_scope=1))
    named = tuple(dict.fromkeys(d for r in host.rmrrs for d in r.devices))
    return host, draw(guests("g", named, min_devs=1))


@SETTINGS
@given(host_and_guest())
@example((Host(rmrrs=(Rmrr(0xF8000000, 0xF800FFFF, 0, (POOL[0],), 1),)),
          DomainConfig(xen_version=XenVersion(4, 22), name="g", type="hvm",
                       target_memkb=2048 * 1024, pci=(PciDevice(spec="00:02.0", sbdf=POOL[0]),))))
def test_clean_plan_never_maps_over_guest_ram(case):
    # The @example by hand: a 16-page RMRR in the MMIO hole of a 2 GiB guest, strict: mapped
    # 1:1 -> ok, and the ok branch below checks it.
    host, domain = case
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


EHCI1, EHCI2 = POOL[2], POOL[3]
USB_PAIR = Host(rmrrs=(Rmrr(0xF8000000, 0xF801FFFF, 0, (EHCI1, EHCI2), 2),))


def relaxed_guest(name, *devs, memory=2048):
    return DomainConfig(xen_version=XenVersion(4, 22), name=name, type="hvm",
                        target_memkb=memory * 1024,
                        pci=tuple(PciDevice(spec=str(s), sbdf=s, rdm_policy="relaxed")
                                  for s in devs))


def expected_check_status(host, checks):
    """xlrmrr check's exit status from the guests' own verdicts and an independent closure over
    the RMRR scopes: 1 for a failing guest, a device in two guests or a group in two guests;
    else 3 for a degraded guest or a group partly left in dom0; else 0."""
    owners: dict = {}
    for g in checks:
        for s in set(g.functions):
            owners.setdefault(s, set()).add(g.label)
    doubled = any(len(v) > 1 for v in owners.values())
    comps = groups_by_closure(host)
    split = any(len({lab for m in c for lab in owners.get(m, ())}) > 1 for c in comps)
    partial = any(c & owners.keys() and c - owners.keys() for c in comps)
    if split or doubled or any(g.verdict == "blocked" for g in checks):
        return 1, split
    if partial or any(g.verdict == "degraded" for g in checks):
        return 3, split
    return 0, split


def _check(host, domains):
    checks = []
    for i, d in enumerate(domains):
        d = replace(d, name=f"g{i}")
        p = driver.plan(d, host, XenVersion(4, 22), driver.Options(remediate=False))
        checks.append(GuestCheck(f"g{i}.cfg", d.name, p.verdict, guest_functions(d, host),
                                 assign_for_plan(p)))
    return check_guests(host, checks), checks


@pytest.mark.parametrize("guest_devices,status,verdicts,group", [
    # U = [0xf8000000, 0xf801ffff], shared by both EHCI, lies in the MMIO hole of a 2 GiB guest
    # (lowmem_end 0x80000000 < U < 4 GiB), so nothing of U is guest RAM.
    # Both EHCI relaxed in g0: the whole group in one guest; U mapped 1:1 once (refcount 2),
    # Xen's "risky" warning is harmless under relaxed -> every guest ok, exit 0.
    (((EHCI1, EHCI2), ()), 0, ["ok", "ok"], "group-whole"),
    # One EHCI in each guest: each alone has its partner outside (relaxed: Xen only warns, the
    # guest is degraded); together the group is split across guests, a DMA path between them ->
    # exit 1 even though each device is relaxed.
    (((EHCI1,), (EHCI2,)), 1, ["degraded", "degraded"], "group-split"),
    # Only EHCI1 in g0, EHCI2 stays in dom0: the group is partly in dom0; relaxed, so Xen only
    # warns and the guest starts, degraded -> exit 3.
    (((EHCI1,), ()), 3, ["degraded", "ok"], "group-dom0"),
])
def test_check_status_hand_derived(guest_devices, status, verdicts, group):
    hc, checks = _check(USB_PAIR, [relaxed_guest(f"g{i}", *devs) for i, devs in enumerate(guest_devices)])
    assert hc.exit_status == status
    assert [g.verdict for g in checks] == verdicts
    assert hc.findings[0].code == group
    split = [[str(EHCI1), str(EHCI2)]] if group == "group-split" else []
    assert hc.to_json()["split_groups"] == split


@SETTINGS
@given(hosts(), st.lists(guests("g"), min_size=2, max_size=3))
@example(USB_PAIR, [relaxed_guest("a", EHCI1, EHCI2), relaxed_guest("b")])
@example(USB_PAIR, [relaxed_guest("a", EHCI1), relaxed_guest("b", EHCI2)])
@example(USB_PAIR, [relaxed_guest("a", EHCI1), relaxed_guest("b")])
def test_check_status_and_split_groups(host, domains):
    # The @examples' statuses are derived by hand in test_check_status_hand_derived.
    hc, checks = _check(host, domains)
    status, split = expected_check_status(host, checks)
    if split:
        assert hc.exit_status == 1, "a group split across guests did not fail the check"
    assert hc.exit_status == status


# --- the interval model against a page-by-page transcription of Xen ---------------------------

def xen_page_by_page(rmrrs_per_device, relaxed_per_device, ram_pages, version_16=True):
    """intel_iommu_assign_device / iommu_identity_mapping / p2m_add_identity_entry, one page at a
    time on a dict p2m, as the C code loops. Returns per device (rc, per RMRR page states).

    version_16: xen/drivers/passthrough/vtd/iommu.c and x86/iommu.c at RELEASE-4.22.0 (the
    XSA-378 overlap check, -EADDRINUSE; the XSA-400 order: every RMRR mapped, then, if the result
    is an error, this device's maps undone with p2m_access_x); else RELEASE-4.14.0
    (rmrr_identity_mapping: no overlap check; the device was handed over first and nothing is
    undone). On both, for_each_rmrr_device (vtd/dmar.h) is two nested loops and the `break`
    after "cannot map reserved region" leaves only the inner one: every RMRR of the device is
    tried, and `ret` is the result of the last."""
    p2m = {pfn: "ram" for pfn in ram_pages}
    listed = []                                   # [base, end, count]
    out = []
    for rmrrs, relaxed in zip(rmrrs_per_device, relaxed_per_device):
        if any(r.shared for r in rmrrs) and not relaxed:
            out.append((-1, []))
            break
        rc, states, mine = 0, [], []
        for r in rmrrs:
            rc = 0
            hit = next((m for m in listed if m[0] == r.base and m[1] == r.end), None)
            if hit:
                hit[2] += 1
                states.append("counted")
                mine.append(hit)
                continue
            if version_16 and any(r.end >= m[0] and m[1] >= r.base for m in listed):
                rc = -98
                states.append("overlap")
                continue
            pages = {}
            for pfn in range(r.base >> 12, (r.end + 0xFFF) >> 12):
                cur = p2m.get(pfn)
                if cur is None:
                    p2m[pfn] = "id"
                    pages[pfn] = "mapped"
                elif cur == "id":
                    pages[pfn] = "identity"
                elif relaxed:
                    pages[pfn] = "kept"
                else:
                    pages[pfn] = "busy"
                    rc = -16
                    break
            states.append(pages)
            if rc:
                continue
            listed.append([r.base, r.end, 1])
            mine.append(listed[-1])
        if rc and version_16:
            for m in mine:
                m[2] -= 1
                if m[2] == 0:
                    for pfn in range(m[0] >> 12, (m[1] + 0xFFF) >> 12):
                        if p2m.get(pfn) == "id":
                            del p2m[pfn]
                    listed.remove(m)
        out.append((rc, states))
        if rc:
            break
    return out


@st.composite
def small_cases(draw):
    devs = POOL[:3]
    rmrrs = []
    for _ in range(draw(st.integers(1, 4))):
        a = draw(st.integers(0, 60))
        b = draw(st.integers(a, min(a + 8, 63)))
        scope = tuple(draw(st.lists(st.sampled_from(devs), min_size=1, max_size=2, unique=True)))
        rmrrs.append(Rmrr(a << 12, (b << 12) + draw(st.sampled_from((0xFFF, 0x7FF))), 0,
                          scope, len(scope)))
    ram = draw(st.lists(st.tuples(st.integers(0, 63), st.integers(1, 10)), max_size=4))
    order = draw(st.permutations(devs))
    relaxed = [draw(st.booleans()) for _ in order]
    return rmrrs, ram, order, relaxed


@settings(max_examples=300, deadline=None)
@given(small_cases(), st.booleans())
def test_intervals_match_page_by_page(case, v416):
    from xlrmrr.host.query import device_rmrrs
    from xlrmrr.hypervisor.assignment import assign_devices
    rmrrs, ram, order, relaxed = case
    host = Host(rmrrs=tuple(rmrrs))
    populated = [(s << 12, (s + n) << 12) for s, n in ram]
    ram_pages = {p for s, n in ram for p in range(s, s + n)}
    version = XenVersion(4, 22) if v416 else XenVersion(4, 14)
    pci = tuple(PciDevice(spec=str(s), sbdf=s, rdm_policy="relaxed" if r else "strict")
                for s, r in zip(order, relaxed))
    domain = DomainConfig(xen_version=version, name="g", type="hvm", pci=pci)
    result = assign_devices(domain, host, (), populated)
    want = xen_page_by_page([device_rmrrs(host, s) for s in order], relaxed, ram_pages, v416)
    assert len(result.devices) == len(want)
    for d, (rc, states) in zip(result.devices, want):
        assert (d.rc < 0) == (rc < 0) and (rc >= 0 or d.rc == rc)
        for o, st_ in zip(d.outcomes, states):
            if st_ == "counted":
                assert o.action == "counted"
            elif st_ == "overlap":
                assert o.action == "overlap"
            else:
                got = {}
                for run in o.runs:
                    if run.state != "not-reached":
                        for pfn in range(run.start >> 12, run.end >> 12):
                            got[pfn] = run.state
                assert got == st_
