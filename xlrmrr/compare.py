"""The release comparison: the same guest planned under one release per band (and the point
releases that behave differently), and the bands whose outcome differs from the planned one."""

from __future__ import annotations

from dataclasses import replace

from xlrmrr.common import NEWEST_XEN, InputError, XenVersion, hexa
from xlrmrr.host.model import Host
from xlrmrr.records import record
from xlrmrr.releases import VERSION_BANDS
from xlrmrr.verdicts import VERDICT_BLOCKED
from xlrmrr.xlcfg.domain import DomainConfig


@record(eq=False)
class VersionDelta:
    """How another Xen release band would treat the same guest, where it differs."""

    band: str
    verdict: str
    differences: tuple[str, ...]


def _summary(p) -> dict:
    """What the comparison reads of a driver Plan: its verdict and layout."""
    lx = p.libxl
    errors = [f for f in p.findings if f.severity == "error"]
    return {
        "type": p.domain.type,
        "blocker": f"{errors[0].component}: {_first_sentence(errors[0].message)}" if errors else "",
        "verdict": p.verdict,
        "lowmem_end": None if lx.stopped else lx.lowmem_end,
        "highmem_end": None if lx.stopped else lx.highmem_end,
        "exposed": tuple(hexa(r.start) for r in lx.rdms if r.exposed),
        "e820": p.hvmloader.e820 if p.hvmloader else (),
    }


def _first_sentence(message: str) -> str:
    """The blocking message itself, without the explanation that follows it (a device class's
    RMRR text, say): up to the first full stop that a capital letter follows."""
    import re

    return re.split(r"(?<=\.)\s+(?=[A-Z])", message, maxsplit=1)[0]


def _stage_band(v: XenVersion, domain: DomainConfig, host: Host, lite: bool = False,
                memo: dict | None = None) -> tuple[bool, ...]:
    """The stage changes in effect at v that can alter this guest's plan; lite: without those
    that alter a plan only where an identity map fails (_ON_MAP_FAILURE). memo: where the
    release comparison keeps what it found out about the Hosts it asks about (_cannot_matter)."""
    from xlrmrr.releases import stage_key

    ignore = _cannot_matter(domain, host, memo)
    return stage_key(v, ignore | _on_map_failure() if lite else ignore)


def _on_map_failure() -> frozenset:
    """Changes that alter a plan only where an identity map of an assigned device fails: two
    releases differing only by them plan alike unless one of them has such a failure."""
    from xlrmrr.releases import XEN_ASSIGN_MAPS_FIRST

    return frozenset({XEN_ASSIGN_MAPS_FIRST})


def _map_failed(p) -> bool:
    return p.hypervisor is not None and any(
        o.rc for d in p.hypervisor.devices for o in d.outcomes)


def _rmrr_facts(host: Host, memo: dict | None = None) -> tuple[bool, bool]:
    """(every RMRR has a page, no two RMRRs overlap) of the host. memo: the answers for the
    first Host asked (the modelled release's) and the last other one, each kept with its Host
    (the comparison asks about the same Host for many releases; each answer reads every
    RMRR, and holding more Hosts than these two would keep each band's alive)."""
    if memo is not None:
        for slot in ("own", "last"):
            got = memo.get(slot)
            if got is not None and got[0] is host:
                return got[1]
    ranges = sorted((x.base, x.end) for x in host.rmrrs)
    facts = (all(x.nr_pages for x in host.rmrrs),
             all(b[0] > a[1] for a, b in zip(ranges, ranges[1:])))
    if memo is not None:
        memo["last" if "own" in memo else "own"] = (host, facts)
    return facts


def _cannot_matter(domain: DomainConfig, host: Host, memo: dict | None = None) -> frozenset:
    """The stage changes that cannot alter this guest's plan on this host, so that releases
    differing only by them are planned once: each is a refusal text or a path only some
    inputs reach (the predicates follow the code each change gates). memo: _rmrr_facts'."""
    from xlrmrr import releases as r

    out = set()
    all_paged, disjoint = _rmrr_facts(host, memo)
    pod = (domain.max_memkb is not None and domain.target_memkb is not None
           and domain.target_memkb < domain.max_memkb and domain.type != "pv")
    if not (domain.pci and pod):
        out.add(r.LIBXL_POD_IOMMU_MESSAGE)
    if not (domain.pci and (not host.vtd_enabled or domain.type == "pvh")):
        out.add(r.LIBXL_PASSTHROUGH_SETDEFAULT)
    if all_paged:
        out.add(r.XEN_RDM_ZERO_PAGES_SKIPPED)
    # only a passed-through 64-bit BAR over 1 GiB is placed differently (hvmloader pci_setup)
    slots = {(d.sbdf.seg, d.sbdf.bus, d.sbdf.dev) for d in domain.pci if d.sbdf is not None}
    if not any(b.is_64bit and b.size > 1 << 30 for f in host.devices
               if (f.sbdf.seg, f.sbdf.bus, f.sbdf.dev) in slots for b in f.bars):
        out.add(r.HVMLOADER_HUGE_BARS_HIGH)
    # -EADDRINUSE (or, before, shared pages) needs two different RMRRs that overlap; Xen's own
    # DMAR and rmrr= parsing refuse those, only host data given otherwise can have them
    if disjoint:
        out.add(r.XEN_IOMMU_IDENTITY_MAPPING)
    return frozenset(out)


