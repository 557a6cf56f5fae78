"""Issue 11 item 2: the first line of a report states the real outcome and its real cause, the
verdict and exit status follow what will really happen, a misspelt key is a warning that says
what the guest then gets, and a warning no config can clear on the release is said once.

The expectations are derived by hand from Xen's rules (cited per test) and the fixtures' numbers:
laptop-typical.bin has the IGD's RMRR [0xad000000, 0xaf7fffff] (00:02.0) and the xHCI's
[0xab80a000, 0xab81dfff] (00:14.0); usb-shared.bin lists that xHCI range for 00:14.0, 00:1a.0
and 00:1d.0 (one sharing group).
"""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main

LAPTOP = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]
SHARED = ["--dmar", str(FIXTURES / "dmar/usb-shared.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def write(tmp_path, text, name="g.cfg"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_degraded_names_the_split_group_not_the_policy(capsys, tmp_path):
    # 512 MiB: guest RAM ends at 0x1f800000 (512 - 8 MiB videoram), far below the RMRR, so
    # nothing conflicts and Xen maps it 1:1; but 00:1a.0 and 00:1d.0, which share the RMRR,
    # stay in dom0: xen/drivers/passthrough/vtd/iommu.c:intel_iommu_assign_device only warns
    # ("It's risky") under the relaxed flag. The cause is the split group, not the policy.
    cfg = write(tmp_path, 'name = "s"\ntype = "hvm"\nmemory = 512\n'
                          "pci = [ '00:14.0,rdm_policy=relaxed' ]\n")
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", "--xen-version", "4.17", *SHARED)
    assert rc == 3
    assert out.splitlines()[0] == (
        f"{cfg}: DEGRADED: the guest starts, but the RMRR sharing group of 0000:00:14.0 is "
        f"split: 0000:00:1a.0, 0000:00:1d.0 stay in dom0 or another guest, which keep their 1:1 "
        f"mapping of the same range (exit 3)")
    assert "reserved (outside guest RAM)" in out          # the RMRR itself is honoured


def test_degraded_names_the_dropped_rmrr(capsys):
    # usb-relaxed-boundary: rdm_mem_boundary 4096 MiB is above the initial lowmem_end
    # (0xf0000000), so libxl does not move lowmem_end below the xHCI RMRR; relaxed, the
    # conflict only warns and the entry is dropped (libxl_dm.c: construct_rdm /
    # libxl__domain_device_construct_rdm, "Ignoring RDM conflict").
    cfg = FIXTURES / "guests/usb-relaxed-boundary.cfg"
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", *LAPTOP)
    assert rc == 3
    assert out.splitlines()[0] == (
        f"{cfg}: DEGRADED: the guest starts, but libxl drops the RMRR at 0xab80a000 of "
        f"0000:00:14.0 (policy relaxed): guest RAM stays over it (exit 3)")


def test_blocked_names_the_strict_conflict(capsys):
    # Same layout with the device strict: libxl fails with "RDM conflict at 0xab80a000."
    cfg = FIXTURES / "guests/usb-strict-boundary.cfg"
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", *LAPTOP)
    assert rc == 1
    assert out.splitlines()[0] == (
        f'{cfg}: BLOCKED: creating this guest would fail: libxl: the RMRR at 0xab80a000 (of '
        f'0000:00:14.0; policy strict) overlaps guest RAM: "RDM conflict at 0xab80a000." '
        f'(exit 1)')


def test_blocked_names_the_stage_not_the_first_error(capsys):
    # laptop-bad-e820.json: the IGD RMRR is partly host RAM, a firmware error listed first;
    # Xen then runs without VT-d and libxl refuses passthrough in its setdefault checks
    # (tools/libs/light/libxl_create.c:libxl__domain_config_setdefault, 4.13+). The first line
    # names libxl's refusal, which is what stops the guest.
    cfg = FIXTURES / "guests/usb-strict-boundary.cfg"
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", "--dmar",
                     FIXTURES / "dmar/laptop-typical.bin", "--host-json",
                     FIXTURES / "hosts/laptop-bad-e820.json")
    first = out.splitlines()[0]
    assert rc == 1
    assert first.startswith(f"{cfg}: BLOCKED: creating this guest would fail: libxl: "
                            f"passthrough not supported on this platform")
    assert "firmware" not in first.split("(Xen runs")[0]
    findings = out.split("\nFindings\n")[1]
    assert findings.splitlines()[0].startswith("  error   [firmware]")   # listed first, still


def test_misspelt_key_says_what_the_guest_gets(capsys, tmp_path):
    # `memroy` is not read by tools/xl/xl_parse.c:parse_config_data; without memory= and
    # maxmem=, libxl__domain_build_info_setdefault gives max_memkb = 32 MiB and target =
    # max. mem_size = 32 - 8 MiB videoram = 24 MiB, so lowmem_end is 0x1800000. xl really
    # starts that guest: verdict ok, exit 0, with the warning on the first line.
    cfg = write(tmp_path, 'name = "t"\ntype = "hvm"\nmemroy = 8192\npci = [ \'00:02.0\' ]\n')
    said = ("memroy (line 3) is not an xl key (did you mean memory?): xl ignores it, so the "
            "guest gets the default memory = 32 MiB")
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", *LAPTOP)
    assert rc == 0
    assert out.splitlines()[0] == (f"{cfg}: OK: the guest can be created and every assigned "
                                   f"device gets all its RMRRs (exit 0); but {said}")
    assert f"  warning [xl] {said}" in out
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", "--json", *LAPTOP)
    doc = json.loads(out)
    assert rc == 0 and doc["verdict"] == "ok" and doc["lowmem_end"] == 0x1800000
    assert doc["mem_size"] == 24 << 20
    # the rename is the recommended fix; planned again it gives 8192 - 8 MiB = 0x1ff800000
    # bytes of RAM: lowmem_end moves below the IGD RMRR (above the default 2 GiB
    # rdm_mem_boundary) to 0xad000000, and the rest, 0x152800000, goes above 4 GiB:
    # highmem_end 0x252800000
    fix = next(r for r in doc["remediation"] if r["recommended"])
    assert fix["change"].startswith("memory = 8192")
    assert fix["edits"] == [{"key": "memroy", "value": None, "only_if_set": False},
                            {"key": "memory", "value": "8192", "only_if_set": False}]
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", "--fix", "--write", *LAPTOP)
    assert rc == 0 and "-memroy = 8192\n+memory = 8192\n" in out
    new = cfg.with_name("g.cfg.new")
    assert new.read_text() == 'name = "t"\ntype = "hvm"\nmemory = 8192\npci = [ \'00:02.0\' ]\n'
    rc, out, _ = run(capsys, "create", new, "--dry-run", "--json", *LAPTOP)
    doc = json.loads(out)
    assert (doc["lowmem_end"], doc["highmem_end"]) == (0xad000000, 0x252800000)
    assert not [f for f in doc["findings"] if f["code"] == "key-typo"]


def test_misspelt_key_in_cfg_and_what_it_leaves(capsys, tmp_path):
    # maxmem = 4096 set, memory misspelt: xl sets only max_memkb, libxl's setdefault makes the
    # target equal to it, so the guest gets 4096 MiB; the key meant also set: it applies.
    cfg = write(tmp_path, 'name = "t"\nmaxmem = 4096\nmemmory = 2048\n')
    rc, out, _ = run(capsys, "cfg", cfg)
    assert rc == 0
    assert ("  warning [key-typo] memmory (line 3) is not an xl key (did you mean memory?): xl "
            "ignores it, so the guest gets memory = maxmem = 4096 MiB") in out
    cfg = write(tmp_path, 'name = "t"\nmemory = 1024\nmemroy = 2048\nfrobnicate = 1\n')
    rc, out, _ = run(capsys, "cfg", cfg)
    assert "  info    [key-typo] memroy (line 3) is not an xl key (did you mean memory?): xl " \
           "ignores it, and memory as set on line 2 applies" in out
    assert "  info    [unknown-key] frobnicate (line 4) is not a key xl reads" in out


@pytest.mark.parametrize("name, meant", [
    ("memroy", "memory"), ("memmory", "memory"), ("vcpu", "vcpus"), ("pcis", "pci"),
    ("rdm_mem_boundry", "rdm_mem_boundary"), ("mmiohole", "mmio_hole"),
    ("device_modle", "device_model"),
    ("boot_order", None),     # ratio 0.8 to bootloader, but two edits: another word
    ("parallel", None), ("hostname", None), ("maxmemory", None), ("frobnicate", None),
])
def test_near_key(name, meant):
    from xlrmrr.xlcfg.keys import near_key

    assert near_key(name) == meant


POLICY_UNSET_4_17 = ('name = "u"\ntype = "hvm"\nmemory = 8192\nrdm_mem_boundary = {boundary}\n'
                     'rdm = "strategy=host"\npci = [ \'{dev},rdm_policy=strict\' ]\n')


def _policy_findings(out):
    return [line for line in out.split("\nFindings\n")[1].split("\n\n")[0].splitlines()
            if "uninitialised" in line]


def test_warning_no_config_can_clear_is_said_once(capsys, tmp_path):
    # Following the 4.15+ advice (rdm = "strategy=host", rdm_policy= on each pci= entry)
    # leaves the global policy uninitialised: xl drops an rdm= line with a valid policy=
    # (tools/libs/util/libxlu_pci.c:xlu_rdm_parse, 4.15+), so nothing can set it. With
    # rdm_mem_boundary 2744 MiB (0xab800000) both RMRRs lie above it and libxl moves
    # lowmem_end below them: no conflict under any reading, the verdict is ok whatever the
    # stack held, so it is said once, as information: the best this release allows.
    cfg = write(tmp_path, POLICY_UNSET_4_17.format(boundary=2744, dev="00:14.0"))
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", "--xen-version", "4.17", *LAPTOP)
    assert rc == 0 and "uninitialised" not in out      # a note: only --verbose prints it
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", "--xen-version", "4.17", *LAPTOP,
                     "--verbose")
    said = _policy_findings(out)
    assert rc == 0 and len(said) == 1
    assert "uninitialised" not in out.splitlines()[0]       # every reading: ok
    assert said[0].startswith('  info    [xl] rdm = "strategy=host" with no policy is the best '
                              'Xen 4.17 allows')
    assert said[0].endswith("ok: the same whatever value xl reads, so nothing needs changing")


