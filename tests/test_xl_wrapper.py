"""`xlrmrr create` as a drop-in for `xl create` (issue 10 item 1), against a fake `xl` on PATH
that records its argv and the config file it is given and exits with a chosen status, and a
fake /sys tree under --root for the live host.

Independent answers: xl create's option syntax is tools/xl/xl_vmcontrol.c:main_create
(getopt "AFVcdef:inpq", operands with '=' are KEY=VALUE items, config_data appends them); the
rdm_forcecheck translation is checked with Xen's own parser (libxlutil.so.4.17 via
tests/libxlu_oracle.py) reading exactly the bytes xl reads.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from conftest import FIXTURES, need
from test_host_snapshot_tree import fake_sys

from xlrmrr.cli import main

DMAR = FIXTURES / "dmar" / "laptop-typical.bin"
HOST = ["--dmar", str(DMAR), "--host-json", str(FIXTURES / "hosts" / "laptop.json")]
IGD = str(FIXTURES / "guests" / "igd-passthrough.cfg")
USB_STRICT = str(FIXTURES / "guests" / "usb-strict-boundary.cfg")

# rdm_forcecheck = 1 with the default rdm_mem_boundary: both laptop RMRRs (IGD 0xad000000,
# xHCI 0xab80a000) lie above 2 GiB, so libxl lowers lowmem_end below both: the design's
# reading (every host RMRR, strict) is clean, and differs from xl's (the IGD's only).
FORCECHECK = """name = "fc"
type = "hvm"
memory = 4096
rdm_forcecheck = 1
pci = [ '00:02.0' ]
"""


class FakeXl:
    """An `xl` on PATH: records argv and the config file it is given, exits with `status`
    (a number, or a signal name it kills itself with)."""

    def __init__(self, tmp_path, monkeypatch, status="0", present=True):
        self.dir = tmp_path / "xl-log"
        self.dir.mkdir()
        bindir = tmp_path / "bin"
        bindir.mkdir()
        (self.dir / "status").write_text(status)
        if present:
            xl = bindir / "xl"
            xl.write_text(f"""#!/bin/sh
