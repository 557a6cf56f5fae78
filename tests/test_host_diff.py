"""`xlrmrr host diff A B`: two hosts' data compared as Xen sees them.

By hand, against the laptop table (xHCI 00:14.0 [0xab80a000, 0xab81dfff], IGD 00:02.0
[0xad000000, 0xaf7fffff]):
- usb-shared adds EHCI 00:1a.0 and 00:1d.0 to the xHCI RMRR's scope: one scope change, one
  new sharing group {00:14.0, 00:1a.0, 00:1d.0}; small.cfg (512 MiB, pci 00:14.0 strict) then
  fails: intel_iommu_assign_device refuses a shared RMRR without the relaxed flag (-EPERM).
- bug-rmrr-overlap: Xen rejects the table (Overlapping RMRRs): VT-d off, both RMRRs gone,
  igd-passthrough.cfg ok -> blocked (libxl: passthrough not supported on this platform).
- the xHCI RMRR 1 MiB higher, same size: moved; rmrr-mmio-hole's 1 MiB xHCI range
  [0xf8000000, 0xf80fffff]: resized.
"""

from __future__ import annotations

import json

from conftest import FIXTURES, bounds

from xlrmrr.cli import main
from xlrmrr.cli.hostdiff import detect

D = FIXTURES / "dmar"
HJ = ["--host-json", str(FIXTURES / "hosts" / "laptop.json")]
LAPTOP = str(D / "laptop-typical.bin")


def diff(capsys, a, b, *extra):
    code = main(["host", "diff", str(a), str(b), *extra, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_same_host_twice_no_difference(capsys):
    assert main(["host", "diff", LAPTOP, LAPTOP]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "no difference"


def test_same_host_as_dmar_and_snapshot(capsys, tmp_path):
    from xlrmrr.host.load import read_host_json
    from xlrmrr.host.snapshot import write_snapshot

    snap = tmp_path / "laptop.tar.gz"
    snap.write_bytes(write_snapshot((D / "laptop-typical.bin").read_bytes(),
                                    read_host_json(str(FIXTURES / "hosts" / "laptop.json")), []))
    code, j = diff(capsys, LAPTOP, snap, *HJ, "--xen-version", "4.22")
    assert (j["a"]["kind"], j["b"]["kind"]) == ("DMAR table", "snapshot")
    assert code == 0 and j["differences"] == 0


def test_scope_and_group_change_and_guest_verdicts(capsys):
    code, j = diff(capsys, LAPTOP, D / "usb-shared.bin", *HJ, "--xen-version", "4.22",
                   "--cfg", str(FIXTURES / "guests" / "small.cfg"),
                   "--cfg", str(FIXTURES / "guests" / "igd-passthrough.cfg"))
    assert code == 1
    (sc,) = j["scope_changed"]
    assert sc["from"]["devices"] == ["0000:00:14.0"]
    assert sorted(sc["to"]["devices"]) == ["0000:00:14.0", "0000:00:1a.0", "0000:00:1d.0"]
    assert j["groups_added"] == [["0000:00:14.0", "0000:00:1a.0", "0000:00:1d.0"]]
    small, igd = j["guests"]
    assert (small["a"], small["b"]) == ("ok", "blocked")
    assert "shared RMRR" in small["why"]
    assert (igd["a"], igd["b"]) == ("ok", "ok")
    assert j["differences"] == 3        # scope, group, one guest


def test_vtd_disabled_on_b(capsys):
    code, j = diff(capsys, LAPTOP, D / "bug-rmrr-overlap.bin", *HJ, "--xen-version", "4.22",
                   "--cfg", str(FIXTURES / "guests" / "igd-passthrough.cfg"))
    assert code == 1 and j["vtd_enabled"] == [True, False]
    assert {bounds(r) for r in j["rmrrs_removed"]} == {
        (0xab80a000, 0xab81dfff), (0xad000000, 0xaf7fffff)}
    assert "rmrr-overlap" in {f["code"] for f in j["findings_new"]}
    assert (j["guests"][0]["a"], j["guests"][0]["b"]) == ("ok", "blocked")


def test_moved_and_resized(capsys, tmp_path):
    from xlrmrr.acpi.dmar import build, from_json

    src = json.loads((D / "laptop-typical.json").read_text())["table"]
    src["structures"][2].update(base="0xab90a000", end="0xab91dfff")
    moved = tmp_path / "moved.bin"
    moved.write_bytes(build(from_json(src)))
    _code, j = diff(capsys, LAPTOP, moved)
    (m,) = j["rmrrs_moved"]
    assert (m["from"]["start"], *bounds(m["to"])) == (0xab80a000, 0xab90a000, 0xab91dfff)
    assert not j["rmrrs_added"] and not j["rmrrs_removed"]
    _code, j = diff(capsys, LAPTOP, D / "rmrr-mmio-hole.bin")
    (r,) = j["rmrrs_resized"]
    assert (*bounds(r["to"]), r["to"]["devices"]) == (0xf8000000, 0xf80fffff, ["0000:00:14.0"])


def test_kind_detection():
    assert detect(b"DMAR\x00\x00") == "DMAR table"
    assert detect(b"\x1f\x8b\x08") == "snapshot"
    assert detect(b'  {"devices": []}') == "host JSON"
    assert detect(b"DMAR @ 0x0000000000000000\n    0000: 44 4D 41 52") == "acpidump output"
    assert detect(b"(XEN) [VT-D]found ACPI_DMAR_RMRR:\n") == "boot log"
    assert detect(b"hello world\n") == ""


def test_junk_is_exit_2(capsys, tmp_path):
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\n")
    assert main(["host", "diff", LAPTOP, str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "junk.txt: not host data" in err


def test_diff_needs_two_files(capsys):
    assert main(["host", "diff", LAPTOP]) == 2
    assert "give two host data files" in capsys.readouterr().err


def test_readme_example_is_real_output(capsys, monkeypatch):
    from test_explain import readme_example

    argv, expected = readme_example("xlrmrr host diff")
    monkeypatch.chdir(FIXTURES)
    assert main(argv) == 1
    assert capsys.readouterr().out == expected