def _host_key(host: Host) -> tuple:
    """What of a Host the stages read (not its findings, source or recorded release)."""
    return (host.rmrrs, host.vtd_enabled, host.devices, host.e820, host.topology_known,
            host.namespace_devices)


def _dom_key(domain: DomainConfig) -> DomainConfig:
    return replace(domain, xen_version=NEWEST_XEN)


def _e820_diff(theirs, mine) -> str:
    from xlrmrr.common import E820_NAMES

    def show(entries):
        items = [f"{E820_NAMES.get(e.type, e.type)} [{hexa(e.addr)}, {hexa(e.addr + e.size)})"
                 for e in entries[:3]]
        return ", ".join(items) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")

    mine_set, theirs_set = set(mine), set(theirs)
    added = [e for e in theirs if e not in mine_set]
    lacking = [e for e in mine if e not in theirs_set]
    parts = []
    if added:
        parts.append("has " + show(added))
    if lacking:
        parts.append("lacks " + show(lacking))
    return "guest e820 " + "; ".join(parts) if parts else "guest e820 entries in another order"


def _differences(theirs: dict, mine: dict) -> tuple[str, ...]:
    diffs = []
    if theirs["type"] != mine["type"]:
        diffs.append(f"xl reads the guest as {theirs['type'].upper()} instead of {mine['type'].upper()}")
    if theirs["verdict"] != mine["verdict"]:
        diffs.append(f"verdict {theirs['verdict']} instead of {mine['verdict']}")
    for key in ("lowmem_end", "highmem_end"):
        if theirs[key] != mine[key] and None not in (theirs[key], mine[key]):
            diffs.append(f"{key} {hexa(theirs[key])} instead of {hexa(mine[key])}")
    both_run = VERDICT_BLOCKED not in (theirs["verdict"], mine["verdict"])
    if theirs["verdict"] == VERDICT_BLOCKED and theirs["blocker"] != mine["blocker"]:
        diffs.append(f"fails in {theirs['blocker']}")
    if both_run and theirs["exposed"] != mine["exposed"]:
        diffs.append(f"RDMs in the e820: {', '.join(theirs['exposed']) or 'none'} instead of "
                     f"{', '.join(mine['exposed']) or 'none'}")
    if both_run and theirs["e820"] != mine["e820"] and mine["e820"] and theirs["e820"]:
        diffs.append(_e820_diff(theirs["e820"], mine["e820"]))
    return tuple(diffs)