def test_unclearable_warning_that_decides_the_verdict(capsys, tmp_path):
    # rdm_mem_boundary 2760 MiB (0xac800000): the IGD RMRR above it moves lowmem_end below
    # 0xad000000; the xHCI RMRR (0xab80a000, below the boundary, no device of this guest) is
    # then under guest RAM with the global policy: strict fails ("RDM conflict"), relaxed
    # drops it (ok), any other value only warns (ok). Still said once, but a warning.
    cfg = write(tmp_path, POLICY_UNSET_4_17.format(boundary=2760, dev="00:02.0"))
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", "--xen-version", "4.17", *LAPTOP)
    said = _policy_findings(out)
    assert rc == 1 and len(said) == 1
    assert said[0].startswith('  warning [xl] rdm = "strategy=host" with no policy is the best '
                              'Xen 4.17 allows')
    assert "the verdict is blocked; as 1 (relaxed) ok; as any other value" in said[0]
    assert "Modelled: the worst, strict" in said[0]
    # the first line says the verdict rests on that reading ("policy strict" is not the file's)
    assert out.splitlines()[0] == (
        f'{cfg}: BLOCKED: creating this guest would fail: libxl: the RMRR at 0xab80a000 (of '
        f'0000:00:14.0, which this guest does not have; policy strict) overlaps guest RAM: "RDM '
        f'conflict at 0xab80a000." (exit 1); but xl leaves the RDM policy uninitialised, so this '
        f'is its worst reading (as strict: blocked, relaxed: ok, any other value: ok; see the '
        f'findings)')


