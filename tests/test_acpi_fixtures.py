"""The project's own DMAR fixtures: the .bin files are current, and each behaves as its source
says (expectations written by hand in fixtures/dmar/NAME.json, from the reference sheets)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import FIXTURES, REPO

from xlrmrr.acpi.dmar import build, decode
from xlrmrr.common import InputError, XenVersion
from xlrmrr.host.build import build_host
from xlrmrr.host.load import read_host_json
from xlrmrr.host.model import reserved_device_memory_map
from xlrmrr.host.query import sharing_groups
from xlrmrr.host.topology import HostDescription

SOURCES = sorted((FIXTURES / "dmar").glob("*.json"))


def test_binaries_are_current():
    r = subprocess.run([sys.executable, str(FIXTURES / "build_fixtures.py"), "--check"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout


def test_required_fixtures_exist():
    names = {p.stem for p in SOURCES}
    assert {"laptop-typical", "usb-shared", "bug-bad-checksum", "bug-zero-haw",
            "bug-rmrr-unaligned", "bug-rmrr-end-before-base", "bug-rmrr-overlap",
            "bug-rmrr-over-ram", "bug-rmrr-not-reserved", "bug-drhd-base-zero",
            "bug-scope-absent-device", "bridges-multilevel", "sub-hierarchy", "rmrr-above-4g",
            "rmrr-across-4g", "two-segments", "rmrr-below-1m", "rmrr-mmio-hole",
            "namespace-scopes", "bug-zero-length-structure", "bug-truncated"} <= names
    readme = (FIXTURES / "README.md").read_text()
    assert all(n in readme for n in names)


def _n(v):
    return int(v, 16) if isinstance(v, str) else v


def _host(src, version=None):
    desc = read_host_json(str(FIXTURES / "hosts" / f"{src['host']}.json")) if "host" in src \
        else HostDescription()
    raw = (FIXTURES / "dmar" / f"{src['_name']}.bin").read_bytes()
    return build_host(decode(raw), desc, xen_version=version or XenVersion(4, 22))


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_fixture_behaves_as_described(path):
    src = json.loads(path.read_text())
    src["_name"] = path.stem
    exp = src["expect"]
    raw = path.with_suffix(".bin").read_bytes()
    if "decode_error" in exp:
        with pytest.raises(InputError) as e:
            decode(raw, path.name)
        assert exp["decode_error"] in str(e.value)
        return
    assert build(decode(raw)) == raw
    host = _host(src)
    assert host.vtd_enabled == exp["vtd_enabled"]
    if "vtd_enabled_4.18" in exp:
        assert _host(src, XenVersion(4, 18)).vtd_enabled == exp["vtd_enabled_4.18"]
    codes = {f.code for f in host.findings}
    assert set(exp.get("findings", ())) <= codes, codes
    if exp.get("findings") == []:
        assert not [f for f in host.findings if f.severity != "info"], host.findings
    if "rdm_all" in exp:
        assert reserved_device_memory_map(host) == tuple((_n(a), _n(b)) for a, b in exp["rdm_all"])
    for base, devs in exp.get("devices", {}).items():
        r = next(r for r in host.rmrrs if r.base == _n(base))
        assert [str(d) for d in r.devices] == devs
    for base, devs in exp.get("below", {}).items():
        r = next(r for r in host.rmrrs if r.base == _n(base))
        assert [str(d) for d in r.below_bridges] == devs
    if "groups" in exp:
        assert [[str(d) for d in g] for g in sharing_groups(host)] == exp["groups"]
