"""Snapshots: collection from a (fake) sysfs tree, the tar.gz layout, and reading it back."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest
from conftest import FIXTURES

from xlrmrr.common import E820_RAM, E820_RESERVED, InputError, Sbdf, XenVersion
from xlrmrr.host import load_host
from xlrmrr.host.model import reserved_device_memory_map
from xlrmrr.host.snapshot import collect_memmap, collect_pci, read_snapshot, write_snapshot
from xlrmrr.host.topology import HostDescription, description_from_json, description_to_json


def _w(path, content, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(content)


def test_collect_memmap(tmp_path):
    root = tmp_path / "memmap"
    for i, (start, end, typ) in enumerate([(0x100000, 0xab7fffff, "System RAM"),
                                           (0x0, 0x9efff, "System RAM"),
                                           (0xab800000, 0xaf7fffff, "Reserved")]):
        for k, v in (("start", hex(start)), ("end", hex(end)), ("type", typ)):
            _w(str(root / str(i) / k), v + "\n")
    e820 = collect_memmap(str(root))
    assert [(e.addr, e.size, e.type) for e in e820] == [
        (0, 0x9F000, E820_RAM), (0x100000, 0xAB700000, E820_RAM),
        (0xAB800000, 0x4000000, E820_RESERVED)]


def test_collect_pci_bridge_and_bars(tmp_path):
    root = tmp_path / "devices"
    bridge = bytearray(64)
    bridge[0:4] = bytes.fromhex("8680109d")         # vendor 0x8086, device 0x9d10
    bridge[0x09:0x0C] = bytes([0x00, 0x04, 0x06])   # class 0x060400
    bridge[0x0E] = 0x81
    bridge[0x19], bridge[0x1A] = 2, 3
    d = root / "0000:00:1c.0"
    _w(str(d / "config"), bytes(bridge), "wb")
    _w(str(d / "class"), "0x060400\n")
    xhci = root / "0000:02:00.0"
    _w(str(xhci / "config"), bytes(64), "wb")
    _w(str(xhci / "class"), "0x0c0330\n")
    _w(str(xhci / "reset_method"), "flr bus\n")
    _w(str(xhci / "resource"), "0x00000000df200000 0x00000000df20ffff 0x0000000000140204\n"
                               + "0x0000000000000000 0x0000000000000000 0x0000000000000000\n" * 5)
    os.makedirs(tmp_path / "groups" / "7")
    os.symlink(tmp_path / "groups" / "7", xhci / "iommu_group")
    devices, known = collect_pci(str(root))
    assert known
    b, x = devices
    assert (b.sbdf, b.vendor, b.device, b.class_code, b.secondary_bus, b.subordinate_bus) == (
        Sbdf(0, 0, 0x1C, 0), 0x8086, 0x9D10, 0x060400, 2, 3)
    assert x.class_code == 0x0C0330 and x.reset_method == "flr bus" and x.iommu_group == 7
    assert b.config == bytes(bridge)
    again = description_from_json(description_to_json(
        HostDescription(devices=devices, topology_known=True)), "x")
    assert again.devices == devices
    assert len(x.bars) == 1 and x.bars[0].size == 0x10000 and x.bars[0].is_64bit


def test_snapshot_round_trip_and_load(tmp_path):
    desc = description_from_json(json.loads((FIXTURES / "hosts" / "bridges.json").read_text()),
                                 "bridges.json")
    dmar = (FIXTURES / "dmar" / "bridges-multilevel.bin").read_bytes()
    blob = write_snapshot(dmar, desc, ["test"])
    names = tarfile.open(fileobj=io.BytesIO(blob)).getnames()
    assert names == ["README", "DMAR", "host.json"]
    dmar2, desc2 = read_snapshot(blob, "s.tar.gz")
    assert dmar2 == dmar and desc2 == desc
    path = tmp_path / "s.tar.gz"
    path.write_bytes(blob)
    host = load_host(snapshot=str(path), xen_version=XenVersion(4, 17))
    assert host.topology_known
    assert [str(d) for d in host.rmrrs[0].devices] == ["0000:04:00.0", "0000:03:01.0"]
    assert reserved_device_memory_map(host, Sbdf(0, 3, 1, 0)) == ((0xDF61E, 2),)


def test_bad_snapshots(tmp_path):
    with pytest.raises(InputError, match="not a snapshot"):
        read_snapshot(b"garbage", "x.tar.gz")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("README")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InputError, match="no host.json"):
        read_snapshot(buf.getvalue(), "x.tar.gz")
    nodmar = tmp_path / "n.tar.gz"
    nodmar.write_bytes(write_snapshot(None, description_from_json({}, "x"), []))
    with pytest.raises(InputError, match="has no DMAR table"):
        load_host(snapshot=str(nodmar))


def test_collect_xen_version(tmp_path):
    from xlrmrr.host.snapshot import collect_xen_version

    assert collect_xen_version(str(tmp_path)) is None
    _w(str(tmp_path / "type"), "xen\n")
    _w(str(tmp_path / "version" / "major"), "4\n")
    _w(str(tmp_path / "version" / "minor"), "17\n")
    assert str(collect_xen_version(str(tmp_path))) == "4.17"
    _w(str(tmp_path / "version" / "extra"), ".2\n")
    assert str(collect_xen_version(str(tmp_path))) == "4.17.2"
    _w(str(tmp_path / "version" / "minor"), "99\n")
    assert str(collect_xen_version(str(tmp_path))) == "4.99.2"       # collect_live notes it


def test_collect_pci_skips_sizes_no_bar_has(tmp_path):
    """A sysfs range that is not a power of two (kernel-adjusted) is left out of the snapshot
    rather than written where description_from_json would then reject it."""
    d = tmp_path / "devices" / "0000:00:14.0"
    _w(str(d / "config"), bytes(64), "wb")
    _w(str(d / "resource"), "0x00000000df200000 0x00000000df20ffff 0x0000000000040200\n"
                            "0x00000000df210000 0x00000000df212fff 0x0000000000040200\n"
                            "0x0000000000000000 0xffffffffffffffff 0x0000000000040200\n")
    devices, _ = collect_pci(str(tmp_path / "devices"))
    assert [(b.index, b.size) for b in devices[0].bars] == [(0, 0x10000)]
    again = description_from_json(description_to_json(
        HostDescription(devices=devices, topology_known=True)), "x")
    assert again.devices == devices
