"""`xlrmrr create GUEST.cfg --dry-run --fix [--write]`: the recommended change as a minimal
unified diff of the user's file (remedies.cfgtext), GUEST.cfg.new written atomically and never
over an existing file, and the promise kept: the file the diff makes plans to the verdict the
fix was verified to.

The edited texts are read back by Debian's libxlutil (tests/libxlu_oracle.py), the parser xl
itself uses, so that "the value written is the one xl reads" is checked independently."""

import json
import os
import shutil
import subprocess

import libxlu_oracle as oracle
import pytest
from conftest import FIXTURES, need

from xlrmrr.cli import main
from xlrmrr.remedies import Edit
from xlrmrr.remedies.cfgtext import apply, statements, unified_diff

LAPTOP = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]
SHARED = ["--dmar", str(FIXTURES / "dmar/usb-shared.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]


def xl_reads(text: str) -> dict:
    """{key: value as libxlu stores it} for the text, from Debian's libxlutil."""
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    got = oracle.parse(text.encode(), "t.cfg")
    assert got["ok"], got
    return {k: v["value"] for k, v in got["settings"].items()}


# ---------------------------------------------------------------------------------------------
# remedies.cfgtext

def test_value_replaced_in_place_comments_kept():
    text = ("# my guest\nname = 'g'   # the name\nmemory=8192  # MiB\n\n"
            "rdm_mem_boundary = 4096 ; vcpus = 2 # two\npci = [ '00:14.0' ]\n")
    new = apply(text, (Edit("rdm_mem_boundary", "2744"),))
    assert new == text.replace("rdm_mem_boundary = 4096", "rdm_mem_boundary = 2744")
    new = apply(text, (Edit("memory", "2752"), Edit("maxmem", "2752", if_set=True)))
    assert new == text.replace("memory=8192", "memory=2752")       # no maxmem: not added
    assert xl_reads(new)["memory"] == "2752" and "maxmem" not in xl_reads(new)


def test_multi_line_list_becomes_one_pasteable_line():
    text = ("name = 'sys-usb'\npci = [\n    '00:1a.0',   # EHCI\n]\n# end\nvcpus = 1\n")
    value = "[ '00:1a.0,rdm_policy=relaxed', '00:1d.0,rdm_policy=relaxed' ]"
    new = apply(text, (Edit("pci", value),))
    assert new == f"name = 'sys-usb'\npci = {value}\n# end\nvcpus = 1\n"
    assert xl_reads(new)["pci"] == ["00:1a.0,rdm_policy=relaxed", "00:1d.0,rdm_policy=relaxed"]


def test_appends_after_the_assignment_are_removed():
    # libxlu: the last `=` wins and `+=` appends to it, so a value written into the `=` alone
    # would be extended again by the appends
    text = "pci = [ '00:14.0' ]\nmemory = 1024\npci += [ '00:1d.0' ]\n"
    new = apply(text, (Edit("pci", "[ '00:14.0,rdm_policy=relaxed' ]"),))
    assert new == "pci = [ '00:14.0,rdm_policy=relaxed' ]\nmemory = 1024\n"
    assert xl_reads(new)["pci"] == ["00:14.0,rdm_policy=relaxed"]
    only = apply("pci += [ '00:14.0' ]\npci += [ '00:1d.0' ]\n", (Edit("pci", "[ 'x' ]"),))
    assert only == "pci = [ 'x' ]\n"
    # the last of two `=` wins: that one is edited, the shadowed one left alone
    two = apply("memory = 1\nmemory = 2\n", (Edit("memory", "3"),))
    assert two == "memory = 1\nmemory = 3\n" and xl_reads(two)["memory"] == "3"


def test_missing_key_appended_even_without_final_newline():
    assert apply("name = 'g'", (Edit("mmio_hole", "1352"),)) == "name = 'g'\nmmio_hole = 1352\n"
    new = apply("name = 'g'\n", (Edit("maxmem", "9", if_set=True), Edit("memory", "9")))
    assert new == "name = 'g'\nmemory = 9\n"


def test_key_removed_with_its_line_or_alone():
    text = 'name = "g"\nrdm = "strategy=host,policy=relaxed"  # all\nrdm="x"; memory = 4\n'
    new = apply(text, (Edit("rdm", None),))
    assert new == 'name = "g"\nmemory = 4\n'
    assert "rdm" not in xl_reads(new)


def test_statements_skip_strings_and_comments():
    text = "a = '# not a comment = 1' # b = 2\nc = [ 'x]', \"y\" ] ; d = 3\n"
    assert [(s.key, text[s.value_start:s.end]) for s in statements(text)] == [
        ("a", "'# not a comment = 1'"), ("c", "[ 'x]', \"y\" ]"), ("d", "3")]


def test_unified_diff_headers_and_no_final_newline():
    d = unified_diff(b"a = 1\nb = 2", b"a = 1\nb = 3", "g.cfg")
    assert d == ("--- g.cfg\n+++ g.cfg.new\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n"
                 "\\ No newline at end of file\n+b = 3\n\\ No newline at end of file\n")
    assert unified_diff(b"x\n", b"x\n", "g.cfg") == ""


# ---------------------------------------------------------------------------------------------
# create --fix

def copy_guest(tmp_path, name):
    dst = tmp_path / name
    shutil.copyfile(FIXTURES / "guests" / name, dst)
    return dst


def test_fix_prints_the_recommended_change_as_a_diff(capsys, tmp_path, monkeypatch):
    # usb-strict-boundary on the laptop: blocked; recommended rdm_mem_boundary = 2744 (below the
    # xHCI RMRR at 0xab80a000): one line changes, the comments above it stay.
    monkeypatch.chdir(tmp_path)
    copy_guest(tmp_path, "usb-strict-boundary.cfg")
    rc = main(["create", "usb-strict-boundary.cfg", "--dry-run", "--fix", *LAPTOP])
    out = capsys.readouterr().out
    assert rc == 1        # the file as it is still fails
    head, diff = out.split("--- ", 1)
    assert head.splitlines() == [
        "# usb-strict-boundary.cfg: BLOCKED: creating this guest would fail: libxl: the RMRR at "
        "0xab80a000 (of 0000:00:14.0; policy strict) overlaps guest RAM: \"RDM conflict at "
        "0xab80a000.\" (exit 1)",
        "# the recommended change, planned again on Xen 4.17: verdict ok",
        "# change: rdm_mem_boundary = 2744",
        "# why: plans ok; keeps the guest's 8192 MiB and every assigned device's RMRR mapped 1:1 "
        "(strict): libxl moves lowmem_end below the RDM at 0xab80a000 and the RAM above it to "
        "beyond 4 GiB"]
    assert "--- " + diff == (
        "--- usb-strict-boundary.cfg\n+++ usb-strict-boundary.cfg.new\n@@ -4,5 +4,5 @@\n"
        ' name = "usb-strict"\n type = "hvm"\n memory = 8192\n-rdm_mem_boundary = 4096\n'
        "+rdm_mem_boundary = 2744\n pci = [ '00:14.0' ]\n")
    assert not (tmp_path / "usb-strict-boundary.cfg.new").exists()
    # patch(1) takes it as it is
    if shutil.which("patch"):
        r = subprocess.run(["patch", "-s", "-o", "patched.cfg", "usb-strict-boundary.cfg"],
                           input=out.encode(), cwd=tmp_path, capture_output=True)
        assert r.returncode == 0, r.stderr
        assert b"rdm_mem_boundary = 2744\n" in (tmp_path / "patched.cfg").read_bytes()


def test_fix_write_keeps_the_promise_and_never_overwrites(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = copy_guest(tmp_path, "usb-strict-boundary.cfg")
    os.chmod(cfg, 0o600)
    before = cfg.read_bytes()
    st = os.stat(cfg)
    assert main(["create", cfg.name, "--dry-run", "--fix", "--write", *LAPTOP]) == 1
    cap = capsys.readouterr()
    assert cap.err == ("xlrmrr create: wrote usb-strict-boundary.cfg.new "
                       "(usb-strict-boundary.cfg is unchanged): review it, then move it over "
                       "usb-strict-boundary.cfg\n")
    new = tmp_path / "usb-strict-boundary.cfg.new"
    assert cfg.read_bytes() == before and os.stat(cfg).st_mtime_ns == st.st_mtime_ns
    assert new.read_bytes() == before.replace(b"rdm_mem_boundary = 4096", b"rdm_mem_boundary = 2744")
    assert os.stat(new).st_mode & 0o777 == 0o600          # the file's own permissions
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".xlrmrr-")] == []
    # planned again from the file written: the verdict promised, ok, and lowmem_end below the RMRR
    assert main(["create", new.name, "--dry-run", "--json", *LAPTOP]) == 0
    j = json.loads(capsys.readouterr().out)
    assert (j["verdict"], j["lowmem_end"]) == ("ok", 0xAB800000)
    # a second --write refuses: exit 2, one line, the .new untouched
    new.write_bytes(b"# mine\n")
    assert main(["create", cfg.name, "--dry-run", "--fix", "--write", *LAPTOP]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usb-strict-boundary.cfg.new exists; not replacing it" in err
    assert new.read_bytes() == b"# mine\n"


CASES = [(g, d, None) for g in ("usb-strict-boundary.cfg", "usb-relaxed-boundary.cfg",
                                "forcecheck.cfg", "usb-host-relaxed.cfg", "small.cfg",
                                "igd-passthrough.cfg", "mmio-hole.cfg")
         for d in ("laptop", "shared", "rmrr-above-4g", "rmrr-below-1m", "rmrr-mmio-hole")] + [
    ("igd-passthrough.cfg", "laptop", "4.13"),      # explicit rdm_policy=strict
    ("usb-host-relaxed.cfg", "shared", "4.6"),      # the group, 00:14.0 relaxed by rdm=
    ("usb-host-relaxed.cfg", "laptop", "4.13"),     # partial: degraded
    ("forcecheck.cfg", "shared", "4.16"),           # rdm_forcecheck in the file
    ("big-igd.cfg", "rmrr-above-4g", None),         # memory and maxmem
]
BIG_IGD = ("# 20 GiB with the IGD\nname = 'big'\ntype = 'hvm'\nmemory = 20480\nmaxmem = 20480\n"
           "pci = [ '00:02.0' ]\n")


@pytest.mark.parametrize("guest,host,version", CASES)
def test_diff_applied_plans_to_the_promised_verdict(capsys, tmp_path, monkeypatch, guest, host,
                                                    version):
    hosts = {"laptop": LAPTOP, "shared": SHARED}
    argv = hosts.get(host) or ["--dmar", str(FIXTURES / f"dmar/{host}.bin")]
    if version:
        argv = [*argv, "--xen-version", version]
    monkeypatch.chdir(tmp_path)
    if guest == "big-igd.cfg":
        (tmp_path / guest).write_text(BIG_IGD)
    else:
        copy_guest(tmp_path, guest)
    rc = main(["create", guest, "--dry-run", "--fix", "--write", "--json", *argv])
    j = json.loads(capsys.readouterr().out)
    assert rc == j["exit_status"]
    fix = j["fix"]
    if fix is None:
        assert not (tmp_path / (guest + ".new")).exists()
        return
    assert fix["recommended"] and fix["written"] == guest + ".new" and fix["diff"]
    # the .new is exactly the diff applied
    if shutil.which("patch"):
        r = subprocess.run(["patch", "-s", "-o", "patched.cfg", guest], input=fix["diff"].encode(),
                           cwd=tmp_path, capture_output=True)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "patched.cfg").read_bytes() == (tmp_path / (guest + ".new")).read_bytes()
    main(["create", guest + ".new", "--dry-run", "--json", *argv])
    again = json.loads(capsys.readouterr().out)
    assert again["verdict"] == fix["verdict"], (fix["change"], again["findings"])
    if guest == "big-igd.cfg":
        # the RMRR at 0x480000000 in high RAM: highmem ends at it with 4 GiB + (18184 - 8 MiB
        # videoram) - (4 GiB - lowmem_end 0xf0000000) = 0x480000000 (igd-efi.xml in
        # tests/test_libvirt_xml.py); written into both memory and maxmem, the comment kept
        assert (tmp_path / (guest + ".new")).read_text() == BIG_IGD.replace("20480", "18184")


def test_fix_on_a_clean_plan_changes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    copy_guest(tmp_path, "igd-passthrough.cfg")
    assert main(["create", "igd-passthrough.cfg", "--dry-run", "--fix", "--write", *LAPTOP]) == 0
    assert capsys.readouterr().out == ("# igd-passthrough.cfg: OK: the guest can be created and "
                                       "every assigned device gets all its RMRRs (exit 0)\n"
                                       "# nothing to change\n")
    assert not (tmp_path / "igd-passthrough.cfg.new").exists()


def test_sys_usb_fix_keeps_the_rest_of_the_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = ("# sys-usb\nname = \"sys-usb\"\ntype = \"hvm\"\nmemory = 2048\n"
            "pci = [\n  '00:1a.0',  # the EHCI controller\n]\nvcpus = 2  # keep\n")
    (tmp_path / "sys-usb.cfg").write_text(text)
    assert main(["create", "sys-usb.cfg", "--dry-run", "--fix", "--write", *SHARED]) == 1
    capsys.readouterr()
    new = (tmp_path / "sys-usb.cfg.new").read_text()
    assert new == ("# sys-usb\nname = \"sys-usb\"\ntype = \"hvm\"\nmemory = 2048\n"
                   "pci = [ '00:1a.0,rdm_policy=relaxed', '00:14.0,rdm_policy=relaxed', "
                   "'00:1d.0,rdm_policy=relaxed' ]\nvcpus = 2  # keep\n")
    assert main(["create", "sys-usb.cfg.new", "--dry-run", *SHARED]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("argv,message", [
    (["--write"], "--write only applies with --fix"),
    (["--fix"], "--fix only applies with --dry-run"),
])
def test_fix_usage_errors(capsys, argv, message):
    rc = main(["create", str(FIXTURES / "guests/small.cfg"), *argv, *LAPTOP]
              + (["--dry-run"] if argv == ["--write"] else []))
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err


def test_fix_refuses_libvirt_xml(capsys):
    rc = main(["create", str(FIXTURES / "libvirt/usb-hvm.xml"), "--dry-run", "--fix", *LAPTOP])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "virsh edit" in err


def test_report_points_at_fix(capsys):
    main(["create", str(FIXTURES / "guests/usb-strict-boundary.cfg"), "--dry-run", *LAPTOP])
    out = capsys.readouterr().out
    assert "--dry-run --fix` prints the recommended change as a diff of " in out


@pytest.mark.parametrize("marker", ["xlrmrr create guests/usb-strict-boundary.cfg --dry-run --fix",
                                    "xlrmrr create guests/small.cfg --dry-run --fix"])
def test_readme_walk_through_is_real_output(capsys, monkeypatch, tmp_path, marker):
    from test_explain import readme_example

    argv, expected = readme_example(marker)
    monkeypatch.chdir(FIXTURES)
    assert main(argv) == 1
    assert capsys.readouterr().out == expected
    # what the README says of --write: the .new plans OK (exit 0), the original stays
    shutil.copytree(FIXTURES / "guests", tmp_path / "guests")
    for sub in ("dmar", "hosts"):
        (tmp_path / sub).symlink_to(FIXTURES / sub)
    monkeypatch.chdir(tmp_path)
    assert argv[:4] == ["create", argv[1], "--dry-run", "--fix"]
    cfg, host = argv[1], argv[4:]
    before = (tmp_path / cfg).read_bytes()
    assert main([*argv, "--write"]) == 1
    capsys.readouterr()
    assert (tmp_path / cfg).read_bytes() == before
    assert main(["create", cfg + ".new", "--dry-run", *host]) == 0
    assert capsys.readouterr().out.startswith(f"{cfg}.new: OK: ")


def test_fixes_are_verified_on_the_file_as_xl_reads_it(capsys, tmp_path, monkeypatch):
    # xl appends KEY=VALUE items after the file (xl_vmcontrol.c:create_domain), so an item
    # rdm_mem_boundary=4096 overrides the line --fix would write: the boundary change, planned on
    # the edited file plus the item, does not help, and the recommendation moves to mmio_hole
    # (which the item does not touch). A DomainConfig edit alone would have called it verified.
    monkeypatch.chdir(tmp_path)
    copy_guest(tmp_path, "usb-strict-boundary.cfg")
    rc = main(["create", "usb-strict-boundary.cfg", "--dry-run", "--json", *LAPTOP,
               "rdm_mem_boundary=4096"])
    rem = {r["change"]: r for r in json.loads(capsys.readouterr().out)["remediation"]}
    assert rc == 1
    assert not rem["rdm_mem_boundary = 2744"]["verified"]
    assert rem["mmio_hole = 1352"]["recommended"]
