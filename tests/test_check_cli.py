"""`xlrmrr check` end to end through the command line, on the guest configs of
fixtures/guests/check/ against one host (host.dmar + host.json) whose two EHCI controllers
00:1a.0 and 00:1d.0 share the USB RMRR [0xba8d8000, 0xba8f7fff]; the IGD 00:02.0 has
[0xad000000, 0xaf7fffff] and the xHCI 00:14.0 [0xe8000, 0xebfff].

Expected verdicts, by hand (vtd/iommu.c:intel_iommu_assign_device, libxl_dm.c:
libxl__domain_device_construct_rdm):
  usb-pair  both EHCI relaxed: U above 2 GiB -> lowmem_end 0xba800000, U mapped 1:1 once,
            refcount 2; the whole group is in one guest -> ok ("risky" is harmless)
  igd       strict: G above 2 GiB -> lowmem_end 0xad000000, G mapped 1:1 -> ok
  xhci      relaxed: L = 0xe8000 is below 1 MiB, always guest RAM -> "Ignoring RDM conflict",
            Xen leaves the 4 pages as RAM -> degraded (exit 3)
  nic       no RMRR -> ok
  split-a/b one EHCI each, relaxed -> each alone degraded (partner in dom0); together the group
            is split across guests -> exit 1
  igd-again the IGD a second time -> with igd: the device is in two configs -> exit 1
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import FIXTURES, REPO, bounds

from xlrmrr.cli import main

F = FIXTURES / "guests" / "check"
HOST = ["--dmar", str(F / "host.dmar"), "--host-json", str(F / "host.json"),
        "--xen-version", "4.22"]


def cfgs(*names):
    return [str(F / f"{n}.cfg") for n in names]


def run(capsys, *names, json_out=False):
    code = main(["check", *cfgs(*names), *HOST] + (["--json"] if json_out else []))
    return code, capsys.readouterr().out


def test_whole_groups_are_fine(capsys):
    code, out = run(capsys, "usb-pair", "igd", "nic")
    assert code == 0
    assert "Verdict: fine (exit status 0)" in out
    assert "wholly inside" in out and "safe" in out
    assert "(XEN) [VT-D] It's risky to assign 0000:00:1a.0 with shared RMRR at ba8d8000 for d1." in out


def test_relaxed_rmrr_in_ram_is_degraded(capsys):
    code, out = run(capsys, "usb-pair", "igd", "nic", "xhci")
    assert code == 3
    table = out.split("Summary", 1)[1].split("\n\n", 1)[0].splitlines()
    assert table[1].split() == ["guest", "0000:00:02.0", "0000:00:14.0", "0000:00:1a.0",
                                "0000:00:1d.0", "0000:03:00.0"]
    row = next(line.split() for line in table if line.strip().startswith(str(F / "xhci.cfg")))
    assert row[1:] == ["-", "relaxed", "-", "-", "-"]


def test_five_guests_split_group_json(capsys):
    code, out = run(capsys, "igd", "xhci", "nic", "split-a", "split-b", json_out=True)
    assert code == 1
    doc = json.loads(out)
    assert doc["exit_status"] == 1 and doc["xen_version"] == "4.22"
    assert doc["split_groups"] == [["0000:00:1a.0", "0000:00:1d.0"]]
    assert doc["duplicates"] == []
    assert [g["verdict"] for g in doc["guests"]] == ["ok", "degraded", "ok", "degraded", "degraded"]
    # split-a maps the range 1:1 but is degraded because 00:1d.0, the other member of its
    # sharing group, is elsewhere: the cell says "split", not "1:1" (issue 11 item 2)
    assert doc["guests"][3]["devices"]["0000:00:1a.0"] == "split"
    assert doc["guests"][4]["devices"]["0000:00:1d.0"] == "split"
    (shared,) = doc["shared_ranges"]
    assert bounds(shared) == (0xBA8D8000, 0xBA8F7FFF)
    assert shared == {"start": 0xBA8D8000, "size": 0x20000, "guests": cfgs("split-a", "split-b")}
    codes = {f["code"] for f in doc["findings"]}
    assert "group-split" in codes and "device-twice" not in codes


def test_seven_guests_text(capsys):
    code, out = run(capsys, "usb-pair", "igd", "xhci", "nic", "split-a", "split-b", "igd-again")
    assert code == 1
    assert "\n  error   [libxl] 0000:00:02.0 is in the pci= list of" in out
    assert "PCI device already attached to a domain" in out
    assert ("\n  error   [xen] RMRR sharing group {0000:00:1a.0, 0000:00:1d.0} ([0xba8d8000, "
            "0xba8f7fff]) is split across guests") in out
    # guests are numbered d1, d2 ... in the order given, as if started in that order
    assert "(XEN) [VT-D] It's risky to assign 0000:00:1d.0 with shared RMRR at ba8d8000 for d6." in out
    assert "Verdict: FAILS (exit status 1)" in out


def test_output_is_deterministic(capsys):
    a = run(capsys, "usb-pair", "split-a", "xhci", json_out=True)
    b = run(capsys, "usb-pair", "split-a", "xhci", json_out=True)
    assert a == b


def test_missing_config_is_input_error(capsys):
    code = main(["check", str(F / "nope.cfg"), *HOST])
    assert code == 2
    assert "nope.cfg" in capsys.readouterr().err


def test_subprocess_end_to_end():
    r = subprocess.run([sys.executable, "-m", "xlrmrr", "check", *cfgs("usb-pair", "igd"), *HOST],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("xlrmrr check: 2 guest(s) on one host, Xen 4.22")


def test_host_fixture_is_built_from_its_source():
    from xlrmrr.acpi.dmar import build, from_json
    src = json.loads((F / "host.dmar.json").read_text())
    assert (F / "host.dmar").read_bytes() == build(from_json(src))


def _shared_corpus_tables(corpus, limit=12):
    from xlrmrr.common import XenVersion
    from xlrmrr.host.load import load_host
    out = []
    for path in sorted((corpus / "dmar").glob("*.bin")):
        try:
            host = load_host(dmar=path.read_bytes(), xen_version=XenVersion(4, 22),
                             dmar_name=str(path))
        except Exception:
            continue
        groups = [r for r in host.rmrrs if r.shared and len(set(r.devices)) >= 2]
        if groups:
            out.append((path, host, groups[0]))
        if len(out) == limit:
            break
    return out


def test_real_tables_with_shared_rmrrs(corpus, tmp_path, capsys):
    # For real DMAR tables whose RMRR is shared by two or more devices: a 1 GiB guest
    # (lowmem_end = 1024 - 8 MiB videoram = 0x3f800000) taking the whole group relaxed has every
    # RMRR in its MMIO hole unless one lies below 0x3f800000 or on the special pages
    # 0xfeff0000-0xff000000 -> exit 0 (else 3); the same devices split over one guest each ->
    # exit 1; the whole group strict -> -EPERM -> exit 1.
    tables = _shared_corpus_tables(corpus)
    assert len(tables) >= 10
    for path, host, shared in tables:
        members = sorted(set(shared.devices))
        rmrrs = [r for r in host.rmrrs if any(d in r.devices for d in members)]
        honoured = all(r.base >= 0x3F800000 and not (r.base < 0xFF000000 and r.end >= 0xFEFF0000)
                       for r in rmrrs)

        def cfg(name, devs, policy, memory=1024):
            f = tmp_path / f"{name}.cfg"
            pci = ", ".join(f"'{d},rdm_policy={policy}'" for d in devs)
            f.write_text(f'name = "{name}"\ntype = "hvm"\nmemory = {memory}\npci = [ {pci} ]\n')
            return str(f)

        args = ["--dmar", str(path), "--xen-version", "4.22"]
        whole = main(["check", cfg("whole", members, "relaxed"), *args])
        assert whole == (0 if honoured else 3), path
        split = main(["check", *(cfg(f"g{i}", [d], "relaxed") for i, d in enumerate(members)),
                      *args])
        assert split == 1, path
        assert main(["check", cfg("strict", members, "strict"), *args]) == 1, path
        # 4 GiB guest: an RMRR above rdm_mem_boundary (2 GiB) moves lowmem_end below it and is
        # honoured; one at or below it stays under guest RAM (relaxed: dropped) -> exit 3.
        above = all(0x80000000 < r.base < 0xF0000000 for r in rmrrs)
        assert main(["check", cfg("big", members, "relaxed", 4096), *args]) == (0 if above else 3), path
    capsys.readouterr()


def test_guest_that_does_not_start_fails_the_check(tmp_path, capsys):
    # rdm_mem_boundary = 4096 keeps libxl from moving lowmem_end (0xf0000000 for 4 GiB) below
    # the IGD's 0xad000000: strict -> "RDM conflict at 0xad000000." -> the create fails before
    # any assignment: the table says "no start", exit 1.
    f = tmp_path / "igd-low.cfg"
    f.write_text('name = "igd-low"\ntype = "hvm"\nmemory = 4096\nrdm_mem_boundary = 4096\n'
                 "pci = [ '00:02.0' ]\n")
    code = main(["check", str(f), *cfgs("nic"), *HOST, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["guests"][0]["verdict"] == "blocked"
    assert doc["guests"][0]["devices"]["0000:00:02.0"] == "no start"
    assert doc["guests"][0]["hypervisor"] is None
    assert any(f["message"] == "RDM conflict at 0xad000000." for f in doc["guests"][0]["findings"])


def _guest_findings(doc, config, code):
    g = next(g for g in doc["guests"] if g["config"] == config)
    return ([f["message"] for f in g["findings"] if f["code"] == code],
            [f["message"] for f in g["hypervisor"]["findings"] if f["code"] == code])


def test_guest_group_findings_name_the_known_placement(capsys):
    # split-a takes 00:1a.0, split-b takes 00:1d.0: each guest's group-partial finding names the
    # guest that has the partner instead of "stay(s) in dom0 (or go to another guest)", in the
    # guest's findings and in its hypervisor section alike.
    code, out = run(capsys, "split-a", "split-b", json_out=True)
    assert code == 1
    doc = json.loads(out)
    a_text, a_hv = _guest_findings(doc, cfgs("split-a")[0], "group-partial")
    assert a_text == a_hv and len(a_text) == 1
    assert f"while 0000:00:1d.0 goes to {cfgs('split-b')[0]}." in a_text[0]
    assert "(a path between guests: see the host-wide error on this split group)" in a_text[0]
    assert "or go to another guest" not in out


def test_partner_left_in_dom0_is_named_as_such(capsys):
    code, out = run(capsys, "split-a", "nic", json_out=True)
    assert code == 3
    (msg,), _ = _guest_findings(json.loads(out), cfgs("split-a")[0], "group-partial")
    assert "while 0000:00:1d.0 stays in dom0." in msg and "between guests" not in msg


def test_whole_group_is_not_called_safe_when_another_guest_shares_it(capsys):
    # usb-pair has both EHCI relaxed (whole group: "safe" on its own), but split-a takes 00:1a.0
    # too: the host-level finding is group-split, and usb-pair's own finding must not keep
    # saying "no other guest uses the range ... safe".
    code, out = run(capsys, "usb-pair", "split-a", json_out=True)
    assert code == 1
    doc = json.loads(out)
    assert {f["code"] for f in doc["findings"]} >= {"group-split", "device-twice"}
    safe, safe_hv = _guest_findings(doc, cfgs("usb-pair")[0], "group-whole")
    assert safe == [] and safe_hv == []
    (msg,), _ = _guest_findings(doc, cfgs("usb-pair")[0], "group-whole-shared")
    assert f"0000:00:1a.0 is also in {cfgs('split-a')[0]}" in msg and "NOT safe" in msg
    # alone, the same guest's group is whole and safe
    code, out = run(capsys, "usb-pair", json_out=True)
    (msg,), _ = _guest_findings(json.loads(out), cfgs("usb-pair")[0], "group-whole")
    assert code == 0 and "so this is safe" in msg


def _host_json_recording(tmp_path, release):
    """fixtures/hosts/laptop-bad-e820.json (no release recorded) with xen_version added."""
    doc = json.loads((FIXTURES / "hosts/laptop-bad-e820.json").read_text())
    doc["xen_version"] = release
    path = tmp_path / "host.json"
    path.write_text(json.dumps(doc))
    return ["--dmar", str(FIXTURES / "dmar/bug-rmrr-over-ram.bin"), "--host-json", str(path)]


def test_check_models_the_release_the_host_data_records(tmp_path, capsys):
    # bug-rmrr-over-ram: the IGD RMRR [0xad000000, 0xaf7fffff] covers E820 RAM [0xad000000,
    # 0xad500000). Xen 4.19+ rejects the DMAR and runs without VT-d (iommu_unity_region_ok,
    # e45801dea1): igd-passthrough cannot start, exit 1. Xen 4.17 only warns: the guest starts with
    # the RMRR relocated around, exit 0. Host data recording 4.17 and no --xen-version: 4.17 is
    # modelled (as create does), and an info finding says so.
    host = _host_json_recording(tmp_path, "4.17")
    igd = str(FIXTURES / "guests/igd-passthrough.cfg")
    code = main(["check", igd, *host, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["xen_version"] == "4.17"
    assert [f["code"] for f in doc["findings"]][0] == "xen-version-from-host"
    code = main(["check", igd, *host, "--json", "--xen-version", "4.22"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["xen_version"] == "4.22"
    assert "xen-version-from-host" not in [f["code"] for f in doc["findings"]]
    main(["check", igd, *host])
    out = capsys.readouterr().out
    assert out.startswith("xlrmrr check: 1 guest(s) on one host, Xen 4.17: fine: every guest can "
                          "be created and every assigned device gets all its RMRRs (exit 0)\n")
    # create's form: severity padded to 7, [component], message (the code only in --json)
    assert "\n  info    [xen] modelling Xen 4.17, the release the host data" in out
    assert "INFO [" not in out and "xen-version-from-host:" not in out


def test_a_config_xl_refuses_is_bad_input_for_check_and_pci_attach(tmp_path, capsys):
    # pci=["00:14"]: libxlu's parse_bdf finds no ".func" and xl exits with status 6 ("unable to
    # parse PCI_SPEC_STRING"), so no guest exists to check or attach to: bad input, exit 2, one
    # stderr line naming FILE:LINE, as create says it.
    bad = tmp_path / "bad.cfg"
    bad.write_text('name = "bad"\ntype = "hvm"\nmemory = 1024\npci = [ "00:14" ]\n')
    fx = FIXTURES
    host = ["--dmar", str(fx / "dmar/laptop-typical.bin"), "--host-json", str(fx / "hosts/laptop.json")]
    for argv in (["check", str(bad), str(fx / "guests/small.cfg"), *host],
                 ["pci-attach", str(bad), "00:14.0", "--dry-run", *host],
                 ["create", str(bad), "--dry-run", *host]):
        assert main(argv) == 2, argv[0]
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{bad}:4: xl refuses this config: unable to parse " \
            "PCI_SPEC_STRING `00:14'" in err, err


def test_a_device_in_two_guests_is_not_1to1_in_the_summary(capsys):
    """igd.cfg and igd-again.cfg both pass 00:02.0: each plans 1:1 alone, but only the guest
    xl starts first gets the device (libxl refuses a device already assigned to a domain), so
    neither cell may say 1:1; nic.cfg's 03:00.0 is in one guest only and stays 1:1."""
    import json

    code, out = run(capsys, "igd", "igd-again", "nic")
    assert code == 1
    table = out.split("Summary", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "twice = also in another guest's pci= list" in table[0]
    rows = {line.split()[0]: line.split()[1:] for line in table[2:]}
    assert rows[str(F / "igd.cfg")] == ["twice", "-"]
    assert rows[str(F / "igd-again.cfg")] == ["twice", "-"]
    assert rows[str(F / "nic.cfg")] == ["-", "1:1"]
    code, out = run(capsys, "igd", "igd-again", "nic", json_out=True)
    cells = {g["guest"]: g["devices"] for g in json.loads(out)["guests"]}
    assert cells["igd"]["0000:00:02.0"] == cells["igd-again"]["0000:00:02.0"] == "twice"
    assert cells["nic"]["0000:03:00.0"] == "1:1"
