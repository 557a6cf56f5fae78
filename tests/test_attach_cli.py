"""`xlrmrr pci-attach` end to end, on the fixtures of tests/test_check_cli.py.

Hand derivations (vtd/iommu.c:intel_iommu_assign_device, libxl_dm.c:
libxl__domain_device_construct_rdm):
  nic.cfg (1024 MiB, videoram 8 MiB): lowmem_end = 0x3f800000; the IGD RMRR G =
    [0xad000000, 0xaf7fffff] is in the hole -> xl pci-attach 00:02.0 maps it 1:1 -> exit 0.
  usb-pair.cfg (4096 MiB): only U was reserved (lowmem_end 0xba800000), so G is guest RAM ->
    strict (xl's default) -> "Cannot setup identity map d1:ad000 ..." -> -EBUSY -> exit 1.
    With rdm = "strategy=host" at creation (Xen 4.15+: no policy= may be written), xl copies an
    uninitialised global policy: read as relaxed, libxl ignores the xHCI RMRR at 0xe8000 (below
    1 MiB, always guest RAM), reserves G too (lowmem_end 0xad000000) and the attach maps it;
    read as strict, "RDM conflict at 0xe8000." fails the create; read as any other value,
    libxl only warns on that conflict and both pci= devices carry their own policy, so the guest
    starts with G reserved and the attach maps it. So the change is not verified.
    rdm_forcecheck = 1 is never proposed: xl ignores the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import FIXTURES, REPO

from xlrmrr.cli import main

F = FIXTURES / "guests" / "check"
HOST = ["--dmar", str(F / "host.dmar"), "--host-json", str(F / "host.json"),
        "--xen-version", "4.22"]


def test_attach_into_hole_succeeds(capsys):
    code = main(["pci-attach", str(F / "nic.cfg"), "00:02.0", "--dry-run", *HOST])
    out = capsys.readouterr().out
    assert code == 0
    assert "mapped 1:1 (p2m_mmio_direct, rw)" in out
    assert "Verdict: `xl pci-attach` succeeds and every RMRR is identity-mapped" in out


def test_attach_over_ram_fails_and_strategy_host_fixes_it(capsys):
    code = main(["pci-attach", str(F / "usb-pair.cfg"), "00:02.0", "--dry-run", *HOST, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["exit_status"] == 1 and not doc["ok"]
    assert doc["assignment"]["rc"] == -16
    assert doc["assignment"]["xen_log"] == [
        "Cannot setup identity map d1:ad000, gfn already mapped to <mfn>.",
        "[VT-D]d1: cannot map reserved region [ad000000,af7fffff]: -16"]
    remedies = {r["change"]: r for r in doc["remedies"]}
    host = remedies['rdm = "strategy=host"']
    assert not host["verified"] and not host["ok"]
    assert host["readings"] == {"strict": {"ok": False, "honoured": False, "guest_starts": False},
                                "relaxed": {"ok": True, "honoured": True, "guest_starts": True},
                                "unset": {"ok": True, "honoured": True, "guest_starts": True}}
    # never a key xl ignores: rdm_forcecheck = 1 (xl reads nothing of it) is not proposed
    assert not [c for c in remedies if "rdm_forcecheck" in c]


def test_attach_relaxed_over_ram_is_degraded(capsys):
    code = main(["pci-attach", str(F / "usb-pair.cfg"), "00:02.0,rdm_policy=relaxed", "--dry-run",
                 *HOST])
    out = capsys.readouterr().out
    assert code == 3
    assert "occupied by guest RAM: left as it is (relaxed)" in out


def test_attach_device_already_assigned(capsys):
    code = main(["pci-attach", str(F / "igd.cfg"), "00:02.0", "--dry-run", *HOST])
    assert code == 1
    assert "PCI device already attached to a domain" in capsys.readouterr().out


def _fake_xl(tmp_path):
    log = tmp_path / "xl.args"
    xl = tmp_path / "xl"
    xl.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {log}\nexit 0\n")
    xl.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    return log, env


def test_without_dry_run_runs_xl_when_clean(tmp_path):
    log, env = _fake_xl(tmp_path)
    r = subprocess.run([sys.executable, "-m", "xlrmrr", "pci-attach", str(F / "nic.cfg"), "00:02.0",
                        *HOST], capture_output=True, text=True, cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr
    assert log.read_text().split() == ["pci-attach", "nic", "00:02.0"]
    assert "running: xl pci-attach nic 00:02.0" in r.stderr


def test_without_dry_run_refuses_when_it_would_fail(tmp_path):
    log, env = _fake_xl(tmp_path)
    r = subprocess.run([sys.executable, "-m", "xlrmrr", "pci-attach", str(F / "usb-pair.cfg"),
                        "00:02.0", *HOST], capture_output=True, text=True, cwd=REPO, env=env)
    assert r.returncode == 1
    assert not log.exists()
    assert "not running xl pci-attach" in r.stderr


def test_bad_sbdf_is_input_error(capsys):
    assert main(["pci-attach", str(F / "nic.cfg"), "zz:02.0", "--dry-run", *HOST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "SBDF: not a PCI address (SSSS:BB:DD.F): 'zz:02.0'" in err


def test_attach_remedy_agrees_with_create_on_every_policy_reading(tmp_path, capsys):
    # The review's s5: 4096 MiB, 00:1f.3 (no RMRR) without rdm_policy, on laptop-typical: the
    # xHCI 00:14.0's RMRR [0xab80a000, 0xab81dfff] is guest RAM (no rdm=: only 00:1f.3's
    # RMRRs, none, are reserved) -> the strict attach gets -EBUSY, exit 1. With
    # rdm = "strategy=host" (4.22: no policy=) both RMRRs lie above rdm_mem_boundary (2 GiB), so
    # lowmem_end moves below them read as strict or relaxed and the attach maps 1:1; read as
    # any other value, 00:1f.3 inherits it and libxl refuses it ("unknown rdm check flag"),
    # which is what create reports for the same file: the remedy is not verified.
    host = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
            "--host-json", str(FIXTURES / "hosts/laptop.json"), "--xen-version", "4.22"]
    body = 'name="s5"\ntype="hvm"\nmemory=4096\npci=["00:1f.3"]\n'
    s5 = tmp_path / "s5.cfg"
    s5.write_text(body)
    code = main(["pci-attach", str(s5), "00:14.0", "--dry-run", *host, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["assignment"]["rc"] == -16
    rem = {r["change"]: r for r in doc["remedies"]}['rdm = "strategy=host"']
    assert not rem["verified"] and not rem["guest_starts"]
    assert rem["readings"]["unset"] == {"ok": False, "honoured": False, "guest_starts": False}
    changed = tmp_path / "s5h.cfg"
    changed.write_text(body + 'rdm = "strategy=host"\n')
    code = main(["create", str(changed), "--dry-run", *host, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and any("unknown rdm check flag" in f["message"] for f in doc["findings"]
                             if f["severity"] == "error")
    main(["pci-attach", str(s5), "00:14.0", "--dry-run", *host])
    out = capsys.readouterr().out
    assert "`rdm = \"strategy=host\"`: [not verified]" in out
    assert "if it reads as any other value: the guest itself then fails to start" in out


def test_attach_models_the_release_the_host_data_records(tmp_path, capsys):
    # bug-rmrr-over-ram: the IGD RMRR G = [0xad000000, 0xaf7fffff] covers E820 RAM, so Xen 4.19+
    # runs without VT-d (iommu_unity_region_ok, e45801dea1) and `xl pci-attach` of anything fails; Xen
    # 4.17 only warns. A 1024 MiB guest without pci=: lowmem_end 0x40000000, G is in the MMIO
    # hole, so attaching the IGD maps it 1:1: exit 0 under 4.17, exit 1 (no-iommu) under 4.22.
    doc = json.loads((FIXTURES / "hosts/laptop-bad-e820.json").read_text())
    doc["xen_version"] = "4.17"
    (tmp_path / "host.json").write_text(json.dumps(doc))
    host = ["--dmar", str(FIXTURES / "dmar/bug-rmrr-over-ram.bin"),
            "--host-json", str(tmp_path / "host.json")]
    g = tmp_path / "g.cfg"
    g.write_text('name = "g"\ntype = "hvm"\nmemory = 1024\n')
    code = main(["pci-attach", str(g), "00:02.0", "-n", *host, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["xen_version"] == "4.17"
    assert "xen-version-from-host" in [f["code"] for f in out["findings"]]
    code = main(["pci-attach", str(g), "00:02.0", "-n", *host, "--json", "--xen-version", "4.22"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["xen_version"] == "4.22" and not out["ok"]
    assert "no-iommu" in [f["code"] for f in out["findings"]]
    assert out["remedies"] == []


def test_attach_into_a_guest_create_blocks_fails(tmp_path, capsys):
    # pci = 00:14.0 twice: create is blocked (the second libxl__device_pci_add finds the device
    # no longer owned by dom0, -EBUSY), so no guest runs to attach 00:02.0 to.
    cfg = tmp_path / "dup.cfg"
    cfg.write_text('name = "dup"\ntype = "hvm"\nmemory = 1024\npci = [ "00:14.0", "00:14.0" ]\n')
    # On the laptop host 00:14.0's RMRR is its own (not shared), so only the duplicate blocks.
    laptop = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
              "--host-json", str(FIXTURES / "hosts/laptop.json")]
    assert main(["create", str(cfg), "--dry-run", *laptop]) == 1
    capsys.readouterr()
    assert main(["pci-attach", str(cfg), "00:02.0", "--dry-run", "--json", *laptop]) == 1
    out = json.loads(capsys.readouterr().out)
    assert not out["ok"] and "attach-no-guest" in [f["code"] for f in out["findings"]]


def test_check_and_attach_text_escape_control_bytes(tmp_path, capsys):
    # The guest's name comes from the file: an ESC sequence in it must not reach the terminal.
    cfg = tmp_path / "esc.cfg"
    cfg.write_bytes(b'name = "g\x1b[2Jx"\ntype = "hvm"\nmemory = 1024\npci = [ "00:02.0" ]\n')
    for argv in (["check", str(cfg), *HOST], ["pci-attach", str(cfg), "00:14.0", "--dry-run", *HOST]):
        main(argv)
        out = capsys.readouterr().out
        assert "\x1b" not in out and "g\\x1b[2Jx" in out, argv[0]


def test_remedies_carry_their_edits_and_the_edits_are_the_change(capsys, tmp_path):
    # s5 (4096 MiB, pci 00:1f.3 with no policy) attaching the xHCI 00:14.0 on the laptop host:
    # two creation-time changes (remedies.attach.variants), rdm = "strategy=host" alone, and with
    # the bare pci= entry made strict. Each remedy's edits, written into the file as --fix
    # writes edits (remedies.cfgtext), give a file on which the attach does what the remedy
    # says (its "ok" under every reading xl may give the undefined global policy).
    from xlrmrr.remedies import Edit
    from xlrmrr.remedies.cfgtext import apply_bytes

    host = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
            "--host-json", str(FIXTURES / "hosts/laptop.json"), "--xen-version", "4.22"]
    body = b'name="s5"\ntype="hvm"\nmemory=4096\npci=["00:1f.3"]\n'
    s5 = tmp_path / "s5.cfg"
    s5.write_bytes(body)
    main(["pci-attach", str(s5), "00:14.0", "--dry-run", *host, "--json"])
    remedies = json.loads(capsys.readouterr().out)["remedies"]
    assert [[(e["key"], e["value"]) for e in r["edits"]] for r in remedies] == [
        [("rdm", '"strategy=host"')],
        [("rdm", '"strategy=host"'), ("pci", "[ '00:1f.3,rdm_policy=strict' ]")]]
    for r in remedies:
        assert r["change"] == " and ".join(f"{e['key']} = {e['value']}" for e in r["edits"])
        changed = tmp_path / f"s5-{len(r['edits'])}.cfg"
        changed.write_bytes(apply_bytes(body, [Edit(e["key"], e["value"], e["only_if_set"])
                                               for e in r["edits"]]))
        code = main(["pci-attach", str(changed), "00:14.0", "--dry-run", *host, "--json"])
        doc = json.loads(capsys.readouterr().out)
        if r["verified"]:
            assert (code == 0) == r["ok"] and doc["ok"] == r["ok"]
    assert remedies[1]["verified"] and remedies[1]["ok"]     # both strict: lowmem_end moves