def test_clearable_warning_keeps_the_advice(capsys, tmp_path):
    # On 4.14 a policy can still be written in rdm=: the warning says how, once.
    cfg = write(tmp_path, POLICY_UNSET_4_17.format(boundary=2744, dev="00:14.0"))
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", "--xen-version", "4.14", *LAPTOP)
    said = _policy_findings(out)
    assert len(said) == 1 and said[0].startswith("  warning [xl] rdm= has no valid policy=")
    assert said[0].endswith('write it: rdm = "strategy=host,policy=strict" (or policy=relaxed)')


def test_check_summary_never_says_1to1_for_a_degraded_guest(capsys):
    # fixtures/guests/check: split-a takes 00:1a.0, split-b 00:1d.0 of one sharing group.
    d = FIXTURES / "guests/check"
    rc, out, _ = run(capsys, "check", d / "split-a.cfg", d / "split-b.cfg",
                     "--dmar", d / "host.dmar", "--host-json", d / "host.json")
    assert rc == 1
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.startswith("  ") and line.split()[0].endswith(".cfg")}
    assert rows[str(d / "split-a.cfg")] == ["split", "-"]
    assert rows[str(d / "split-b.cfg")] == ["-", "split"]
    assert "; split = 1:1 here, but its RMRR sharing group is split" in out
    assert f"  {d / 'split-a.cfg'} (split-a): degraded: the RMRR sharing group of 0000:00:1a.0 " \
           f"is split" in out


