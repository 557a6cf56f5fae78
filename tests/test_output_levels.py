"""Issue 11 item 6: `create --dry-run` for people. The default report is what an admin reads;
--verbose is the whole report as it was before the default was shortened (nothing lost);
--brief is the first line, the problems and the recommended fix, nothing else."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main

LAPTOP = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]
GUESTS = sorted((FIXTURES / "guests").glob("*.cfg"))

# The sections of the whole report, in order (report.create.text before the default was
# shortened); --verbose keeps every one of them.
VERBOSE_SECTIONS = ("Reserved device memory", "Layout (libxl)", "XENMEM_set_memory_map",
                    "Guest physical address space", "MMIO BARs", "Guest e820 (hvmloader)",
                    "Device assignment (Xen hypervisor)", "Findings", "Remediation",
                    "Other Xen releases")
# What only --verbose prints: the payloads, hvmloader's tables, the page-table narrative with
# the pre-4.6 history, the identity-map list, the notes, the releases not modelled.
VERBOSE_ONLY = ("populate_physmap:", "hvm_info (0x9f800):", "XENMEM_set_memory_map",
                "MMIO BARs", "Guest e820 (hvmloader)", "E820 table:", "page tables:",
                "before Xen 4.6 (not modelled)", "identity-map list of the domain:",
                "  info    [xen] modelling Xen", "not modelled: AMD IVMD")
# Lines only the shorter reports have: where the rest is.
POINTERS = ("(--verbose adds", "  (and ", "Findings: no error or warning (",
            "Other Xen releases that differ: ")


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _subsequence(short: list[str], full: list[str]) -> bool:
    it = iter(full)
    return all(any(line == f for f in it) for line in short)


@pytest.mark.parametrize("cfg", GUESTS, ids=lambda p: p.name)
@pytest.mark.parametrize("dmar", ["laptop-typical.bin", "usb-shared.bin", "rmrr-above-4g.bin"])
def test_default_is_the_verbose_report_shortened(capsys, cfg, dmar):
    # Every line of the default report (but the pointers to --verbose and the blank lines
    # around them) is in the --verbose
    # report, in the same order: the default leaves out, it never says anything else; and the
    # exit status is the same.
    host = ["--dmar", FIXTURES / "dmar" / dmar, "--host-json", FIXTURES / "hosts/laptop.json"]
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", *host)
    rc_v, verbose, _ = run(capsys, "create", cfg, "--dry-run", *host, "--verbose")
    assert rc == rc_v
    short = [line for line in out.splitlines() if line and not line.startswith(POINTERS)]
    assert _subsequence(short, [line for line in verbose.splitlines() if line])
    assert not any(line.startswith(POINTERS) for line in verbose.splitlines())
    assert len(out.splitlines()) < len(verbose.splitlines())


def test_verbose_is_the_whole_report(capsys):
    # The strict xHCI plan reaches every section but the layout ones (it stops in libxl); the
    # IGD plan reaches all of them.
    rc, out, _ = run(capsys, "create", FIXTURES / "guests/igd-passthrough.cfg", "--dry-run",
                     *LAPTOP, "--verbose")
    assert rc == 0
    positions = [out.find("\n" + s) for s in VERBOSE_SECTIONS if s != "Remediation"]
    assert -1 not in positions and positions == sorted(positions)
    for detail in VERBOSE_ONLY:
        assert detail in out, detail
    rc, out, _ = run(capsys, "create", FIXTURES / "guests/igd-passthrough.cfg", "--dry-run",
                     *LAPTOP)
    for detail in VERBOSE_ONLY:
        assert detail not in out, detail


def test_default_of_a_clean_plan_is_short(capsys):
    # The clean IGD plan printed 77 lines; the default keeps the verdict, the RMRRs, the four
    # layout numbers, the picture and the device's assignment, and points at the rest.
    rc, out, _ = run(capsys, "create", FIXTURES / "guests/igd-passthrough.cfg", "--dry-run",
                     *LAPTOP)
    lines = out.splitlines()
    assert rc == 0 and len(lines) <= 35
    assert lines[0].endswith(": OK: the guest can be created and every assigned device gets "
                             "all its RMRRs (exit 0)")
    for kept in ("  0xad000000  0xaf7fffff  40 MiB  0000:00:02.0*          strict  reserved; "
                 "lowmem_end moved below it",
                 "  lowmem_end  0xad000000 (was 0xf0000000)",
                 "  highmem_end 0x152800000 (was 0x10f800000)",
                 "Guest physical address space",
                 "  0000:00:02.0: rdm_policy strict, flag 0: assigned, every RMRR 1:1",
                 "Findings: no error or warning (3 notes: --verbose shows them)"):
        assert kept in lines, kept
    assert lines[-1].startswith("(--verbose adds the payloads")


def test_brief_is_verdict_problems_and_the_recommended_fix(capsys):
    cfg = FIXTURES / "guests/usb-strict-boundary.cfg"
    rc, out, _ = run(capsys, "create", cfg, "--dry-run", *LAPTOP, "--brief")
    rc_j, doc, _ = run(capsys, "create", cfg, "--dry-run", *LAPTOP, "--json")
    fix = next(r for r in json.loads(doc)["remediation"] if r["recommended"])
    assert rc == rc_j == 1
    assert out.splitlines() == [
        f'{cfg}: BLOCKED: creating this guest would fail: libxl: the RMRR at 0xab80a000 (of '
        f'0000:00:14.0; policy strict) overlaps guest RAM: "RDM conflict at 0xab80a000." (exit 1)',
        "Problems",
        "  error   [libxl] RDM conflict at 0xab80a000.",
        "  error   [libxl] checking reserved device memory failed",
        f"Recommended fix: {fix['change']}",
        f"  why: {fix['why']}",
        f"  `xlrmrr create {cfg} --dry-run --fix` prints it as a diff of {cfg}",
    ]
    assert fix["change"] == "rdm_mem_boundary = 2744"


def test_brief_of_a_clean_plan_is_one_line(capsys):
    rc, out, _ = run(capsys, "create", FIXTURES / "guests/igd-passthrough.cfg", "--dry-run",
                     *LAPTOP, "--brief")
    assert rc == 0 and len(out.splitlines()) == 1 and out.endswith("(exit 0)\n")


def test_brief_and_verbose_exclude_each_other(capsys):
    rc, _out, err = run(capsys, "create", FIXTURES / "guests/small.cfg", "--dry-run", *LAPTOP,
                        "--brief", "--verbose")
    assert rc == 2 and "not allowed with argument" in err
