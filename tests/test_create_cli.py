"""`xlrmrr create` end to end: fixtures/guests/*.cfg on the laptop host (fixtures/dmar/laptop-typical
with fixtures/hosts/laptop.json), text, JSON, --emit, exit statuses, running a fake `xl`."""

import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest
from conftest import FIXTURES, REPO, need, row_for

from xlrmrr.cli import main
from xlrmrr.payloads import parse_e820, parse_hvm_info

HOST = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
        "--host-json", str(FIXTURES / "hosts/laptop.json")]


def guest(name):
    return str(FIXTURES / "guests" / name)


def create(capsys, *args):
    rc = main(["create", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("cfg,rc,verdict", [
    ("igd-passthrough.cfg", 0, "ok"),
    ("usb-strict-boundary.cfg", 1, "blocked"),
    ("usb-relaxed-boundary.cfg", 3, "degraded"),
    ("host-strategy.cfg", 0, "ok"),
    ("small.cfg", 0, "ok"),
    ("forcecheck.cfg", 1, "blocked"),
    ("mmio-hole.cfg", 0, "ok"),
])
def test_fixture_verdicts(capsys, cfg, rc, verdict):
    got, out, _err = create(capsys, guest(cfg), "--dry-run", "--json", *HOST)
    assert got == rc
    assert json.loads(out)["verdict"] == verdict


def test_json_contract_and_exact_libxl_message(capsys):
    rc, out, _ = create(capsys, guest("usb-strict-boundary.cfg"), "--dry-run", "--json", *HOST)
    j = json.loads(out)
    for key in ("xen_version", "verdict", "lowmem_end", "highmem_end", "mmio_start", "rdms", "memory_map",
                "hvm_info", "populate_physmap", "e820", "findings", "remediation"):
        assert key in j
    assert j["xen_version"] == "4.17"       # no --xen-version: the release hosts/laptop.json records
    assert j["rdms"] == [{**j["rdms"][0], "start": 0xAB80A000, "size": 0x14000, "policy": "strict",
                          "devices": ["0000:00:14.0"], "exposed": True}]
    msgs = [f["message"] for f in j["findings"] if f["component"] == "libxl"]
    assert "RDM conflict at 0xab80a000." in msgs
    assert all(set(f) == {"severity", "code", "component", "message"} for f in j["findings"])
    assert any(r["verified"] and r["change"].startswith("rdm_mem_boundary") for r in j["remediation"])


def test_json_ok_layout_numbers(capsys):
    # igd-passthrough: 4 GiB, IGD RMRR 0xad000000 above the boundary: lowmem_end 0xad000000,
    # highmem_end 0x10f800000 + (0xf0000000 - 0xad000000) = 0x152800000; hvm_info checksum 0x91
    # for low 0xad000 / high 0x152800 with one vcpu (xg_dom_x86.c:build_hvm_info) - here vcpus = 2.
    rc, out, _ = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--json", *HOST)
    j = json.loads(out)
    assert (j["lowmem_end"], j["highmem_end"], j["mmio_start"]) == (0xAD000000, 0x152800000, 0xF0000000)
    assert j["hvm_info"]["low_mem_pgend"] == 0xAD000 and j["hvm_info"]["nr_vcpus"] == 2
    assert j["hvm_info"]["reserved_mem_pgstart"] == 0xFEFF0
    # reference checksum 0x91 for one vcpu; vcpus = maxvcpus = 2 adds 1 (nr_vcpus) + 2 (online
    # bitmap 0x03 instead of 0x01) to the byte sum: 0x91 - 3 = 0x8e
    assert j["hvm_info"]["checksum"] == 0x8E
    assert j["memory_map"] == [{"start": 0x100000, "size": 0xACF00000, "type": "RAM"},
                               {"start": 0xAD000000, "size": 0x2800000, "type": "RESERVED"},
                               {"start": 0x100000000, "size": 0x52800000, "type": "RAM"}]
    pp = j["populate_physmap"]
    assert pp["extents"][0] == {"gfn": 0, "order": 0, "count": 0xA0}
    assert sum(e["count"] << e["order"] for e in pp["extents"]) == 0xAD000 - 0x20 + 0x52800
    e820 = j["e820"]
    assert [e["start"] for e in e820] == sorted(e["start"] for e in e820)
    assert {"start": 0xAD000000, "size": 0x2800000, "type": "RESERVED"} in e820


def test_text_report_sections(capsys):
    rc, out, _ = create(capsys, guest("usb-relaxed-boundary.cfg"), "--dry-run", *HOST)
    assert rc == 3
    # rdm_mem_boundary 4096 MiB is above lowmem_end (0xf0000000), so libxl does not move
    # lowmem_end under the xHCI RMRR at 0xab80a000: a relaxed conflict, dropped (the cause the
    # first line names; issue 11 item 2)
    assert out.splitlines()[0].endswith(
        "DEGRADED: the guest starts, but libxl drops the RMRR at 0xab80a000 of 0000:00:14.0 "
        "(policy relaxed): guest RAM stays over it (exit 3)")
    # the default report: what an admin reads (issue 11 item 6); --verbose adds hvmloader's
    # BARs and e820, the payloads, the page tables, the notes and the other releases' details
    for section in ("Reserved device memory", "Layout (libxl)", "Guest physical address space",
                    "Device assignment", "Findings", "Remediation", "Other Xen releases"):
        assert section in out
    for section in ("Guest e820 (hvmloader)", "E820 table:", "MMIO BARs", "populate_physmap",
                    "XENMEM_set_memory_map", "page tables:", "  info    "):
        assert section not in out
    _rc, verbose, _ = create(capsys, guest("usb-relaxed-boundary.cfg"), "--dry-run", *HOST,
                             "--verbose")
    for section in ("Guest e820 (hvmloader)", "E820 table:", "MMIO BARs", "populate_physmap",
                    "XENMEM_set_memory_map", "page tables:", "  info    "):
        assert section in verbose
    assert "[libxl] Ignoring RDM conflict at 0xab80a000." in out
    assert "dropped: guest RAM stays over it (relaxed)" in out
    assert "[xen]" in out


def test_xen_version_changes_the_outcome(capsys):
    # Xen 4.14 parses rdm="strategy=host,policy=relaxed"; 4.22 drops it (libxlu_pci.c:xlu_rdm_parse,
    # inverted in bdc0799fe2).
    cfg = guest("host-strategy.cfg")
    _, out14, _ = create(capsys, cfg, "--dry-run", "--json", "--xen-version", "4.14", *HOST)
    _, out22, _ = create(capsys, cfg, "--dry-run", "--json", "--xen-version", "4.22", *HOST)
    j14, j22 = json.loads(out14), json.loads(out22)
    assert (j14["lowmem_end"], j14["highmem_end"]) == (0xAB800000, 0x254000000)
    assert (j22["lowmem_end"], j22["rdms"]) == (0xF0000000, [])
    # 4.14.0 reads rdm= and differs; from 4.14.1 hvmloader's e820 too (the ACPI NVS backport)
    assert row_for(j22["other_versions"], "4.14.0") is not None
    assert row_for(j22["other_versions"], "4.14.1") is not None


def test_emit_writes_the_payloads(capsys, tmp_path):
    d = tmp_path / "out" / "sub"
    other = tmp_path / "out" / "keep.txt"
    os.makedirs(d.parent)
    other.write_text("mine")
    rc, out, _ = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--json", "--emit", str(d), *HOST)
    assert rc == 0
    assert sorted(os.listdir(d)) == ["e820.bin", "hvm_info.bin", "memory_map.bin", "plan.json"]
    j = json.loads(out)
    written = json.loads((d / "plan.json").read_text())
    marks = written.pop("xlrmrr_emitted")
    assert written == j
    # plan.json records what it was written with: the sha256 of each payload
    assert marks == {n: hashlib.sha256((d / n).read_bytes()).hexdigest()
                     for n in ("e820.bin", "hvm_info.bin", "memory_map.bin")}
    info = parse_hvm_info((d / "hvm_info.bin").read_bytes())
    assert info["low_mem_pgend"] == 0xAD000 and info["checksum"] == j["hvm_info"]["checksum"]
    assert [e.to_json() for e in parse_e820((d / "memory_map.bin").read_bytes())] == j["memory_map"]
    assert [e.to_json() for e in parse_e820((d / "e820.bin").read_bytes())] == j["e820"]
    assert other.read_text() == "mine"
    # a non-file in the way is not replaced
    os.remove(d / "e820.bin")
    os.mkdir(d / "e820.bin")
    rc, _out, err = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--emit", str(d), *HOST)
    assert rc == 2 and "not a regular file" in err


def test_bad_input_is_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text('memory = "x\n')
    rc, _out, err = create(capsys, str(bad), "--dry-run", *HOST)
    assert rc == 2 and "xl cannot read this config" in err
    rc, _out, err = create(capsys, guest("small.cfg"), "--dry-run", "--dmar", str(tmp_path / "nope.bin"))
    assert rc == 2 and "nope.bin" in err
    rc, _out, err = create(capsys, guest("small.cfg"), "--dry-run", "--xen-version", "3.4", *HOST)
    assert rc == 2


def _fake_xl(tmp_path, status):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "xl.log"
    xl = bindir / "xl"
    xl.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {log}\nexit {status}\n")
    xl.chmod(xl.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", PYTHONPATH=str(REPO))
    return env, log


def test_runs_xl_create_on_a_clean_plan(tmp_path):
    env, log = _fake_xl(tmp_path, 7)
    cfg = guest("igd-passthrough.cfg")
    r = subprocess.run([sys.executable, "-m", "xlrmrr", "create", cfg, *HOST, "--", "-c", "vcpus=2"],
                       env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 7, r.stderr
    assert log.read_text().splitlines() == ["create", cfg, "-c", "vcpus=2"]


def test_does_not_run_xl_on_a_blocked_plan(tmp_path):
    env, log = _fake_xl(tmp_path, 0)
    r = subprocess.run([sys.executable, "-m", "xlrmrr", "create", guest("usb-strict-boundary.cfg"), *HOST],
                       env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1 and not log.exists()
    assert "not running `xl create" in r.stderr and "Traceback" not in r.stderr


def test_xl_args_change_the_config_like_xl(capsys):
    # xl create FILE memory=512 appends the line to the file: the small guest fits anything.
    rc, out, _ = create(capsys, guest("usb-strict-boundary.cfg"), "--dry-run", "--json", *HOST, "memory=512")
    assert rc == 0 and json.loads(out)["lowmem_end"] == 504 << 20


def test_xl_refusal_is_blocked(capsys, tmp_path):
    # exit 2, not 1: a config xl refuses is bad input (the project's exit-status rule), like one
    # it cannot parse; --json still reports the xl stage and its verdict.
    cfg = tmp_path / "noname.cfg"
    cfg.write_text('type = "hvm"\nmemory = 4096\npci = [ "00:02.0" ]\n')
    rc, out, _ = create(capsys, str(cfg), "--dry-run", "--json", *HOST)
    j = json.loads(out)
    assert rc == 2 and j["exit_status"] == 2
    assert j["verdict"] == "blocked" and j["other_versions"] == []
    assert any(f["component"] == "xl" and f["message"].startswith("Domain name must be specified.")
               for f in j["findings"])


def test_forcecheck_design_versus_xen(capsys):
    # rdm_forcecheck = 1 (design): the xHCI RMRR at 0xab80a000 is below rdm_mem_boundary
    # 0xac800000 and strict -> blocked. xl ignores the key: Xen reserves only the IGD's RMRR
    # (above the boundary, relocated) -> ok.
    rc, out, _ = create(capsys, guest("forcecheck.cfg"), "--dry-run", "--json", *HOST)
    j = json.loads(out)
    assert (rc, j["verdict"], j["xen_verdict"], j["semantics"]) == (1, "blocked", "ok", "design")
    # xl ignores rdm_forcecheck: no proposal writes it (an rdm_forcecheck = 0 "fix" changed
    # nothing xl reads). rdm_mem_boundary below the xHCI RMRR, (0xab80a000 - 1) // 1 MiB = 2744,
    # keeps the guest's memory and every RMRR strict: recommended.
    assert not [r for r in j["remediation"] if "rdm_forcecheck" in r["change"]]
    assert [r["recommended"] for r in j["remediation"]].count(True) == 1
    best = j["remediation"][0]
    assert (best["change"], best["recommended"], best["verdict"]) == ("rdm_mem_boundary = 2744", True, "ok")


def test_output_identical_across_processes(tmp_path):
    # Different hash seeds: nothing may depend on set or dict-of-set iteration order.
    outs = []
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
        r = subprocess.run([sys.executable, "-m", "xlrmrr", "create", guest("forcecheck.cfg"), "--dry-run",
                            *HOST], env=env, capture_output=True, cwd=tmp_path)
        outs.append(r.stdout)
    assert outs[0] == outs[1] == outs[2] and outs[0]


@pytest.mark.parametrize("version,rc,failing", [
    ("4.12", 3, None),                              # device inherits relaxed: dropped, RAM over it
    ("4.13", 1, "xen"),                             # INVALID at build (warning), strict at assign: -EBUSY
    ("4.14", 1, "RDM conflict at 0xab80a000."),     # INVALID -> STRICT inside construct_rdm
    ("4.22", 1, "RDM conflict at 0xab80a000."),     # rdm= dropped by xl; device strict
])
def test_release_changes_outcome(capsys, version, rc, failing):
    got, out, _ = create(capsys, guest("usb-host-relaxed.cfg"), "--dry-run", "--json",
                         "--xen-version", version, *HOST)
    j = json.loads(out)
    assert got == rc and j["xen_version"] == version
    errors = [f for f in j["findings"] if f["severity"] == "error"]
    if failing is None:
        assert not errors
    elif failing == "xen":
        assert errors[0]["component"] == "xen"
    else:
        assert failing in [f["message"] for f in errors]


def test_other_releases_rebuild_the_host(capsys):
    # An RMRR over host RAM: Xen 4.19+ disables VT-d (no passthrough at all); 4.14 keeps it and
    # libxl fails on the RMRR crossing 4 GiB, which overlaps the guest's high RAM.
    rc, out, _ = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--json", "--xen-version", "4.22",
                        "--dmar", str(FIXTURES / "dmar/rmrr-across-4g.bin"),
                        "--host-json", str(FIXTURES / "hosts/laptop.json"))
    j = json.loads(out)
    assert rc == 1 and any(f["code"] == "no-iommu" for f in j["findings"])
    other = {d["versions"]: d for d in j["other_versions"]}
    # 4.14 to 4.18 alike (VT-d on, libxl's conflict pass): one merged row
    assert any("RDM conflict at 0xffe00000." in x for x in other["4.14-4.18"]["differences"])


@pytest.mark.parametrize("version,band,verdict,says", [
    # usb-host-relaxed.cfg (its header gives the release behaviour): 4.10-4.12 degraded (rdm=
    # parsed first, the xHCI inherits relaxed), 4.13 blocked in Xen (pci= first: INVALID at
    # construct_rdm, strict at device add, 1:1 map over guest RAM refused), 4.14+ blocked in libxl.
    ("4.22", "4.10", "degraded", "verdict degraded instead of blocked"),
    ("4.22", "4.12.4", "degraded", "verdict degraded instead of blocked"),
    ("4.22", "4.13", "blocked", "fails in xen: 0000:00:14.0: Cannot setup identity map"),
    ("4.12", "4.13", "blocked", "fails in xen: 0000:00:14.0: Cannot setup identity map"),
    # 4.14.0-4.14.4 read pci= before rdm= (babde47a3f) and default the unset device policy to
    # strict inside construct_rdm: "RDM conflict", blocked. 4.14.5 reads rdm= first again
    # (e45ad0b1b0 backported): the xHCI inherits relaxed, degraded like 4.12 (and like 4.22's
    # 4.10-4.12 row). 4.15+ drop the rdm= line (valid policy) whatever the order: strict,
    # blocked; 4.15.3 and 4.16.1 read the file like 4.15.0 and 4.16.0. Rows with the same
    # outcome share one line of the report.
    ("4.12", "4.14.0", "blocked", "fails in libxl: RDM conflict at 0xab80a000."),
    ("4.12", "4.14.4", "blocked", "fails in libxl: RDM conflict at 0xab80a000."),
    ("4.12", "4.15", "blocked", "fails in libxl: RDM conflict at 0xab80a000."),
    ("4.12", "4.22", "blocked", "fails in libxl: RDM conflict at 0xab80a000."),
    ("4.22", "4.14.5", "degraded", "verdict degraded instead of blocked"),
])
def test_usb_host_relaxed_every_release_band(capsys, version, band, verdict, says):
    _, out, _ = create(capsys, guest("usb-host-relaxed.cfg"), "--dry-run", "--json", "--xen-version",
                       version, *HOST)
    rows = json.loads(out)["other_versions"]
    row = row_for(rows, band)
    assert row["verdict"] == verdict
    assert any(x.startswith(says) for x in row["differences"])
    # 4.13.5 prints the failed map as "[VT-D]d1: cannot map reserved region [b,e]: -16"
    # (XSA-400, 78a40f8b5d backported; vtd/iommu.c:intel_iommu_assign_device:RELEASE-4.13.5),
    # 4.13.0-4.13.4 as "[VT-D] cannot map reserved region (b,e] for Dom1 (-16)": two rows.
    want = {"4.12": ["4.6-4.9", "4.12.4 and later 4.12.x, 4.14.5 and later 4.14.x",
                     "4.13.0-4.13.4", "4.13.5 and later 4.13.x", "4.14.0-4.14.4, 4.15-4.22"],
            "4.22": ["4.6-4.9", "4.10-4.12, 4.14.5 and later 4.14.x", "4.13.0-4.13.4",
                     "4.13.5 and later 4.13.x"]}[version]
    assert [r["versions"] for r in rows] == want


def test_other_release_rows_keep_only_the_blocking_message(capsys):
    # The 4.13 row's blocker is Xen's identity-map failure for the xHCI; the finding goes on to
    # explain the USB device class (~900 characters), which the row leaves out.
    _, out, _ = create(capsys, guest("usb-host-relaxed.cfg"), "--dry-run", "--json", "--xen-version",
                       "4.12", *HOST)
    row = row_for(json.loads(out)["other_versions"], "4.13")
    fails = [x for x in row["differences"] if x.startswith("fails in xen: ")]
    assert fails and fails[0].endswith("with the strict policy Xen refuses the 1:1 mapping (-EBUSY).")
    assert "USB" not in fails[0] and "For this" not in fails[0]


def test_rmrr_over_ram_compares_across_4_19(capsys):
    # bug-rmrr-over-ram on laptop-bad-e820: from 4.19 an RMRR page that is E820 RAM makes Xen
    # disable VT-d (x86/iommu.c:iommu_unity_region_ok, e45801dea1): IGD passthrough blocked; 4.17
    # only warns: ok.
    host = ["--dmar", str(FIXTURES / "dmar/bug-rmrr-over-ram.bin"),
            "--host-json", str(FIXTURES / "hosts/laptop-bad-e820.json")]
    rc, out, _ = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--json", "--xen-version", "4.17",
                        *host)
    other = {d["versions"]: d for d in json.loads(out)["other_versions"]}
    assert rc == 0 and other["4.19-4.22"]["verdict"] == "blocked"
    rc, out, _ = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--json", "--xen-version", "4.19",
                        *host)
    other = {d["versions"]: d for d in json.loads(out)["other_versions"]}
    assert rc == 1 and other["4.14-4.18"]["verdict"] == "ok"


def test_default_release_comes_from_the_host_data(capsys):
    # hosts/laptop.json was collected under Xen 4.17; without host data that names a release the
    # default is the running hypervisor's (none here) or the newest.
    _, out, _ = create(capsys, guest("small.cfg"), "--dry-run", "--json", *HOST)
    assert json.loads(out)["xen_version"] == "4.17"
    _, out, _ = create(capsys, guest("small.cfg"), "--dry-run", "--json",
                       "--dmar", str(FIXTURES / "dmar/laptop-typical.bin"))
    assert json.loads(out)["xen_version"] == "4.22"


def test_corpus_dmar_tables_never_crash(capsys, corpus):
    # Every real DMAR of the shared corpus with the IGD guest: a verdict, a sorted e820 when
    # hvmloader ran, and the exit status that goes with the verdict.
    tables = sorted((corpus / "dmar").glob("*.bin"))
    need(len(tables) > 100, "the DMAR corpus")
    want = {"ok": 0, "blocked": 1, "degraded": 3}
    for path in tables:
        rc, out, _err = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--json",
                               "--dmar", str(path))
        j = json.loads(out)
        assert rc == want[j["verdict"]], path
        assert [e["start"] for e in j["e820"]] == sorted(e["start"] for e in j["e820"]), path


def test_corpus_configs_never_crash(capsys, corpus):
    configs = sorted((corpus / "xlcfg").glob("*.cfg"))
    need(len(configs) > 20, "the xl config corpus")
    for path in configs:
        rc, out, err = create(capsys, str(path), "--dry-run", "--json", *HOST)
        assert "Traceback" not in err
        if rc == 2:
            assert err.startswith("xlrmrr create: error: ") and str(path) in err
        else:
            assert json.loads(out)["exit_status"] == rc


def test_emit_blocked_plan_writes_only_what_the_flow_reaches(capsys, tmp_path):
    d = tmp_path / "out"
    create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--emit", str(d), *HOST)
    assert len(os.listdir(d)) == 4
    # libxl fails: no memory map, no hvm_info, no e820; the earlier plan's payloads go
    rc, _out, _err = create(capsys, guest("usb-strict-boundary.cfg"), "--dry-run", "--emit", str(d), *HOST)
    assert rc == 1 and os.listdir(d) == ["plan.json"]
    assert json.loads((d / "plan.json").read_text())["verdict"] == "blocked"


def test_forcecheck_explained_once(capsys):
    """rdm_forcecheck: xl's reading (unknown key, what to write instead) is said once, by the xl
    stage; the driver adds only the outcome under both semantics (design: blocked by the xHCI
    RMRR at 0xab80a000 below the 2 GiB boundary, strict; Xen 4.17 as written: ok)."""
    rc, out, _err = create(capsys, guest("forcecheck.cfg"), "--dry-run", "--json",
                           "--xen-version", "4.17", *HOST)
    findings = json.loads(out)["findings"]
    assert rc == 1
    assert sum("does not know this key" in f["message"] for f in findings) == 1
    outcome = [f for f in findings if f["code"] == "rdm-forcecheck-outcome"]
    assert len(outcome) == 1
    assert "verdict blocked" in outcome[0]["message"]
    assert "as written: verdict ok" in outcome[0]["message"]


def test_out_of_scope_deltas_are_named(capsys):
    # AMD IVMD (4.16, 2209c36007) and PVH ACPI NVS (4.21, d6dab805f1) are not modelled, and the
    # report says so instead of leaving them silently absent.
    _, out, _ = create(capsys, guest("small.cfg"), "--dry-run", *HOST, "--verbose")
    assert "not modelled: AMD IVMD ranges (Xen 4.16+" in out
    with pytest.raises(SystemExit):
        main(["create", "--help"])
    assert "AMD IVMD" in capsys.readouterr().out


@pytest.mark.parametrize("cfg,code", [
    # the xHCI RMRR 0xab80a000 is below rdm_mem_boundary (4 GiB) and strict: libxl's "RDM
    # conflict at 0xab80a000.", blocked before libxc and hvmloader: exit 1, no e820
    ("usb-strict-boundary.cfg", 1),
    # the IGD RMRR 0xad000000 is above rdm_mem_boundary (2 GiB): lowmem_end moves below it: exit 0
    ("igd-passthrough.cfg", 0),
])
def test_emit_never_touches_a_file_xlrmrr_did_not_write(capsys, tmp_path, cfg, code):
    # a blocked plan (which reaches no e820) used to delete it, a clean one to overwrite it
    d = tmp_path / "out"
    d.mkdir()
    (d / "e820.bin").write_bytes(b"user data")
    rc, out, err = create(capsys, guest(cfg), "--dry-run", "--emit", str(d), *HOST)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "e820.bin exists and was not written by xlrmrr" in err and "--force" in err
    assert os.listdir(d) == ["e820.bin"] and (d / "e820.bin").read_bytes() == b"user data"
    rc, _out, _err = create(capsys, guest(cfg), "--dry-run", "--emit", str(d), "--force", *HOST)
    # --force: the names are xlrmrr's; a blocked plan reaches no e820, so it is removed
    e820 = d / "e820.bin"
    assert rc == code and e820.exists() == (code == 0)
    assert not e820.exists() or e820.read_bytes() != b"user data"


@pytest.mark.parametrize("where", ["before", "after"])
def test_force_without_emit_is_a_usage_error(capsys, tmp_path, where):
    # --force only changes what --emit may replace; alone it would be silently ignored
    argv = ["--dry-run", "--force", guest("small.cfg")] if where == "before" else [
        "--dry-run", guest("small.cfg"), "--force"]
    rc, out, err = create(capsys, *argv, *HOST)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("xlrmrr create: error: --force only applies with --emit DIR")


def test_emit_replaces_its_own_files_but_not_changed_ones(capsys, tmp_path):
    d = tmp_path / "out"
    assert create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--emit", str(d), *HOST)[0] == 0
    assert create(capsys, guest("small.cfg"), "--dry-run", "--emit", str(d), *HOST)[0] == 0
    (d / "hvm_info.bin").write_bytes(b"edited by the user")
    rc, _out, err = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--emit", str(d), *HOST)
    assert rc == 2 and "hvm_info.bin exists and was not written by xlrmrr (or was changed since)" in err
    assert (d / "hvm_info.bin").read_bytes() == b"edited by the user"


def test_emit_is_all_or_nothing(capsys, tmp_path, monkeypatch):
    # The third rename fails: the two files already replaced get their old contents back, no
    # temporary file is left, and the error is one line (exit 2).
    d = tmp_path / "out"
    create(capsys, guest("igd-passthrough.cfg"), "--dry-run", "--emit", str(d), *HOST)
    before = {n: (d / n).read_bytes() for n in os.listdir(d)}
    real = os.replace
    calls = []

    def failing(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(src, dst)
    monkeypatch.setattr(os, "replace", failing)
    rc, _out, err = create(capsys, guest("small.cfg"), "--dry-run", "--emit", str(d), *HOST)
    monkeypatch.setattr(os, "replace", real)
    assert len(calls) >= 3      # the payloads really go through rename()
    assert rc == 2 and "No space left on device; nothing was changed" in err
    assert {n: (d / n).read_bytes() for n in os.listdir(d)} == before


@pytest.mark.parametrize("arg,value,allowed", [
    # hvmloader: ACPI tables from ACPI_MEMORY_DYNAMIC_START 0xfc001000 up to
    # RESERVED_MEMORY_DYNAMIC_START 0xfc100000; the BIOS image between 0xa0000 and 1 MiB.
    ("--acpi-end", "0x1", "[0xfc001000, 0xfc100000]"),
    ("--acpi-end", "-5", "[0xfc001000, 0xfc100000]"),
    ("--acpi-end", "0xfc100001", "[0xfc001000, 0xfc100000]"),
    ("--bios-base", "0x200000", "[0xa0000, 0x100000)"),
    ("--bios-base", "0xe0800", "[0xa0000, 0x100000)"),
])
def test_firmware_parameters_out_of_range_are_exit_2(capsys, tmp_path, arg, value, allowed):
    d = tmp_path / "out"
    rc, out, err = create(capsys, guest("small.cfg"), "--dry-run", f"{arg}={value}", "--emit", str(d), *HOST)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert allowed in err and "Traceback" not in err and not d.exists()


def test_config_xl_refuses_stops_at_the_xl_stage(capsys, tmp_path):
    # no name=: xl prints "Domain name must be specified." and exits 1 before libxl runs, so
    # no layout exists (the rest of the file, memory = 1024, is never even read). A config xl
    # refuses is bad input: exit 2 (was 1) and one stderr line, as for a parse error.
    cfg = tmp_path / "noname.cfg"
    cfg.write_text('type = "hvm"\nmemory = 1024\n')
    rc, out, err = create(capsys, str(cfg), "--dry-run", *HOST)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1
    assert "Domain name must be specified." in err
    rc, out, _ = create(capsys, str(cfg), "--dry-run", "--json", *HOST)
    j = json.loads(out)
    assert (rc, j["verdict"], j["exit_status"], j["stages"]) == (2, "blocked", 2, ["xl"])
    assert (j["lowmem_end"], j["hvm_info"], j["rdms"], j["e820"]) == (None, None, [], [])


@pytest.mark.parametrize("body,line,said,instead", [
    # PCI_SPEC_STRING (4.15+) needs the function: `00:14' fails xlu_pci_parse_spec_string
    # (ERROR_INVAL... xl exits with -rc = 6)
    ("pci = [ '00:14' ]\n", 4, "unable to parse PCI_SPEC_STRING `00:14' for passthrough",
     "BB:DD.F such as 00:14.0"),
    # xl does not trim blanks: the trailing blank is an unknown character after the function
    ("pci = [ '0000:00:14.0 ' ]\n", 4, "unable to parse PCI_SPEC_STRING `0000:00:14.0 '",
     "write `0000:00:14.0'"),
    # parse_rdm_policy: "Unknown RDM policy: relax", ERROR_INVAL -> exit status 3
    ("pci = [ '00:14.0,rdm_policy=relax' ]\n", 4, "exits with status 3",
     "rdm_policy= takes strict or relaxed"),
    # no name=: only the file can be named
    (None, None, "Domain name must be specified.", 'name = "GUEST"'),
    ('type = "foo"\n', 2, "Invalid domain type foo.", 'type = "hvm", "pv" or "pvh"'),
])
def test_config_xl_refuses_is_one_line_exit_2(capsys, tmp_path, body, line, said, instead):
    cfg = tmp_path / "g.cfg"
    if body is None:
        cfg.write_text('type = "hvm"\nmemory = 1024\n')
    elif body.startswith("type"):
        cfg.write_text('name = "g"\n' + body + "memory = 1024\n")
    else:
        cfg.write_text('name = "g"\ntype = "hvm"\nmemory = 1024\n' + body)
    where = f"{cfg}:{line}: " if line else f"{cfg}: "
    rc, out, err = create(capsys, str(cfg), "--dry-run", *HOST)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"xlrmrr create: error: {where}xl refuses this config: ")
    assert said in err and instead in err
    rc, out, err2 = create(capsys, str(cfg), "--dry-run", "--json", *HOST)
    j = json.loads(out)
    assert (rc, j["exit_status"], j["verdict"], j["stages"]) == (2, 2, "blocked", ["xl"])
    assert err2 == err


def test_hvm_info_is_null_when_libxc_is_not_reached(capsys):
    # usb-strict-boundary fails in libxl (RDM conflict), so libxc never writes hvm_info
    rc, out, _ = create(capsys, guest("usb-strict-boundary.cfg"), "--dry-run", "--json", *HOST)
    assert rc == 1 and json.loads(out)["hvm_info"] is None


def test_point_release_of_the_modelled_line_is_compared(capsys):
    # usb-host-relaxed: rdm = "strategy=host,policy=relaxed", pci = ['00:14.0'] (no rdm_policy),
    # xHCI RMRR 0xab80a000 below rdm_mem_boundary 4 GiB. 4.14.0 reads pci= before rdm= (babde47a3f),
    # so the device's policy stays unset and construct_rdm defaults it to strict (4.14, 6fdb8eef87):
    # "RDM conflict", blocked. 4.14.5 reads rdm= first again (e45ad0b1b0 backported, xl_parse.c):
    # the device inherits relaxed, the conflict is only warned about: degraded.
    rc, out, _ = create(capsys, guest("usb-host-relaxed.cfg"), "--dry-run", "--json", "--xen-version",
                        "4.14", *HOST)
    rows = json.loads(out)["other_versions"]
    assert rc == 1 and row_for(rows, "4.14.5")["verdict"] == "degraded"
    rc, out, _ = create(capsys, guest("usb-host-relaxed.cfg"), "--dry-run", "--json", "--xen-version",
                        "4.14.5", *HOST)
    rows = json.loads(out)["other_versions"]
    assert rc == 3 and row_for(rows, "4.14.0")["verdict"] == "blocked"
    assert row_for(rows, "4.14.4")["verdict"] == "blocked"
    assert row_for(rows, "4.14.5") is None and row_for(rows, "4.14.6") is None


@pytest.mark.parametrize("body,code", [
    # xl's get_list fails on a string: no device is passed through at all
    ("memory = 1024\npci = '00:14.0'\n", "pci-not-a-list"),
    # xl's get_long fails on "4G": the guest gets libxl's 32 MiB default, no pci=
    ('memory = "4G"\n', "number-dropped"),
])
def test_guest_without_devices_does_not_claim_rmrrs(capsys, tmp_path, body, code):
    cfg = tmp_path / "g.cfg"
    cfg.write_text('name = "g"\ntype = "hvm"\n' + body)
    rc, out, _ = create(capsys, str(cfg), "--dry-run", *HOST)
    head = out.splitlines()[0]
    assert rc == 0 and "every assigned device gets all its RMRRs" not in head
    assert head == (f"{cfg}: OK: the guest can be created; it passes no PCI device through, so no "
                    f"RMRR applies (exit 0)")
    rc, out, _ = create(capsys, str(cfg), "--dry-run", "--json", *HOST)
    j = json.loads(out)
    assert [f["severity"] for f in j["findings"] if f["code"] == code] == ["warning"]


def test_guest_with_a_device_keeps_the_rmrr_headline(capsys):
    # small.cfg passes 00:14.0 through and is OK: the headline speaks for its RMRRs
    rc, out, _ = create(capsys, guest("small.cfg"), "--dry-run", *HOST)
    assert rc == 0 and "OK: the guest can be created and every assigned device gets all its RMRRs" \
        in out.splitlines()[0]


def test_same_device_twice_is_blocked_and_said_once(capsys, tmp_path):
    # 00:14.0 and 0000:00:14.0 are one device: the second assignment fails in Xen (-EBUSY)
    cfg = tmp_path / "g.cfg"
    cfg.write_text('name = "g"\ntype = "hvm"\nmemory = 1024\npci = [ "00:14.0", "0000:00:14.0" ]\n')
    rc, out, _ = create(capsys, str(cfg), "--dry-run", "--json", *HOST)
    j = json.loads(out)
    assert (rc, j["verdict"]) == (1, "blocked")
    dup = [f for f in j["findings"] if f["code"] == "pci-duplicate"]
    assert len(dup) == 1 and "`00:14.0' and `0000:00:14.0'" in dup[0]["message"]
    msgs = [f["message"] for f in j["findings"]]
    assert len(msgs) == len(set(msgs))


def test_text_output_escapes_control_bytes_from_the_config(capsys, tmp_path):
    # an ESC sequence in rdm= reaches the rdm-ignored warning; it is shown as cfg shows it (\x1b)
    cfg = tmp_path / "g.cfg"
    cfg.write_bytes(b'name = "g"\ntype = "hvm"\nmemory = 1024\nrdm = "\x1b[31mstrategy=host"\n')
    rc, out, _ = create(capsys, str(cfg), "--dry-run", *HOST)
    assert rc == 0 and "\x1b" not in out
    assert 'rdm = "\\x1b[31mstrategy=host" (line 4)' in out


def test_refused_pci_value_is_escaped_on_stderr(capsys, tmp_path):
    cfg = tmp_path / "g.cfg"
    cfg.write_bytes(b'name = "g"\ntype = "hvm"\nmemory = 1024\npci = [ "00:14.0\x1b[2J" ]\n')
    rc, out, err = create(capsys, str(cfg), "--dry-run", *HOST)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1
    assert "\x1b" not in err and "`00:14.0\\x1b[2J'" in err


def test_crlf_parse_error_is_escaped_and_says_dos2unix(capsys, tmp_path):
    # xl's lexer stops at the \r of line 1: `near `\r'' must not return the terminal's cursor
    cfg = tmp_path / "g.cfg"
    cfg.write_bytes(b'name = "g"\r\ntype = "hvm"\r\n')
    rc, out, err = create(capsys, str(cfg), "--dry-run", *HOST)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1
    assert "\r" not in err and f"{cfg}:1: config parsing error near `\\r'" in err
    assert "convert it with dos2unix" in err


def test_json_bad_input_prints_the_error_object(capsys, tmp_path):
    # like every other command (cli.error_json): stdout carries one object, the stderr line stays
    cfg = tmp_path / "g.cfg"
    cfg.write_text('name = "g"\nmemory = -1\n')
    rc, out, err = create(capsys, str(cfg), "--dry-run", "--json", *HOST)
    doc = json.loads(out)
    assert rc == 2 and out.count("\n") == 1 and len(err.splitlines()) == 1
    assert doc["ok"] is False and doc["exit_status"] == 2
    assert f"{cfg}:2: config parsing error near `-1'" in doc["error"]


def test_refused_key_value_argument_is_named_as_one(capsys):
    # xl create appends "\n" + each KEY=VALUE argument + "\n" to the file (xl_vmcontrol.c), so
    # the 8-line igd-passthrough.cfg plus pci=["00:14"] is refused at line 10, past the file.
    rc, _out, err = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", *HOST, 'pci=["00:14"]')
    assert rc == 2 and err.count("\n") == 1
    assert "igd-passthrough.cfg:10 (a KEY=VALUE argument: xl create appends them to the file): " \
           "xl refuses this config: unable to parse PCI_SPEC_STRING `00:14'" in err
    rc, _out, err = create(capsys, guest("igd-passthrough.cfg"), "--dry-run", *HOST,
                           'pci=["00:02.0"]', 'type="x"')
    assert rc == 2 and "KEY=VALUE" in err