def version_deltas(domain, host, version, options, base, replan) -> tuple[VersionDelta, ...]:
    """Plan under one release per band and report the bands whose outcome differs. A band whose
    inputs (xl's reading of the file, Xen's reading of the DMAR) and stage behaviour equal those
    of one already planned is not planned again; adjacent whole bands that differ alike are
    merged. A line whose point releases behave differently from its X.Y.0 (a backported change)
    is planned per part; parts with the same outcome share a row, and only a row for the whole
    band merges with a neighbour (_band_rows). base: the driver's Plan of the modelled release;
    replan: driver.plan, which plans the others (handed in: this module does not import the
    driver)."""
    quiet = replace(options, remediate=False, compare_versions=False, xen_domain=None,
                    explain=False)
    mine = _summary(base)
    memo: dict = {}
    own_key = (_stage_band(version, domain, host, memo=memo), _dom_key(domain), _host_key(host))
    own_lite = (_stage_band(version, domain, host, lite=True, memo=memo),) + own_key[1:]
    own_quiet = not _map_failed(base)
    planned: list[tuple[tuple, tuple]] = []     # (key, (verdict, differences))
    planned_lite: list[tuple[tuple, tuple]] = []    # (lite key, result) of plans without a failed map
    rows: list[tuple[int, str, bool, str, tuple[str, ...]]] = []    # (band, name, whole, verdict, diffs)
    by_band: dict[int, list[tuple[str, XenVersion]]] = {}
    for i, part, release in _candidates(version):
        by_band.setdefault(i, []).append((part, release))
    # Band by band, so that the hosts (options.host_for_version) of one band are asked for
    # together and need not outlive it.
    for i, releases in by_band.items():
        cands = []      # (part, release, key, (domain, host)); key None: xl's refusal
        for part, release in releases:
            if options.domain_for_version is not None:
                try:
                    other_dom = options.domain_for_version(release)
                except InputError as e:
                    cands.append((part, release, None, str(e)))
                    continue
            else:
                other_dom = domain
            other_host = (options.host_for_version(release) if options.host_for_version is not None
                          else host)
            key = (_stage_band(release, other_dom, other_host, memo=memo), _dom_key(other_dom),
                   _host_key(other_host))
            cands.append((part, release, key, (other_dom, other_host)))
        x0_key = next((key for part, _r, key, _x in cands if part == "x.0"), None)
        split = any(part != "x.0" and key != x0_key for part, _r, key, _x in cands)
        results = []    # per part of the line: (verdict, diffs), or None (same outcome as mine)
        for part, release, key, got in cands:
            if part != "x.0" and not split:
                continue            # the point release reads the inputs like the line's X.Y.0
            if key is None:
                results.append((VERDICT_BLOCKED, ("xl", got)))      # named below, per row
                continue
            lite = (_stage_band(release, got[0], got[1], lite=True, memo=memo),) + key[1:]
            if key == own_key or (own_quiet and lite == own_lite):
                results.append(None)
                continue
            result = next((g for k, g in planned if k == key), None)
            if result is None:
                result = next((g for k, g in planned_lite if k == lite), None)
            if result is None:
                other = replan(got[0], got[1], release, quiet)
                theirs = _summary(other)
                result = (theirs["verdict"], _differences(theirs, mine))
                planned.append((key, result))
                if not _map_failed(other):
                    planned_lite.append((lite, result))
                del other, theirs       # freed before the next band's plan is made, not after
            results.append(result if result[1] else None)
        rows.extend(_band_rows(i, [c[1] for c in cands][:len(results)], results, version))
    # [first band index, last band index, name, verdict, diffs, whole bands only]
    groups: list[list] = []
    for i, name, whole, verdict, diffs in rows:
        g = groups[-1] if groups else None
        if g and g[5] and whole and g[1] == i - 1 and (g[3], g[4]) == (verdict, diffs):
            g[1] = i
            g[2] = f"{VERSION_BANDS[g[0]][0]}-{VERSION_BANDS[i][1]}"
        else:
            groups.append([i, i, name, verdict, diffs, whole])
    # One row per outcome: releases apart that differ from the planned one alike (the parts of
    # several lines a backport split, say 4.12.0-4.12.3 and 4.13.0-4.13.1) are listed together,
    # at the place of the first.
    rows_by_outcome: dict[tuple, list] = {}
    for g in groups:
        row = rows_by_outcome.setdefault((g[3], g[4]), [[], g[3], g[4]])
        row[0].append(g[2])
    return tuple(VersionDelta(", ".join(names), verdict, diffs)
                 for names, verdict, diffs in rows_by_outcome.values())


def _band_rows(i: int, releases, results, version: XenVersion):
    """The rows of band i from the outcome of each part of its line planned (releases[k]: the
    X.Y.0 release, then each point release that behaves differently; results[k]: (verdict,
    differences), or None where the outcome is the planned release's). Consecutive parts with
    the same outcome are one row; a row standing for the whole band may merge with neighbours.
    A change in effect from several point releases of one line (4.14.1 and 4.14.5, say) gives
    the line several parts."""
    first, last, band = VERSION_BANDS[i]
    line = f"{last.major}.{last.minor}"
    patches = [r.patch or 0 for r in releases]
    out = []
    k = 0
    while k < len(results):
        j = k
        while j + 1 < len(results) and results[j + 1] == results[k]:
            j += 1
        result = results[k]
        if result is not None:
            if k == 0 and j == len(results) - 1:
                name, whole = ((f"{line}.0", False) if len(results) == 1 and first <= version <= last
                               else (band, True))
            elif j == len(results) - 1:
                name, whole = f"{line}.{patches[k]} and later {line}.x", False
            else:
                end = patches[j + 1] - 1
                name = f"{line}.{patches[k]}" + (f"-{line}.{end}" if end != patches[k] else "")
                whole = False
            verdict, diffs = result
            if diffs[:1] == ("xl",):
                diffs = (f"xl {name} rejects the config: {diffs[1]}",)
            out.append((i, name, whole, verdict, diffs))
        k = j + 1
    return out


def _line_points(last: XenVersion) -> tuple[XenVersion, ...]:
    from xlrmrr.releases import line_x0, point_releases

    return point_releases(line_x0(last))


def _candidates(version: XenVersion) -> list[tuple[int, str, XenVersion]]:
    """(band index, part, release planned): each band's last release as X.Y.0 ("x.0"), plus
    the point releases of that line that xl reads differently from X.Y.0 ("point": 4.14.5,
    4.15.3, 4.16.1 read rdm= before pci= again)."""
    out = []
    for i, (_first, last, _band) in enumerate(VERSION_BANDS):
        out.append((i, "x.0", last))
        out.extend((i, "point", p) for p in _line_points(last))
    return out


def compared_versions(version: XenVersion) -> tuple[XenVersion, ...]:
    """The releases the report plans under: the last release of every band (the modelled
    release's own band included: it is skipped when it reads the inputs alike) and the point
    releases of every line that xl reads differently. XenVersion equality ignores the point
    release: key what is read per release by str(release)."""
    return tuple(v for _i, _part, v in _candidates(version))