CHECK = FIXTURES / "guests/check"
CHECK_HOST = ["--dmar", CHECK / "host.dmar", "--host-json", CHECK / "host.json"]


def test_check_first_line_states_the_outcome_and_its_cause(capsys):
    # All seven guests of fixtures/guests/check: none is blocked alone; 00:02.0 is in igd-again
    # and igd, 00:1a.0 in split-a and usb-pair, 00:1d.0 in split-b and usb-pair (3 devices
    # twice, the lowest SBDF first), the EHCI group is split across guests (1), its RMRR and the
    # IGD's are identity-mapped into two guests each (2), split-a, split-b and xhci are degraded
    # (3): 9 problems, the first named, exit 1 (hostcheck.check_guests).
    labels = sorted(str(p) for p in CHECK.glob("*.cfg"))
    rc, out, _ = run(capsys, "check", *labels, *CHECK_HOST)
    assert rc == 1
    assert out.splitlines()[0] == (
        f"xlrmrr check: 7 guest(s) on one host, Xen 4.22: FAILS: 0000:00:02.0 is in the pci= "
        f"list of {CHECK / 'igd-again.cfg'}, {CHECK / 'igd.cfg'}: whichever guest starts second "
        f"fails (and 8 more problems: see below) (exit 1)")
    # a guest that plans ok alone is not just "ok" when another guest takes its device
    assert (f"  {CHECK / 'igd.cfg'} (igd): ok by itself; but 0000:00:02.0 is also in the pci= "
            f"list of {CHECK / 'igd-again.cfg'} (whichever guest starts second fails)") in out
    assert f"  {CHECK / 'nic.cfg'} (nic): ok\n" in out
    assert out.rstrip().endswith("Verdict: FAILS (exit status 1)")


def test_check_first_line_names_a_blocked_guest(capsys):
    # usb-strict-boundary fails alone on laptop-typical (libxl's strict RDM conflict, as
    # test_blocked_names_the_strict_conflict derives); the IGD guest is fine.
    strict, igd = FIXTURES / "guests/usb-strict-boundary.cfg", FIXTURES / "guests/igd-passthrough.cfg"
    rc, out, _ = run(capsys, "check", strict, igd, *LAPTOP)
    cause = ('libxl: the RMRR at 0xab80a000 (of 0000:00:14.0; policy strict) overlaps guest '
             'RAM: "RDM conflict at 0xab80a000."')
    assert rc == 1
    assert out.splitlines()[0] == (f"xlrmrr check: 2 guest(s) on one host, Xen 4.17: FAILS: "
                                   f"{strict} cannot be created: {cause} (exit 1)")
    assert f"  {strict} (usb-strict): blocked: {cause}\n" in out


