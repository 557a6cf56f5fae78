"""The JSON contract (issue 11 item 5, docs/json.md): every object xlrmrr prints carries
schema_version and the command that printed it; every per-guest object names the config file
and the guest; an object's keys do not vary with the outcome."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.report.document import SCHEMA_VERSION

G = FIXTURES / "guests"
SMALL = str(G / "small.cfg")                         # name = "small", 00:14.0, 512 MiB
USB = str(G / "usb-strict-boundary.cfg")             # name = "usb-strict", 00:14.0, blocked
LAPTOP = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]
LOG = str(FIXTURES / "logs/xl-create-rdm-conflict-4.22.log")


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, _err = capsys.readouterr()
    return rc, json.loads(out)


RUNS = [
    (["cfg", SMALL], "cfg"),
    (["cfg", FIXTURES / "libvirt/usb-hvm.xml"], "cfg"),
    (["dmar", FIXTURES / "dmar/laptop-typical.bin"], "dmar"),
    (["host", *LAPTOP], "host"),
    (["host", "diff", FIXTURES / "dmar/laptop-typical.bin", FIXTURES / "dmar/usb-shared.bin"],
     "host diff"),
    (["create", SMALL, "--dry-run", *LAPTOP], "create"),
    (["create", USB, "--dry-run", "--fix", *LAPTOP], "create --fix"),
    (["check", SMALL, USB, *LAPTOP], "check"),
    (["pci-attach", SMALL, "00:02.0", "--dry-run", *LAPTOP], "pci-attach"),
    (["explain", LOG, "--cfg", USB, *LAPTOP], "explain"),
    (["upgrade", "--from", "4.14", "--to", "4.15", SMALL, *LAPTOP], "upgrade"),
]


@pytest.mark.parametrize("argv, command", RUNS, ids=[c for _a, c in RUNS])
def test_every_object_carries_schema_version_and_command(capsys, argv, command):
    _rc, doc = run(capsys, *argv, "--json")
    assert doc["schema_version"] == SCHEMA_VERSION == 1 and doc["command"] == command


def test_per_guest_objects_name_the_config_and_the_guest(capsys):
    # small.cfg says name = "small", usb-strict-boundary.cfg name = "usb-strict"
    names = {SMALL: "small", USB: "usb-strict"}
    for argv in (["cfg", SMALL], ["create", SMALL, "--dry-run", *LAPTOP],
                 ["create", USB, "--dry-run", "--fix", *LAPTOP],
                 ["pci-attach", SMALL, "00:02.0", "--dry-run", *LAPTOP]):
        _rc, doc = run(capsys, *argv, "--json")
        assert (doc["config"], doc["guest"]) == (SMALL if SMALL in argv else USB,
                                                 names[SMALL if SMALL in argv else USB]), argv
    _rc, doc = run(capsys, "check", SMALL, USB, *LAPTOP, "--json")
    assert [(g["config"], g["guest"]) for g in doc["guests"]] == list(names.items())
    _rc, doc = run(capsys, "upgrade", "--from", "4.14", "--to", "4.15", SMALL, USB, *LAPTOP,
                   "--json")
    assert [(g["config"], g["guest"]) for g in doc["guests"]] == list(names.items())
    _rc, doc = run(capsys, "host", "diff", FIXTURES / "dmar/laptop-typical.bin",
                   FIXTURES / "dmar/usb-shared.bin", "--cfg", SMALL, "--cfg", USB, "--json")
    assert [(g["config"], g["guest"]) for g in doc["guests"]] == list(names.items())
    _rc, doc = run(capsys, "explain", LOG, "--cfg", USB, *LAPTOP, "--json")
    assert (doc["plan"]["config"], doc["plan"]["guest"]) == (USB, "usb-strict")


def test_create_keys_do_not_vary_with_the_outcome(capsys, tmp_path):
    # ok (small: 512 MiB, nothing near the RMRRs), blocked in libxl (usb-strict: RDM conflict),
    # refused by xl itself (no name=: "Domain name must be specified.", only the xl stage)
    noname = tmp_path / "noname.cfg"
    noname.write_text('type = "hvm"\nmemory = 512\n')
    docs = {}
    for cfg in (SMALL, USB, noname):
        rc, docs[cfg] = run(capsys, "create", cfg, "--dry-run", *LAPTOP, "--json")
    ok, blocked, refused = docs[SMALL], docs[USB], docs[noname]
    assert (ok["verdict"], blocked["verdict"], refused["verdict"]) == ("ok", "blocked", "blocked")
    assert list(ok) == list(blocked) == list(refused)
    assert list(ok["populate_physmap"]) == list(refused["populate_physmap"])
    assert refused["stages"] == ["xl"] and refused["guest"] is None
    assert refused["hvmloader"] is refused["hypervisor"] is refused["hap"] is None
    assert ok["stages"] == ["xl", "libxl", "libxc", "xen", "hvmloader"]
    assert blocked["stages"] == ["xl", "libxl"]         # libxl stops at the strict conflict


def test_check_of_no_guest_prints_an_object(capsys, tmp_path):
    # --auto with XENDOMAINS_AUTO naming an empty directory: nothing starts at boot, exit 0,
    # and stdout is still one object (it was empty)
    root = tmp_path / "root"
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/xen/auto").mkdir(parents=True)
    rc, doc = run(capsys, "check", "--auto", "--root", root, "--json", "--xen-version", "4.17")
    assert rc == 0 and doc["command"] == "check" and doc["guests"] == []
    assert doc["exit_status"] == 0 and doc["xen_version"] == "4.17"


def test_one_address_convention_across_commands(capsys):
    # The laptop's xHCI RMRR, [0xab80a000, 0xab81dfff] as Xen prints it (fixtures/dmar/
    # laptop-typical.json): 0xab81dfff - 0xab80a000 + 1 = 0x14000 bytes (80 KiB, 0x14 pages).
    # Every command that shows it gives {start, size} with those two numbers.
    xhci = {"start": 0xAB80A000, "size": 0x14000}

    def has(obj) -> bool:
        return {k: obj[k] for k in ("start", "size")} == xhci

    _rc, d = run(capsys, "dmar", FIXTURES / "dmar/laptop-typical.bin", "--json")
    (rmrr,) = [s for s in d["structures"] if s["type_name"] == "RMRR" and s["start"] == xhci["start"]]
    assert has(rmrr) and (rmrr["base_address"], rmrr["end_address"]) == (0xAB80A000, 0xAB81DFFF)
    _rc, h = run(capsys, "host", *LAPTOP, "--json")
    assert has(h["rmrrs"][1]) and h["rmrrs"][1]["nr_pages"] == 0x14
    assert [r for d in h["devices"] if d["sbdf"] == "0000:00:14.0" for r in d["rmrrs"]] == [xhci]
    _rc, c = run(capsys, "create", SMALL, "--dry-run", *LAPTOP, "--json")
    assert [r for r in c["rdms"] if has(r)] and [m for m in c["hypervisor"]["identity_maps"] if has(m)]
    (out,) = c["hypervisor"]["devices"][0]["rmrrs"]     # 00:14.0's one RMRR, mapped 1:1
    assert has(out) and has(c["hypervisor"]["page_tables"][0])
    # the page runs cover the RMRR's pages once: 0x14 pages from 0xab80a000
    assert out["runs"][0]["start"] == xhci["start"]
    assert sum(r["size"] for r in out["runs"]) == 0x14 << 12
    assert {"start": xhci["start"], "size": 0x14000, "type": "RESERVED"} in c["e820"]
    _rc, a = run(capsys, "pci-attach", SMALL, "00:02.0", "--dry-run", *LAPTOP, "--json")
    assert a["assignment"]["rmrrs"][0]["start"] == 0xAD000000
    assert a["assignment"]["rmrrs"][0]["size"] == 0xAF7FFFFF - 0xAD000000 + 1
    _rc, e = run(capsys, "explain", LOG, *LAPTOP, "--json")
    assert has(e["messages"][0]["owners"][0])
    _rc, x = run(capsys, "host", "diff", FIXTURES / "dmar/laptop-typical.bin",
                 FIXTURES / "dmar/bug-rmrr-overlap.bin", "--json", "--xen-version", "4.22")
    assert [r for r in x["rmrrs_removed"] if has(r)]
