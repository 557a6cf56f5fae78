"""Host descriptions (host.json, a snapshot's host.json): every malformed shape is a one-line
input error naming the file and the JSON path, never a traceback."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.common import InputError
from xlrmrr.host.topology import description_from_json

DEV = {"sbdf": "0000:00:14.0"}


@pytest.mark.parametrize("obj, where", [
    ({"devices": 5}, r'h.json: devices: must be a JSON list, got the number 5'),
    ({"devices": {"sbdf": "00:14.0"}}, r'h.json: devices: must be a JSON list, got an object'),
    ({"e820": 7}, r'h.json: e820: must be a JSON list, got the number 7'),
    ({"devices": [5]}, r"h.json: devices\[0\]: a device is an object"),
    ({"devices": [{**DEV, "bars": [1]}]},
     r"h.json: devices\[0\] \(0000:00:14.0\): bars\[0\]: a BAR is an object"),
    ({"devices": [{**DEV, "bars": 5}]},
     r'h.json: devices\[0\] \(0000:00:14.0\): bars: must be a JSON list'),
    ({"devices": [{**DEV, "bars": [{"size": -1}]}]}, r"bars\[0\].size: -0x1 is out of range"),
    # a BAR decodes a power-of-two range; the largest a 64-bit BAR can is 2**63
    ({"devices": [{**DEV, "bars": [{"size": 1 << 64}]}]},
     r"bars\[0\].size: 0x10000000000000000 is out of range \(0x1..0x8000000000000000\)"),
    ({"devices": [{**DEV, "bars": [{"size": 3}]}]},
     r"bars\[0\].size: 0x3 is not a power of two"),
    ({"devices": [{**DEV, "bars": [{"size": "0x3000"}]}]},
     r"bars\[0\].size: 0x3000 is not a power of two"),
    ({"devices": [{**DEV, "bars": [{"size": 0}]}]}, r"bars\[0\].size: 0x0 is out of range"),
    ({"devices": [{**DEV, "bars": [{"index": 0}]}]}, r'bars\[0\]: no "size"'),
    ({"devices": [{**DEV, "bars": [{"index": 7}]}]}, r"bars\[0\].index: 0x7 is out of range"),
    ({"devices": [{**DEV, "bars": [{"is_io": "yes"}]}]}, r"bars\[0\].is_io: expected true"),
    ({"devices": [{**DEV, "secondary_bus": 256}]},
     r"devices\[0\] \(0000:00:14.0\): secondary_bus: 0x100 is out of range \(0x0..0xff\)"),
    ({"devices": [{**DEV, "class": "0x1000000"}]},
     r"class: 0x1000000 is out of range \(0x0..0xffffff\)"),
    ({"devices": [{**DEV, "class": -1}]}, r"class: -0x1 is out of range"),
    ({"devices": [{**DEV, "iommu_group": "x"}]}, r"iommu_group: expected a number"),
    ({"devices": [{**DEV, "reset_method": 3}]}, r"reset_method must be a string"),
    ({"devices": [{"sbdf": "00:20.0"}]}, r"devices\[0\]: sbdf: PCI address out of range"),
    ({"e820": [{"addr": 0, "size": -4096, "type": "RAM"}]},
     r"e820\[0\]: size: -0x1000 is out of range"),
    ({"e820": [{"addr": 1 << 64, "size": 0, "type": "RAM"}]},
     r"e820\[0\]: addr: 0x10000000000000000 is out of range \(0x0..0xffffffffffffffff\)"),
    # the entry must end inside the 64-bit space: 2**64 - 4096 + 8192 does not
    ({"e820": [{"addr": "0xfffffffffffff000", "size": "0x2000", "type": 2}]},
     r"e820\[0\]: size: 0x2000 is out of range \(0x0..0x1000\)"),
    ({"e820": [[0, 4096, 0]]}, r"e820\[0\]: type: 0x0 is out of range"),
    # JSON 4.10 is the number 4.1: only a string keeps the release
    ({"xen_version": 4.10}, r'h.json: xen_version: expected a string such as "4.17" or '
                            r'"4.16.1", got the number 4.1 '),
    ({"xen_version": ["4.17"]}, r"h.json: xen_version: expected a string .*, got a list"),
    ({"xen_version": "4.3"}, r"h.json: xen_version: Xen 4.3 is not modelled; .* from 4.6 "
                             r"and xlrmrr models up to 4.22"),
    ({"xen_version": "4.23.1"}, r"h.json: xen_version: Xen 4.23.1 is not modelled"),
    ({"xen_version": "latest"}, r"h.json: xen_version: 'latest' is not a Xen release"),
    ({"xen_version": ""}, r"h.json: xen_version: '' is not a Xen release"),
])
def test_malformed_description(obj, where):
    with pytest.raises(InputError, match=where) as e:
        description_from_json(obj, "h.json")
    assert str(e.value).startswith("h.json: ") and "\n" not in str(e.value)


def test_limits_accepted():
    d = description_from_json({"devices": [{**DEV, "class": "0xffffff", "secondary_bus": 255,
                                            "bars": [{"index": 6, "size": 1 << 63},
                                                     {"index": 0, "size": 1}]}],
                               "e820": [{"addr": "0xfffffffffffff000", "size": "0x1000",
                                         "type": 2}]}, "h")
    assert d.devices[0].class_code == 0xFFFFFF and d.devices[0].secondary_bus == 0xFF
    assert d.e820[0].end == 1 << 64
    assert [b.size for b in d.devices[0].bars] == [1 << 63, 1]


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_host_json_and_snapshot_exit_2(capsys, tmp_path):
    dmar = FIXTURES / "dmar" / "laptop-typical.bin"
    hj = tmp_path / "h.json"
    hj.write_text(json.dumps({"devices": [{**DEV, "bars": [1]}]}))
    rc, out, err = run(capsys, "host", "--dmar", dmar, "--host-json", hj)
    assert rc == 2 and out == ""
    assert err == (f"xlrmrr host: error: {hj}: devices[0] (0000:00:14.0): bars[0]: a BAR is an "
                   f"object {{index, size, ...}}, got the number 1\n")
    snap = tmp_path / "s.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        body = b'{"devices": 5}'
        info = tarfile.TarInfo("host.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    snap.write_bytes(raw.getvalue())
    rc, out, err = run(capsys, "host", "--snapshot", snap)
    assert rc == 2 and err == (f'xlrmrr host: error: {snap}:host.json: devices: must be a JSON '
                               f'list, got the number 5\n')


def test_xen_version_kept_with_point_release():
    for text in ("4.6", "4.10", "4.14.5", "4.22"):
        assert str(description_from_json({"xen_version": text}, "h").xen_version) == text
    assert description_from_json({}, "h").xen_version is None


def test_cli_host_json_unmodelled_release_exit_2(capsys, tmp_path):
    """An unmodelled release was dropped and 4.22 modelled in its place; now exit 2."""
    hj = tmp_path / "h.json"
    hj.write_text(json.dumps({"xen_version": "4.3", "devices": []}))
    rc, out, err = run(capsys, "host", "--dmar", FIXTURES / "dmar" / "laptop-typical.bin",
                       "--host-json", hj)
    assert rc == 2 and out == ""
    assert err.startswith(f"xlrmrr host: error: {hj}: xen_version: Xen 4.3 is not modelled")
    assert err.count("\n") == 1
