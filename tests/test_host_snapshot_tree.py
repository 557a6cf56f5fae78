"""`xlrmrr host snapshot --root DIR` end to end over a fake /sys tree built from a fixture host
description, then `xlrmrr host --snapshot`: the answers must be the fixture's hand-written ones
(fixtures/dmar/NAME.json "expect"), so every collector (DMAR, memmap, PCI config, class,
reset_method, iommu_group, resource, hypervisor version) is exercised offline."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.common import E820_NAMES
from xlrmrr.host.load import read_host_json

_MEMMAP = {"RAM": "System RAM", "RESERVED": "Reserved", "ACPI": "ACPI Tables",
           "NVS": "ACPI Non-volatile Storage", "UNUSABLE": "Unusable memory"}


def _w(path, content) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(content, bytes) else "w") as f:
        f.write(content)


def fake_sys(root, dmar: bytes, host: str, table_name: str = "DMAR",
             version: tuple[str, ...] = ("4", "17")) -> None:
    """A /sys below root as Linux shows the fixture host (config space laid out by hand:
    vendor 0x00, device 0x02, class 0x09-0x0b, header type 0x0e, bridge buses 0x19/0x1a)."""
    desc = read_host_json(str(FIXTURES / "hosts" / f"{host}.json"))
    sys = os.path.join(root, "sys")
    _w(f"{sys}/firmware/acpi/tables/{table_name}", dmar)
    for i, e in enumerate(desc.e820):
        d = f"{sys}/firmware/memmap/{i}"
        _w(f"{d}/start", f"{e.addr:#x}\n")
        _w(f"{d}/end", f"{e.end - 1:#x}\n")
        _w(f"{d}/type", _MEMMAP[E820_NAMES[e.type]] + "\n")
    for f in desc.devices:
        d = f"{sys}/bus/pci/devices/{f.sbdf}"
        config = bytearray(64)
        config[0:2] = (f.vendor or 0).to_bytes(2, "little")
        config[2:4] = (f.device or 0).to_bytes(2, "little")
        config[9:12] = (f.class_code or 0).to_bytes(3, "little")
        config[0x0E] = f.header_type or 0
        config[0x19] = f.secondary_bus or 0
        config[0x1A] = f.subordinate_bus or 0
        _w(f"{d}/config", bytes(config))
        _w(f"{d}/class", f"{f.class_code or 0:#08x}\n")
        if f.reset_method:
            _w(f"{d}/reset_method", f.reset_method + "\n")
        if f.iommu_group is not None:
            group = f"{sys}/kernel/iommu_groups/{f.iommu_group}"
            os.makedirs(group, exist_ok=True)
            os.symlink(group, f"{d}/iommu_group")
        lines = ["0x0000000000000000 0x0000000000000000 0x0000000000000000"] * 6
        for b in f.bars:
            flags = (0x100 if b.is_io else 0x200) | (0x100000 if b.is_64bit else 0) \
                | (0x2000 if b.prefetchable else 0)
            start = 0xC0000000 + (b.index << 28)
            lines[b.index] = f"{start:#018x} {start + b.size - 1:#018x} {flags:#018x}"
        _w(f"{d}/resource", "\n".join(lines) + "\n")
    _w(f"{sys}/hypervisor/type", "xen\n")
    for name, value in zip(("major", "minor", "extra"), version):
        _w(f"{sys}/hypervisor/version/{name}", value + "\n")


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("fixture, table_name", [("laptop-typical", "DMAR"),
                                                 ("usb-shared", "DMAR"),
                                                 ("bridges-multilevel", "RMAD")])
def test_snapshot_of_fake_tree_gives_the_fixture_answers(capsys, tmp_path, fixture, table_name):
    src = json.loads((FIXTURES / "dmar" / f"{fixture}.json").read_text())
    dmar = (FIXTURES / "dmar" / f"{fixture}.bin").read_bytes()
    root = tmp_path / "root"
    fake_sys(str(root), dmar, src["host"], table_name)
    snap = tmp_path / "snap.tar.gz"
    rc, out, err = run(capsys, "host", "snapshot", snap, "--root", root)
    desc = read_host_json(str(FIXTURES / "hosts" / f"{src['host']}.json"))
    assert rc == 0, err
    assert out.startswith(f"wrote {snap}: DMAR included, {len(desc.devices)} PCI functions, "
                          f"{len(desc.e820)} e820 entries, Xen 4.17\n")
    with tarfile.open(fileobj=io.BytesIO(snap.read_bytes())) as tar:
        assert tar.extractfile("DMAR").read() == dmar    # RMAD in a dom0 is the same table

    rc, out, _ = run(capsys, "host", "--snapshot", snap, "--json")
    assert rc == 0
    j = json.loads(out)
    exp = src["expect"]
    assert j["xen_version"] == j["snapshot_xen_version"] == "4.17" and j["topology_known"]
    assert j["vtd_enabled"] == exp["vtd_enabled"]
    if "rdm_all" in exp:
        assert j["rdm_all"] == [{"start_pfn": int(a, 16), "nr_pages": int(b, 16)}
                                for a, b in exp["rdm_all"]]
    for base, devs in exp.get("devices", {}).items():
        assert [r["devices"] for r in j["rmrrs"] if r["start"] == int(base, 16)] == [devs]
    assert j["groups"] == exp.get("groups", [])
    codes = {f["code"] for f in j["findings"]}
    assert set(exp.get("findings", [])) <= codes and not codes & {"rmrr-not-reserved",
                                                                  "rmrr-over-ram"}
    # every device's collected facts are the fixture's
    collected = {d["sbdf"]: d for d in j["devices"]}
    for f in desc.devices:
        if str(f.sbdf) in collected:
            d = collected[str(f.sbdf)]
            assert (d["class"], d["reset_method"], d["iommu_group"], d["present"]) == (
                f.class_code, f.reset_method, f.iommu_group, True)


def test_snapshot_tree_devices_match_description(tmp_path):
    from xlrmrr.host.snapshot import collect_live

    fake_sys(str(tmp_path), (FIXTURES / "dmar" / "bridges-multilevel.bin").read_bytes(),
             "bridges")
    dmar, desc, notes = collect_live(root=str(tmp_path))
    want = read_host_json(str(FIXTURES / "hosts" / "bridges.json"))
    fields = ("sbdf", "class_code", "vendor", "header_type", "secondary_bus", "subordinate_bus",
              "bars", "reset_method", "iommu_group")
    assert [tuple(getattr(f, k) for k in fields) for f in desc.devices] == \
        [tuple(getattr(f, k) for k in fields) for f in want.devices]
    assert desc.e820 == want.e820 and str(desc.xen_version) == "4.17"
    assert notes == ["e820 read in dom0: its reserved ranges are the host's; its RAM ranges "
                     "may follow dom0's own allocation"]


def test_snapshot_of_empty_tree_says_what_is_missing(capsys, tmp_path):
    snap = tmp_path / "s.tar.gz"
    os.makedirs(tmp_path / "empty" / "sys")
    rc, out, _ = run(capsys, "host", "snapshot", snap, "--root", tmp_path / "empty")
    assert rc == 0
    assert out.splitlines() == [
        f"wrote {snap}: DMAR MISSING, 0 PCI functions, 0 e820 entries, Xen version unknown",
        f"  note: {tmp_path}/empty/sys/firmware/acpi/tables/DMAR could not be read (does not "
        f"exist: no VT-d, or VT-d off in the firmware setup)",
        f"  note: no PCI devices found under {tmp_path}/empty/sys/bus/pci/devices",
        f"  note: {tmp_path}/empty/sys/firmware/memmap is empty or missing; no host e820 in "
        f"the snapshot",
        f"  note: not running on Xen ({tmp_path}/empty/sys/hypervisor/type is not xen); no Xen "
        f"version"]
    rc, _, err = run(capsys, "host", "snapshot")
    assert rc == 2 and "give the file to write" in err
    rc, _, err = run(capsys, "host", "--dmar", FIXTURES / "dmar" / "laptop-typical.bin",
                     "--root", tmp_path)
    assert rc == 2 and "--root applies to `xlrmrr host snapshot` only" in err


@pytest.mark.parametrize("extra, recorded, rc_create", [
    (None, "4.14", 1), (".5", "4.14.5", 3), (".5-pre", "4.14.5", 3), ("-unstable", "4.14", 1)])
def test_snapshot_keeps_the_point_release(capsys, tmp_path, extra, recorded, rc_create):
    """/sys/hypervisor/version/extra (".5" on Xen 4.14.5) reaches the snapshot and the plan.
    usb-host-relaxed.cfg (its header derives it from xl_parse.c and libxlu_pci.c): xl 4.14.0 reads
    pci= before rdm=, so the xHCI stays strict and creation fails (exit 1); 4.14.5 has the
    backported e45ad0b1b0, the device inherits relaxed and the guest starts degraded (exit 3)."""
    root = tmp_path / "root"
    fake_sys(str(root), (FIXTURES / "dmar" / "laptop-typical.bin").read_bytes(), "laptop",
             version=("4", "14") + ((extra,) if extra is not None else ()))
    snap = tmp_path / "snap.tar.gz"
    rc, out, err = run(capsys, "host", "snapshot", snap, "--root", root)
    assert rc == 0, err
    assert out.splitlines()[0].endswith(f" e820 entries, Xen {recorded}")
    with tarfile.open(fileobj=io.BytesIO(snap.read_bytes())) as tar:
        assert json.load(tar.extractfile("host.json"))["xen_version"] == recorded
    rc, out, _ = run(capsys, "host", "--snapshot", snap, "--json")
    assert json.loads(out)["snapshot_xen_version"] == recorded
    rc, out, err = run(capsys, "create", FIXTURES / "guests" / "usb-host-relaxed.cfg",
                       "--snapshot", snap, "--dry-run")
    assert rc == rc_create, out + err
    assert f"modelled: Xen {recorded} " in out


def test_old_snapshot_without_point_release_still_reads(tmp_path):
    """Snapshots written before the point release was recorded say "4.17": read as 4.17.0."""
    from xlrmrr.host.snapshot import read_snapshot

    buf = io.BytesIO()
    content = json.dumps({"format": "xlrmrr-snapshot-1", "xen_version": "4.17"}).encode()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("host.json")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    _, desc = read_snapshot(buf.getvalue(), "old.tar.gz")
    assert (desc.xen_version.major, desc.xen_version.minor, desc.xen_version.patch) == (4, 17, None)


def test_snapshot_refuses_a_root_without_sys(capsys, tmp_path):
    """A mistyped --root wrote an empty snapshot (exit 0) whose note blamed "VT-d off in the
    firmware setup"; now exit 2, one line, and no file."""
    snap = tmp_path / "s.tar.gz"
    (tmp_path / "nosys").mkdir()
    (tmp_path / "file").write_text("")
    for root, why in ((tmp_path / "nonexistent", "does not exist"),
                      (tmp_path / "file", "is not a directory"),
                      (tmp_path / "nosys", "has no sys/ directory")):
        rc, out, err = run(capsys, "host", "snapshot", snap, "--root", root)
        assert rc == 2 and out == "" and not snap.exists()
        assert err.startswith(f"xlrmrr host: error: --root {root}: {why}; give the directory")
        assert err.count("\n") == 1


def test_snapshot_json_is_one_object(capsys, tmp_path):
    # --json: what the text line says, as one object (it printed the text line: not JSON)
    root = tmp_path / "root"
    fake_sys(str(root), (FIXTURES / "dmar" / "laptop-typical.bin").read_bytes(), "laptop")
    snap = tmp_path / "snap.tar.gz"
    rc, out, _ = run(capsys, "host", "snapshot", snap, "--root", root, "--json")
    desc = read_host_json(str(FIXTURES / "hosts" / "laptop.json"))
    doc = json.loads(out)
    assert rc == 0 and snap.is_file()
    assert doc == {"schema_version": 1, "command": "host snapshot", "written": str(snap),
                   "dmar": True, "pci_functions": len(desc.devices),
                   "e820_entries": len(desc.e820), "xen_version": "4.17",
                   "notes": doc["notes"]} and doc["notes"]
