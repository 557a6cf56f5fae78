"""The hypervisor stage through the command line (create, check, pci-attach) on the fixtures of
fixtures/guests/check/ (host.dmar + host.json; see tests/test_check_cli.py for the host).

Each test names the audit gap it closes and derives its expectation beside it."""

from __future__ import annotations

import json

from conftest import FIXTURES

from xlrmrr.cli import main

F = FIXTURES / "guests" / "check"
DMAR = ["--dmar", str(F / "host.dmar"), "--xen-version", "4.22"]
HOST = [*DMAR, "--host-json", str(F / "host.json")]


def cfg(name):
    return str(F / f"{name}.cfg")


def write(tmp_path, name, body, kind="hvm"):
    f = tmp_path / f"{name}.cfg"
    f.write_text(f'name = "{name}"\ntype = "{kind}"\n' + body)
    return str(f)


# --- --no-hap reaches the page-table model ----------------------------------------------------

def test_no_hap_option_gives_separate_iommu_tables(capsys):
    # libxl: hap defaults to the host's HAP, so --no-hap makes the guest shadow-paged; without
    # HAP there is no EPT to share, so VT-d keeps its own tables (the same as hap=0 in the config).
    code = main(["create", "-n", "--no-hap", cfg("xhci"), *HOST, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 3
    assert doc["hap"] is False
    assert doc["hypervisor"]["shared_pt"] is False
    main(["create", "-n", "--no-hap", cfg("xhci"), *HOST, "--verbose"])    # the page tables
    out = capsys.readouterr().out
    assert "the IOMMU has its own tables, mirrored from the p2m" in out
    assert "the IOMMU walks the EPT itself" not in out


def test_hap_host_keeps_shared_tables(capsys):
    main(["create", "-n", cfg("xhci"), *HOST, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["hap"] is True and doc["hypervisor"]["shared_pt"] is True


# --- a device the known topology lacks ----------------------------------------------------------

ABSENT_HVM = ('libxl logs "PCI device 0000:05:00.0 already assigned to a different guest?"')


def test_attach_of_absent_device_fails_naming_it(capsys):
    # host.json lists 00:00.0, 00:02.0, 00:14.0, 00:1a.0, 00:1c.0, 00:1d.0, 03:00.0 and is the
    # complete topology: 05:00.0 does not exist, so libxl's xc_test_assign_device fails and
    # `xl pci-attach` fails: exit 1, and no creation-time change can help.
    code = main(["pci-attach", cfg("nic"), "05:00.0", "-n", *HOST])
    out = capsys.readouterr().out
    assert code == 1
    assert "\n  error   [libxl] 0000:05:00.0 is not a PCI function of this host" in out
    assert ABSENT_HVM in out and "`xl pci-attach` fails" in out
    assert "xl pci-assignable-list" in out
    assert "What to put in the config at creation" not in out
    assert "Verdict: `xl pci-attach` FAILS" in out


def test_create_and_check_with_absent_device_fail(tmp_path, capsys):
    absent = write(tmp_path, "absent", "memory = 1024\npci = [ '05:00.0' ]\n")
    assert main(["create", "-n", absent, *HOST, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "blocked"
    (f,) = [f for f in doc["findings"] if f["code"] == "device-absent"]
    assert f["component"] == "libxl" and "`xl create` fails" in f["message"]
    assert main(["check", absent, cfg("nic"), *HOST, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["guests"][0]["verdict"] == "blocked"
    assert doc["guests"][0]["devices"]["0000:05:00.0"] == "absent"
    assert doc["guests"][1]["verdict"] == "ok"


def test_absent_pv_device_uses_the_assignable_list_message(tmp_path, capsys):
    # PV: libxl skips xc_test_assign_device (HVM only) and fails on pciback's assignable list,
    # printing the BDF with %x: "0:5:0.0".
    pv = write(tmp_path, "pv", "memory = 1024\npci = [ '05:00.0' ]\n", kind="pv")
    assert main(["create", "-n", pv, *HOST]) == 1
    assert 'libxl logs "PCI device 0:5:0.0 is not assignable"' in capsys.readouterr().out


def test_without_topology_devices_are_assumed_present(tmp_path, capsys):
    absent = write(tmp_path, "absent", "memory = 1024\npci = [ '05:00.0' ]\n")
    assert main(["create", "-n", absent, *DMAR]) == 0
    out = capsys.readouterr().out
    assert "device-absent" not in out
    assert "xlrmrr assumes every assigned device exists and is assignable" in out
    assert main(["pci-attach", cfg("nic"), "05:00.0", "-n", *DMAR]) == 0


# --- pci-attach remedies: verified only where the outcome does not hang on stack garbage ---------

def test_attach_remedy_on_uninitialised_policy_is_not_verified(capsys):
    # nic.cfg (1024 MiB, 03:00.0 without policy) + the xHCI 00:14.0, strict: its RMRR 0xe8000 is
    # below 1 MiB, always guest RAM -> -EBUSY. rdm = "strategy=host" (4.22: no policy= allowed)
    # leaves the global policy uninitialised and 03:00.0 inherits it: read as strict, the
    # orphan RDM 0xe8000 conflicts -> "RDM conflict" -> no guest; read as relaxed, the guest
    # starts but the range is still RAM -> the attach still fails. Not verified either way, as
    # create labels the same change; an explicit rdm_policy on 03:00.0 does not remove the
    # global garbage, and no setting frees RAM below 1 MiB.
    code = main(["pci-attach", cfg("nic"), "00:14.0", "-n", *HOST])
    out = capsys.readouterr().out
    assert code == 1
    assert ("add `rdm = \"strategy=host\"`: [not verified] without policy= xl copies an "
            "uninitialised value as the global policy") in out
    assert "    if it reads as strict: the guest itself then fails to start" in out
    assert "    if it reads as relaxed: the attach still fails" in out
    # two config lines, two code spans: "and" is prose, not config
    assert ("add `rdm = \"strategy=host\"` and `pci = [ '03:00.0,rdm_policy=strict' ]`: "
            "[not verified]") in out
    assert "(checked by planning again)" not in out.split("rdm_forcecheck")[0]
    assert "no creation-time setting frees the RMRR at 0xe8000" in out


def test_attach_remedy_verified_only_when_every_reading_agrees(tmp_path, capsys):
    # 4096 MiB with the xHCI relaxed and the NIC without policy; attach the IGD (strict).
    # Created as written: libxl queries only the assigned devices' RMRRs -- the xHCI's 0xe8000
    # (relaxed: ignored) -- so lowmem_end stays 0xf0000000 and G = 0xad000000 is guest RAM:
    # -EBUSY. With rdm = "strategy=host": U and G are above rdm_mem_boundary (2 GiB), so
    # lowmem_end moves to 0xad000000 whatever the global policy; 0xe8000 belongs to the relaxed
    # xHCI (ignored). Read as 0 or 1, G is free and the attach maps it 1:1. Read as any other
    # value, 03:00.0 inherits it and libxl fails its assignment ("unknown rdm check flag"): the
    # guest does not start. So that change is not verified; with 03:00.0 given rdm_policy=strict
    # every reading starts the guest and the attach maps G: verified.
    v = write(tmp_path, "v", "memory = 4096\npci = [ '00:14.0,rdm_policy=relaxed', '03:00.0' ]\n")
    code = main(["pci-attach", v, "00:02.0", "-n", *HOST, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    rem = {r["change"]: r for r in doc["remedies"]}
    host = rem['rdm = "strategy=host"']
    assert not host["verified"] and not host["ok"] and not host["guest_starts"]
    assert host["readings"] == {"strict": {"ok": True, "honoured": True, "guest_starts": True},
                                "relaxed": {"ok": True, "honoured": True, "guest_starts": True},
                                "unset": {"ok": False, "honoured": False, "guest_starts": False}}
    explicit = rem["rdm = \"strategy=host\" and pci = [ '00:14.0,rdm_policy=relaxed', "
                   "'03:00.0,rdm_policy=strict' ]"]
    assert explicit["verified"] and explicit["ok"] and set(explicit["readings"]) == {
        "strict", "relaxed", "unset"}
    main(["pci-attach", v, "00:02.0", "-n", *HOST])
    out = capsys.readouterr().out
    assert ("'03:00.0,rdm_policy=strict' ]`: the attach then succeeds with every RMRR 1:1 (checked "
            "by planning again, with xl's uninitialised rdm policy read as strict, as relaxed and "
            "as any other value)") in out
    assert "    if it reads as any other value: the guest itself then fails to start" in out


def test_attach_remedy_before_4_15_spells_the_policy(tmp_path, capsys):
    # Xen 4.14 parses `strategy=host,policy=relaxed` (defined): one reading, no inherited
    # garbage (4.14's xl parses pci= before rdm=), so no explicit-policy variant.
    code = main(["pci-attach", cfg("usb-pair"), "00:02.0", "-n", *HOST, "--xen-version", "4.14"])
    out = capsys.readouterr().out
    assert code == 1
    assert ('add `rdm = "strategy=host,policy=relaxed"`: the attach then succeeds with every '
            'RMRR 1:1 (checked by planning again)') in out
    assert "and pci = [" not in out


# --- pci-attach that splits a sharing group -------------------------------------------------------

def test_attach_leaving_a_group_partner_in_dom0_is_degraded(capsys):
    # nic.cfg (1 GiB: U = [0xba8d8000, 0xba8f7fff] lies in the MMIO hole) + EHCI 00:1a.0 relaxed:
    # Xen warns "It's risky" and maps U 1:1 (honoured), but its partner 00:1d.0 stays in dom0,
    # which keeps its own 1:1 mapping of U: the same layout created with split-a.cfg exits 3,
    # so the attach is degraded too (exit 3), and no creation-time rdm= change is offered.
    code = main(["pci-attach", cfg("nic"), "00:1a.0,rdm_policy=relaxed", "-n", *HOST])
    out = capsys.readouterr().out
    assert code == 3
    assert main(["create", "-n", cfg("split-a"), *HOST]) == 3
    capsys.readouterr()
    assert "\n  warning [xen] RMRR sharing group {0000:00:1a.0, 0000:00:1d.0}" in out
    assert "Verdict: `xl pci-attach` succeeds, but it splits an RMRR sharing group" in out
    assert "What to put in the config at creation" not in out
    main(["pci-attach", cfg("nic"), "00:1a.0,rdm_policy=relaxed", "-n", *HOST, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_status"] == 3 and doc["honoured"] and doc["group_partial"]


def test_attach_completing_a_group_is_clean(tmp_path, capsys):
    # split-a.cfg has 00:1a.0 (2 GiB, U in the hole); attaching 00:1d.0 relaxed makes the group
    # whole: U is already listed -> refcount 2, honoured; nothing newly split -> exit 0.
    code = main(["pci-attach", cfg("split-a"), "00:1d.0,rdm_policy=relaxed", "-n", *HOST,
                 "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and not doc["group_partial"]
    assert doc["assignment"]["rmrrs"][0]["action"] == "counted"