def test_check_first_line_degraded_and_fine(capsys):
    # xhci: 00:14.0 relaxed, its RMRR [0xe8000, 0xebfff] under guest RAM below 1 MiB: libxl
    # drops it (degraded, exit 3); igd and usb-pair alone: every RMRR 1:1, exit 0.
    rc, out, _ = run(capsys, "check", CHECK / "xhci.cfg", CHECK / "igd.cfg", *CHECK_HOST)
    assert rc == 3
    assert out.splitlines()[0] == (
        f"xlrmrr check: 2 guest(s) on one host, Xen 4.22: DEGRADED: {CHECK / 'xhci.cfg'} starts, "
        f"but libxl drops the RMRR at 0xe8000 of 0000:00:14.0 (policy relaxed): guest RAM stays "
        f"over it (exit 3)")
    rc, out, _ = run(capsys, "check", CHECK / "usb-pair.cfg", CHECK / "igd.cfg", *CHECK_HOST)
    assert rc == 0
    assert out.splitlines()[0] == (
        "xlrmrr check: 2 guest(s) on one host, Xen 4.22: fine: every guest can be created and "
        "every assigned device gets all its RMRRs (exit 0)")


def test_pci_attach_first_line_states_the_outcome_and_its_cause(capsys):
    # small (512 MiB: guest RAM ends at 0x1f800000) on laptop-typical: the IGD's RMRR
    # [0xad000000, 0xaf7fffff] lies in the hole, clear of RAM and BARs, so the hot-plugged IGD
    # gets it 1:1 (strict): OK, exit 0.
    small = FIXTURES / "guests/small.cfg"
    rc, out, _ = run(capsys, "pci-attach", small, "00:02.0", "-n", *LAPTOP, "--xen-version", "4.22")
    assert rc == 0
    assert out.splitlines()[0] == ("xlrmrr pci-attach: 0000:00:02.0 into small (Xen 4.22, "
                                   "rdm_policy strict): OK: `xl pci-attach` succeeds and every "
                                   "RMRR is identity-mapped (exit 0)")
    # host-strategy on usb-shared: 00:14.0 shares its RMRR with 00:1a.0 and 00:1d.0, which
    # stay in dom0; strict, Xen refuses the assignment (vtd/iommu.c:intel_iommu_assign_device:
    # "It's disallowed to assign ... with shared RMRR"), so the attach fails: exit 1, and the
    # first line says Xen's refusal, not only "FAILS" as the last line does.
    hostwide = FIXTURES / "guests/host-strategy.cfg"
    rc, out, _ = run(capsys, "pci-attach", hostwide, "00:14.0", "-n", *SHARED,
                     "--xen-version", "4.22")
    assert rc == 1
    assert out.splitlines()[0] == (
        "xlrmrr pci-attach: 0000:00:14.0 into hostwide (Xen 4.22, rdm_policy strict): FAILS: xen: "
        "0000:00:14.0: [VT-D] It's disallowed to assign 0000:00:14.0 with shared RMRR at "
        "ab80a000 for d1. (exit 1)")
    assert out.rstrip().endswith("Verdict: `xl pci-attach` FAILS")