log={self.dir}
printf '%s\\n' "$@" > $log/argv
shift
if [ "$1" = "-f" ]; then cfg=$2; else cfg=$1; fi
cat "$cfg" > $log/config 2>/dev/null
st=$(cat $log/status)
case $st in [A-Z]*) kill -$st $$;; esac
exit $st
""")
            xl.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")

    @property
    def ran(self) -> bool:
        return (self.dir / "argv").exists()

    @property
    def argv(self) -> list[str]:
        return (self.dir / "argv").read_text().splitlines()

    @property
    def config(self) -> bytes:
        return (self.dir / "config").read_bytes()


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv", [
    [IGD, "-q", "-p", "vcpus=2"],
    ["-q", IGD, "-p", "vcpus=2"],
    ["-qp", IGD, "vcpus=2"],
    ["--quiet", "-p", "vcpus=2", IGD],
    ["vcpus=2", "-f", IGD, "-pq"],
    [f"--defconfig={IGD}", "-p", "-q", "vcpus=2"],
    [IGD, "--", "-q", "-p", "vcpus=2"],         # the old spelling: xl's options after --
])
def test_xl_option_syntax_and_positions(capsys, tmp_path, monkeypatch, argv):
    # main_create's getopt permutes: every order is the same command. xlrmrr's options may be
    # anywhere too; xl gets the config first, its flags, then the KEY=VALUE items.
    xl = FakeXl(tmp_path, monkeypatch, "0")
    rc, out, err = run(capsys, "create", *argv[:1], *HOST, *argv[1:])
    assert rc == 0, err
    assert xl.argv == ["create", IGD, "-q", "-p", "vcpus=2"]
    assert out == ""
    # -q: xlrmrr says nothing but the host-files line (the launch plans from files)
    assert err.startswith("xlrmrr create: planning from files (--dmar ") and err.count("\n") == 1


def test_every_xl_flag_is_passed_through(capsys, tmp_path, monkeypatch):
    xl = FakeXl(tmp_path, monkeypatch, "0")
    rc, _out, err = run(capsys, "create", IGD, *HOST, "-c", "-V", "-A", "-d", "-F", "-e", "-i",
                        "--vncviewer", "--ignore-global-affinity-masks")
    assert rc == 0, err
    assert xl.argv == ["create", IGD, "-c", "-V", "-A", "-d", "-F", "-e", "-i"]
    assert f"running: xl create {IGD} -c -V -A -d -F -e -i" in err


def test_key_value_items_change_the_plan_as_xl_appends_them(capsys, tmp_path, monkeypatch):
    # usb-strict is blocked at 8 GiB (RDM conflict at 0xab80a000); memory=512 appended as xl
    # appends it puts lowmem_end below the RMRR: clean, and xl gets the same item.
    xl = FakeXl(tmp_path, monkeypatch, "0")
    rc, _out, err = run(capsys, "create", USB_STRICT, *HOST)
    assert rc == 1 and not xl.ran and "the plan is blocked" in err
    rc, _out, err = run(capsys, "create", "memory=512", USB_STRICT, *HOST)
    assert rc == 0, err
    assert xl.argv == ["create", USB_STRICT, "memory=512"]


@pytest.mark.parametrize("status", ["0", "1", "2", "3", "6", "255"])
def test_exit_status_is_exactly_xls(capsys, tmp_path, monkeypatch, status):
    # 3 from xl is xl's ERROR_FAIL, not xlrmrr's "degraded"; 1 is not "blocked"
    FakeXl(tmp_path, monkeypatch, status)
    rc, _out, _err = run(capsys, "create", IGD, *HOST)
    assert rc == int(status)


def test_xl_killed_by_a_signal_is_128_plus_n(capsys, tmp_path, monkeypatch):
    FakeXl(tmp_path, monkeypatch, "TERM")
    rc, _out, _err = run(capsys, "create", IGD, *HOST)
    assert rc == 128 + 15


def test_xl_missing_is_127_with_one_stderr_line(capsys, tmp_path, monkeypatch):
    # live host data from a fake /sys (no host files: nothing else to say on stderr)
    FakeXl(tmp_path, monkeypatch, present=False)
    root = tmp_path / "root"
    fake_sys(str(root), DMAR.read_bytes(), "laptop")
    rc, out, err = run(capsys, "create", IGD, "--root", root)
    assert rc == 127 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("xlrmrr create: xl: command not found on PATH")


def test_live_host_from_root_plans_as_the_files_do(capsys, tmp_path):
    # The fake /sys is built from the same fixture host: the plan must be the files' plan.
    root = tmp_path / "root"
    fake_sys(str(root), DMAR.read_bytes(), "laptop")
    docs = []
    for host in (["--root", root], HOST):
        rc, out, _err = run(capsys, "create", USB_STRICT, "--dry-run", "--json", *host)
        assert rc == 1
        docs.append(json.loads(out))
    live, files = docs
    for key in ("verdict", "lowmem_end", "highmem_end", "e820", "memory_map", "xen_version"):
        assert live[key] == files[key], key


def test_launch_from_root_says_nothing_about_files(capsys, tmp_path, monkeypatch):
    xl = FakeXl(tmp_path, monkeypatch, "0")
    root = tmp_path / "root"
    fake_sys(str(root), DMAR.read_bytes(), "laptop", version=("4", "17"))
    rc, _out, err = run(capsys, "create", IGD, "--root", root)
    assert rc == 0 and xl.argv == ["create", IGD]
    assert err.splitlines() == [f"xlrmrr create: plan ok (Xen 4.17); running: xl create {IGD}"]


def _oracle_reads(data: bytes) -> dict:
    import libxlu_oracle as oracle

    need(oracle.available(), "libxlutil.so.4.17 not installed")
    doc = oracle.parse(data)
    assert doc["ok"], doc["report"]
    return doc["settings"]


@pytest.mark.parametrize("version, rdm", [
    ("4.14", "strategy=host,policy=strict"),    # 4.6-4.14 parse a policy= inside rdm=
    ("4.17", "strategy=host"),                  # 4.15+ drop an rdm= line with a valid policy
])
def test_forcecheck_is_translated_for_the_release(capsys, tmp_path, monkeypatch, version, rdm):
    xl = FakeXl(tmp_path, monkeypatch, "0")
    cfg = tmp_path / "fc.cfg"
    cfg.write_text(FORCECHECK)
    before = hashlib.sha256(cfg.read_bytes()).hexdigest()
    rc, _out, err = run(capsys, "create", cfg, *HOST, "--xen-version", version, "vcpus=2")
    assert rc == 0, err
    items = [f"rdm='{rdm}'", "pci=['00:02.0,rdm_policy=strict']"]
    assert xl.argv == ["create", str(cfg), "vcpus=2", *items]
    # the user's file is what xl reads, unchanged
    assert xl.config == cfg.read_bytes() and hashlib.sha256(xl.config).hexdigest() == before
    assert "planned again: the same reservation" in err
    # Xen's own parser reads the translated settings from exactly the bytes xl builds
    data = cfg.read_bytes() + b"\n" + b"".join(a.encode() + b"\n" for a in ["vcpus=2", *items]) + b"\n"
    settings = _oracle_reads(data)
    assert settings["rdm"]["value"] == rdm
    assert settings["pci"]["value"] == ["00:02.0,rdm_policy=strict"]


def test_forcecheck_translation_parses_in_libxlu_as_planned():
    # the pieces xl hands libxl: xlu_rdm_parse and xlu_pci_parse_spec_string of 4.17
    import libxlu_oracle as oracle

    need(oracle.available(), "libxlutil.so.4.17 not installed")
    r = oracle.rdm("strategy=host")
    assert (r["rc"], r["strategy"], r["policy"]) == (0, "host", "unset")     # the policy: stack garbage
    assert oracle.rdm("strategy=host,policy=strict")["rc"] != 0               # the 4.15+ trap
    p = oracle.pci_spec("00:02.0,rdm_policy=strict")
    assert p["rc"] == 0 and p["pci"]["rdm_policy"] == 0                        # strict


def test_forcecheck_already_spelled_adds_nothing(capsys, tmp_path, monkeypatch):
    # On 4.14 the file's own rdm= already gives what rdm_forcecheck = 1 asks for.
    xl = FakeXl(tmp_path, monkeypatch, "0")
    cfg = tmp_path / "fc.cfg"
    cfg.write_text(FORCECHECK.replace("pci = [ '00:02.0' ]",
                                      "rdm = \"strategy=host,policy=strict\"\npci = [ '00:02.0' ]"))
    rc, _out, err = run(capsys, "create", cfg, *HOST, "--xen-version", "4.14")
    assert rc == 0, err
    assert xl.argv == ["create", str(cfg)]
    assert "already gives the planned reservation: nothing added" in err


def test_forcecheck_zero_drops_the_host_strategy(capsys, tmp_path, monkeypatch):
    # rdm_forcecheck = 0: only the assigned devices' RMRRs. The file's rdm= asks for every host
    # RMRR; xl is handed an rdm= it refuses (strategy stays libxl's default, ignore).
    xl = FakeXl(tmp_path, monkeypatch, "0")
    cfg = tmp_path / "fc0.cfg"
    cfg.write_text(FORCECHECK.replace("rdm_forcecheck = 1", 'rdm_forcecheck = 0\nrdm = "strategy=host"')
                   .replace("'00:02.0'", "'00:02.0,rdm_policy=strict'"))
    rc, _out, err = run(capsys, "create", cfg, *HOST, "--xen-version", "4.17")
    assert rc == 0, err
    assert xl.argv == ["create", str(cfg), "rdm='strategy=ignore'"]
    assert "planned again: the same reservation" in err
    import libxlu_oracle as oracle

    need(oracle.available(), "libxlutil.so.4.17 not installed")
    assert oracle.rdm("strategy=ignore")["rc"] != 0     # refused: b_info keeps strategy ignore


def test_translation_that_misses_the_reservation_is_refused(capsys, tmp_path, monkeypatch):
    # A translation is only trusted after planning it again: one that reserves less (here the
    # host strategy left out) is refused, xl is not run, exit 1; --accept-difference runs it.
    from xlrmrr.integration import xl as xlmod

    real = xlmod.translate_forcecheck

    def wrong(forcecheck, design, xen_domain, version):
        t = real(forcecheck, design, xen_domain, version)
        return xlmod.Translation(("rdm='strategy=ignore'",) + t.items[1:], t.spelled, t.why)

    monkeypatch.setattr(xlmod, "translate_forcecheck", wrong)
    xl = FakeXl(tmp_path, monkeypatch, "0")
    cfg = tmp_path / "fc.cfg"
    cfg.write_text(FORCECHECK)
    rc, out, err = run(capsys, "create", cfg, *HOST, "--xen-version", "4.17")
    assert rc == 1 and not xl.ran
    assert "rdm_forcecheck = 1 cannot be spelled for Xen 4.17's xl" in err
    assert "RDMs reserved: 0xad000000+0x2800000 instead of 0xad000000+0x2800000, 0xab80a000+0x14000" in err
    assert "--accept-difference runs xl with these" in err
    # the report printed says what happens (issue 11 item 2): xlrmrr does not run xl, so the
    # verdict is blocked, exit 1, and the first line names the refusal
    first = f"{cfg}: BLOCKED: under rdm_forcecheck = 1, as `xlrmrr create` launches it, "
    assert out.startswith(first + "creating this guest would fail: `xlrmrr create` would not "
                          "run xl: rdm_forcecheck = 1 cannot be spelled for Xen 4.17's xl")
    # and the dry run says the same, with the same exit status
    rc_dry, out_dry, _err = run(capsys, "create", cfg, *HOST, "--xen-version", "4.17", "--dry-run")
    assert rc_dry == 1 and out_dry.splitlines()[0] == out.splitlines()[0]
    rc, _out, err = run(capsys, "create", cfg, *HOST, "--xen-version", "4.17", "--accept-difference")
    assert rc == 0 and xl.argv[-2] == "rdm='strategy=ignore'"
    assert "--accept-difference: handing xl" in err
    rc_dry, out_dry, _err = run(capsys, "create", cfg, *HOST, "--xen-version", "4.17", "--dry-run",
                                "--accept-difference")
    assert rc_dry == 0 and out_dry.startswith(f"{cfg}: OK: under rdm_forcecheck = 1")
    assert "launch: rdm_forcecheck = 1 is unknown to xl" in out_dry
    assert "--accept-difference: handing xl rdm" in out_dry


@pytest.mark.parametrize("argv, said", [
    ([IGD, "-x"], "unrecognized option -x: neither xlrmrr create's nor xl create's"),
    ([IGD, "--", "--bogus"], "unrecognized option --bogus"),
    ([IGD, IGD], "more than one config file"),
    ([IGD, "-f", IGD], "the config is given twice"),
    (["vcpus=2"], "give the guest's config"),
])
def test_usage_errors_are_exit_2_and_run_nothing(capsys, tmp_path, monkeypatch, argv, said):
    xl = FakeXl(tmp_path, monkeypatch, "0")
    rc, _out, err = run(capsys, "create", *argv, *HOST)
    assert rc == 2 and not xl.ran
    assert said in err and "Traceback" not in err


def test_config_path_xl_would_misread_goes_with_f(capsys, tmp_path, monkeypatch):
    # xl takes an operand holding '=' as a KEY=VALUE item: such a path is passed with -f
    xl = FakeXl(tmp_path, monkeypatch, "0")
    odd = tmp_path / "a=b.cfg"
    shutil.copy(IGD, odd)
    rc, _out, err = run(capsys, "create", "-f", odd, *HOST)
    assert rc == 0, err
    assert xl.argv == ["create", "-f", str(odd)]
    assert xl.config == odd.read_bytes()


def test_dry_run_never_runs_xl_and_dryrun_is_its_xl_spelling(capsys, tmp_path, monkeypatch):
    xl = FakeXl(tmp_path, monkeypatch, "0")
    for flag in ("-n", "--dry-run", "--dryrun"):
        rc, out, err = run(capsys, "create", IGD, flag, *HOST)
        assert rc == 0 and out.startswith(f"{IGD}: OK") and not xl.ran
        assert "planning from files" not in err       # said only before a launch


@pytest.mark.parametrize("version", ["4.6", "4.13", "4.14", "4.17", "4.22"])
@pytest.mark.parametrize("text", [
    FORCECHECK,                                                 # clean under the design
    (FIXTURES / "guests" / "forcecheck.cfg").read_text(),       # blocked under the design
    FORCECHECK.replace("rdm_forcecheck = 1", 'rdm_forcecheck = 0\nrdm = "strategy=host"'),
    # the IGD's RMRR (0xad000000) above rdm_mem_boundary 2760 MiB moves lowmem_end below it;
    # the relaxed xHCI's (0xab80a000) is then under guest RAM: dropped, degraded (exit 3)
    FORCECHECK.replace("'00:02.0'", "'00:14.0,rdm_policy=relaxed'").replace(
        "memory = 4096", "memory = 8192\nrdm_mem_boundary = 2760"),
])
@pytest.mark.parametrize("allow", [[], ["--allow-degraded"]])
def test_forcecheck_dry_run_says_what_the_launch_does(capsys, tmp_path, monkeypatch, version,
                                                      text, allow):
    # Issue 11 item 2: with rdm_forcecheck the dry run's verdict and exit status are those of
    # `xlrmrr create` without --dry-run (xl exits 0 here, so a launch returns 0 exactly when
    # xl runs; --allow-degraded runs a degraded plan, exit 3 in the dry run), and its
    # "launch:" line is what the launch says on stderr before running xl.
    xl = FakeXl(tmp_path, monkeypatch, "0")
    cfg = tmp_path / "fc.cfg"
    cfg.write_text(text)
    host = [*HOST, "--xen-version", version, *allow]
    rc_dry, out, _ = run(capsys, "create", cfg, "--dry-run", *host)
    launch = next(line for line in out.splitlines() if line.startswith("launch: "))
    rc, _out, err = run(capsys, "create", cfg, *host)
    assert xl.ran == (rc_dry == 0 or (rc_dry == 3 and bool(allow)))
    assert rc == (0 if xl.ran else rc_dry)
    if xl.ran:
        said = launch[len("launch: "):].split(". Plain `xl create`")[0]
        assert f"xlrmrr create: {said}\n" in err
    else:
        assert "does not run xl" in launch and "not running `xl create" in err
