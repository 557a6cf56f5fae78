"""Work done once where the answer cannot differ (issue 14): the release comparison reads a
config once per xl band (releases.xl_key) and its pci= entries once per parser, and the
planner asks for a device's duplicate entries and its RMRR starts once per plan. These count
calls, not time (speed is measured in benchmarks/bench_scale.py)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FIXTURES

from xlrmrr import releases
from xlrmrr.cli import main
from xlrmrr.common import NEWEST_XEN, OLDEST_XEN, XenVersion
from xlrmrr.compare import compared_versions
from xlrmrr.xlcfg import load_domain

GUESTS = sorted((FIXTURES / "guests").glob("*.cfg"))
CORPUS = sorted((Path(__file__).resolve().parents[2] / "shared" / "corpus" / "xlcfg").glob("*.cfg"))


def _every_release():
    out = []
    for minor in range(OLDEST_XEN.minor, NEWEST_XEN.minor + 1):
        out.append(XenVersion(OLDEST_XEN.major, minor))
        out.extend(XenVersion(OLDEST_XEN.major, minor, p[2]) for c in releases.CHANGES
                   for p in c.points if p[1] == minor)
    return out


@pytest.mark.parametrize("path", GUESTS + CORPUS[:25], ids=lambda p: p.name)
def test_one_xl_band_reads_a_file_alike(path):
    # The premise of reading once per band: every release of one releases.xl_key band reads
    # the file into the same DomainConfig (its xen_version aside) and the same findings but
    # for texts naming the release, and refuses it alike.
    data = path.read_bytes()
    first: dict = {}
    for v in _every_release():
        dom, findings, _cfg = load_domain(data, str(path), v)
        got = (replace(dom, xen_version=NEWEST_XEN),
               tuple(f.code for f in findings if f.severity == "error"))
        want = first.setdefault(releases.xl_key(v), got)
        assert got == want, (str(v), path.name)


def _count(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*a, **k):
        calls.append(a[0])
        return real(*a, **k)
    monkeypatch.setattr(module, name, counted)
    return calls


def test_create_reads_pci_entries_once_per_parser(monkeypatch, tmp_path):
    # 3 entries, 20 compared releases: xl <= 4.14's BDF parser and 4.15's PCI_SPEC_STRING
    # parser each read every entry once (they read them alike for every release using them)
    from xlrmrr.xlcfg import xlparse

    old = _count(monkeypatch, xlparse, "parse_bdf_old")
    new = _count(monkeypatch, xlparse, "parse_spec_string")
    cfg = tmp_path / "g.cfg"
    cfg.write_text('name = "g"\ntype = "hvm"\nmemory = 1024\n'
                   "pci = [ '00:14.0', '00:02.0,rdm_policy=relaxed', '01:00.0' ]\n")
    assert len(compared_versions(NEWEST_XEN)) > 10
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["create", str(cfg), "--dry-run", "--dmar",
                     str(FIXTURES / "dmar" / "laptop-typical.bin")]) in (0, 1, 3)
    assert sorted(new) == sorted(old) == ["00:02.0,rdm_policy=relaxed", "00:14.0", "01:00.0"]


def test_xl_band_key_follows_the_xl_changes():
    v = XenVersion.parse
    assert releases.xl_key(v("4.14.4")) == releases.xl_key(v("4.14.0"))
    assert releases.xl_key(v("4.14.5")) != releases.xl_key(v("4.14.4"))    # e45ad0b1b0
    assert releases.xl_key(v("4.18")) == releases.xl_key(v("4.22"))
    assert releases.xl_key(v("4.9")) != releases.xl_key(v("4.10"))          # type= read


def test_a_plan_asks_for_duplicates_and_rmrr_starts_once(monkeypatch):
    from xlrmrr import driver
    from xlrmrr.cli.guest import load_guest
    from xlrmrr.host.load import load_host

    dups = _count(monkeypatch, driver, "duplicate_pci")
    starts = _count(monkeypatch, driver, "_assigned_rmrr_starts")
    data = (FIXTURES / "guests" / "usb-relaxed-boundary.cfg").read_bytes()
    dom = load_guest(data, "g.cfg", NEWEST_XEN)[0]
    host = load_host((FIXTURES / "dmar" / "laptop-typical.bin").read_bytes())
    p = driver.plan(dom, host, NEWEST_XEN, driver.Options(remediate=False,
                                                          compare_versions=False))
    assert p.hypervisor is not None and p.hvmloader is not None
    assert len(dups) == 1 and len(starts) == 1