def test_cfg_first_line_says_what_xl_accepts_but_does_not_do(capsys, tmp_path):
    # xl accepts both files (exit 0), but the first line must not stop there: `memroy` is not
    # read (xl_parse.c:parse_config_data), so the guest gets libxl's default 32 MiB; and from
    # 4.15 xlu_rdm_parse (tools/libs/util/libxlu_pci.c) drops an rdm= line with a valid
    # policy= (host-strategy.cfg line 7), so strategy=host is lost. A clean file keeps the
    # plain first line.
    cfg = write(tmp_path, 'name = "t"\ntype = "hvm"\nmemroy = 8192\n')
    rc, out, _ = run(capsys, "cfg", cfg)
    assert rc == 0
    assert out.splitlines()[0] == (f"{cfg}: xl accepts this file (3 settings); but memroy (line "
                                   f"3) is not an xl key (did you mean memory?): xl ignores it, "
                                   f"so the guest gets the default memory = 32 MiB")
    host = FIXTURES / "guests/host-strategy.cfg"
    rc, out, _ = run(capsys, "cfg", host, "--xen-version", "4.17")
    assert rc == 0
    assert out.splitlines()[0] == (
        f"{host}: xl accepts this file (4 settings); but rdm = \"strategy=host,policy=relaxed\" "
        f"(line 7) is ignored by xl: Xen 4.17's xlu_rdm_parse treats a valid `policy=' as a "
        f"failure (a bug since 4.15, commit bdc0799fe2), so any rdm= with a policy is dropped")
    rc, out, _ = run(capsys, "cfg", host, "--xen-version", "4.14")
    assert out.splitlines()[0] == f"{host}: xl accepts this file (4 settings)"


def test_host_first_line_states_the_outcome(capsys, tmp_path):
    # bug-rmrr-overlap: two RMRRs overlap; Xen's DMAR parser (drivers/passthrough/vtd/dmar.c:
    # acpi_parse_one_rmrr, "Overlapping RMRRs") fails the table and runs without VT-d: exit 1.
    d = FIXTURES / "dmar/bug-rmrr-overlap.bin"
    rc, out, _ = run(capsys, "host", "--dmar", d, "--xen-version", "4.22")
    assert rc == 1
    assert out.splitlines()[0] == (
        f'host: {d}; modelling Xen 4.22: VT-d DISABLED: Xen rejects the whole DMAR: "Overlapping '
        f'RMRRs [ab80a000,ab81dfff] and [ab81d000,ab82ffff]"; no device can be passed through '
        f'(exit 1)')
    # usb-shared: the IGD's RMRR and the xHCI's, which 00:1a.0 and 00:1d.0 share: one group
    d = FIXTURES / "dmar/usb-shared.bin"
    rc, out, _ = run(capsys, "host", "--dmar", d, "--xen-version", "4.22")
    assert rc == 0
    assert out.splitlines()[0] == (f"host: {d}; modelling Xen 4.22: VT-d enabled, 2 RMRRs, 1 "
                                   f"sharing group (each assigned whole or not at all) (exit 0)")
    # a boot log that prints the Xen version but no RMRR line: the RMRRs are unknown, not none
    log = tmp_path / "boot.log"
    log.write_text("(XEN) Xen version 4.17.3 (x@y) (gcc) debug=n\n"
                   "(XEN) Intel VT-d iommu 0 supported page sizes: 4kB, 2MB, 1GB\n")
    rc, out, _ = run(capsys, "host", "--xen-log", log)
    assert out.splitlines()[0] == (
        f"host: {log}; modelling Xen 4.17.3 (host data recorded on Xen 4.17.3): VT-d enabled; the "
        f"host's RMRRs are UNKNOWN ({log}: no RMRR line), so none is listed below (exit 0)")


def test_blocked_by_a_shared_rmrr_says_why_in_words(capsys):
    # small (512 MiB, pci 00:14.0, no rdm_policy: strict) on usb-shared: guest RAM ends far below
    # the xHCI range, so libxl builds the guest; Xen then refuses the device because the
    # RMRR's scope lists 3 devices (devices_cnt > 1; xen/drivers/passthrough/vtd/iommu.c:
    # intel_iommu_assign_device), whichever of them the guest gets, unless relaxed.
    cfg = FIXTURES / "guests/small.cfg"
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", *SHARED, "--xen-version", "4.17")
    assert rc == 1
    assert out.splitlines()[0] == (
        f"{cfg}: BLOCKED: creating this guest would fail: xen: the RMRR [0xab80a000, 0xab81dfff] "
        f"of 0000:00:14.0 is shared with 0000:00:1a.0, 0000:00:1d.0, and Xen assigns a device "
        f"whose RMRR is shared only with rdm_policy=relaxed (this one is strict): \"[VT-D] It's "
        f"disallowed to assign 0000:00:14.0 with shared RMRR at ab80a000 for d1.\" (exit 1)")


@pytest.mark.parametrize("log, says", [
    # libxl's strict conflict (libxl_dm.c:libxl__domain_device_construct_rdm), its file:line
    # prefix left out
    ("xl-create-rdm-conflict-4.22.log", "the log shows a failure: [1] libxl: RDM conflict at "
                                        "0xab80a000. (exit 1)"),
    # Xen's DMAR parser refusing overlapping RMRRs, its "(XEN)" prefix left out
    ("boot-dmar-overlap-4.16.log", "the log shows Xen disabling VT-d: [1] xen: [VT-D]Overlapping "
                                   "RMRRs [ab80a000,ab81dfff] and [ab81d000,ab82ffff] (exit 1)"),
    # a dmesg timestamp before "(XEN)"
    ("dmesg-shared-rmrr-4.17.log", "the log shows a failure: [1] xen: [VT-D] It's disallowed to "
                                   "assign 0000:00:1a.0 with shared RMRR at ab80a000 for d2. "
                                   "(exit 1)"),
    ("boot-rmrr-not-reserved-4.19.log", "the log shows nothing failing (exit 0)"),
])
def test_explain_first_line_names_the_message_that_decides(capsys, log, says):
    rc, out, _ = run(capsys, "explain", FIXTURES / "logs" / log)
    assert out.splitlines()[0].endswith(f" lines; {says}")


def test_dmar_first_line_counts_the_firmware_findings(capsys):
    # bug-rmrr-overlap: one error (the overlapping RMRRs: Xen disables VT-d); laptop-typical is
    # clean; odd-fields has an ANDD namespace device in no DRHD's scope (a note).
    for name, said in (("bug-rmrr-overlap", "firmware findings: 1 error (listed below)"),
                       ("laptop-typical", "no firmware finding"),
                       ("odd-fields", "firmware findings: 1 note (listed below)")):
        rc, out, _ = run(capsys, "dmar", FIXTURES / f"dmar/{name}.bin")
        first = out.splitlines()[0]
        assert rc == 0 and first.endswith(f" (valid); {said}"), first
        assert first.startswith(f"DMAR table {FIXTURES / f'dmar/{name}.bin'}: ")


def test_host_diff_first_line_states_the_outcome(capsys):
    # laptop-typical -> usb-shared: the xHCI RMRR's scope gains 00:1a.0 and 00:1d.0 (1), a
    # sharing group appears (1), and small (00:14.0, strict) goes ok -> blocked on B (1): three
    # differences, one of them a guest's verdict, exit 1; a table against itself: none, exit 0.
    a, b = FIXTURES / "dmar/laptop-typical.bin", FIXTURES / "dmar/usb-shared.bin"
    rc, out, _ = run(capsys, "host", "diff", a, b, "--xen-version", "4.22",
                     "--cfg", FIXTURES / "guests/small.cfg")
    assert rc == 1
    assert out.splitlines()[0] == (f"A: {a} (DMAR table); B: {b} (DMAR table); modelling Xen "
                                   f"4.22: 3 differences, 1 guest changing verdict (exit 1)")
    rc, out, _ = run(capsys, "host", "diff", a, a, "--xen-version", "4.22")
    assert rc == 0
    assert out.splitlines()[0] == (f"A: {a} (DMAR table); B: {a} (DMAR table); modelling Xen "
                                   f"4.22: no difference (exit 0)")
