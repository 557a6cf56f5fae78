"""The libvirt hook run exactly as libvirtd runs it: contrib/libvirt/50-xlrmrr with argv
`NAME OPERATION SUBOPERATION EXTRA`, the domain XML on stdin, and the clean environment
virCommandAddEnvPassCommon gives (PATH, LC_ALL=C); `xlrmrr` on PATH is a wrapper that runs this
worktree's `python -m xlrmrr`."""

import os
import subprocess
import sys

import pytest
from conftest import FIXTURES, REPO

from xlrmrr.common import InputError
from xlrmrr.integration.libvirt import read_defaults

HOOK = REPO / "contrib/libvirt/50-xlrmrr"
LV = FIXTURES / "libvirt"
LAPTOP = f"--dmar {FIXTURES}/dmar/laptop-typical.bin --host-json {FIXTURES}/hosts/laptop.json"
ABOVE_4G = f"--dmar {FIXTURES}/dmar/rmrr-above-4g.bin"


@pytest.fixture
def bindir(tmp_path):
    b = tmp_path / "bin"
    b.mkdir()
    w = b / "xlrmrr"
    w.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m xlrmrr \"$@\"\n")
    w.chmod(0o755)
    return b


def hook(args, stdin: bytes, path, cwd=None, **env):
    base = {"PATH": f"{path}:/usr/bin:/bin", "LC_ALL": "C",
            "XLRMRR_DEFAULTS": "/nonexistent/xlrmrr"}
    base.update(env)
    return subprocess.run([str(HOOK), *args], input=stdin, capture_output=True,
                          env=base, timeout=120, cwd=cwd)


def xml(name):
    return (LV / f"{name}.xml").read_bytes()


def test_script_is_executable_sh():
    assert os.access(HOOK, os.X_OK) and HOOK.read_text().startswith("#!/bin/sh\n")


def test_blocked_guest_aborts_the_start_with_one_paragraph(bindir):
    r = hook(["igd-efi", "prepare", "begin", "-"], xml("igd-efi"), bindir,
             XLRMRR_HOST_ARGS=ABOVE_4G)
    assert r.returncode == 1 and r.stdout == b""
    err = r.stderr.decode()
    assert err.count("\n") == 1, err        # one paragraph: one line, as libvirt logs it
    assert err.startswith("xlrmrr: domain 'igd-efi' would fail to start on Xen 4.22: [libxl] "
                          "RDM conflict at 0x480000000.")
    # the recommended XML change; relaxing the IGD's RMRR is never proposed (remedies.rank)
    assert "What to change in the domain XML: <memory unit='MiB'>18184</memory>" in err
    assert "rdm_policy=relaxed" not in err


def test_fine_guest_starts_silently(bindir):
    r = hook(["usb-hvm", "prepare", "begin", "-"], xml("usb-hvm"), bindir, XLRMRR_HOST_ARGS=LAPTOP)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


def test_shared_rmrr_cannot_be_fixed_in_xml(bindir):
    r = hook(["usb-shared", "prepare", "begin", "-"], xml("usb-shared"), bindir,
             XLRMRR_HOST_ARGS=f"--dmar {FIXTURES}/dmar/usb-shared.bin "
                              f"--host-json {FIXTURES}/hosts/laptop.json")
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "shared RMRR at ab80a000" in err and "No change of the domain XML fixes it" in err


@pytest.mark.parametrize("op", [("start", "begin"), ("started", "begin"), ("stopped", "end"),
                                ("release", "end"), ("migrate", "begin"), ("reconnect", "begin"),
                                ("prepare", "end")])
def test_other_operations_exit_0_without_running_xlrmrr(tmp_path, op):
    # no xlrmrr on PATH and junk on stdin: only the shell script itself runs
    r = hook(["g", *op, "-"], b"not xml", tmp_path / "empty")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


def test_other_operations_exit_0_in_the_command_too(bindir):
    r = subprocess.run([str(bindir / "xlrmrr"), "libvirt-hook", "g", "started", "begin", "-"],
                       input=b"junk", capture_output=True, timeout=60)
    assert (r.returncode, r.stderr) == (0, b"")


def test_guest_without_devices_needs_no_host_data(bindir):
    r = hook(["pvh-guest", "prepare", "begin", "-"], xml("pvh"), bindir,
             XLRMRR_HOST_ARGS="--dmar /nonexistent")
    assert (r.returncode, r.stderr) == (0, b"")


def test_defaults_file_and_environment_override(bindir, tmp_path):
    defaults = tmp_path / "xlrmrr"
    defaults.write_text(f'# host data\nXLRMRR_HOST_ARGS="{ABOVE_4G}"\n')
    r = hook(["igd-efi", "prepare", "begin", "-"], xml("igd-efi"), bindir,
             XLRMRR_DEFAULTS=str(defaults))
    assert r.returncode == 1 and f"XLRMRR_HOST_ARGS in {defaults}" in r.stderr.decode()
    # the environment wins: on the laptop host the same guest's IGD RMRR is below 4 GiB
    r = hook(["igd-efi", "prepare", "begin", "-"], xml("igd-efi"), bindir,
             XLRMRR_DEFAULTS=str(defaults), XLRMRR_HOST_ARGS=LAPTOP)
    assert (r.returncode, r.stderr) == (0, b"")


def test_broken_defaults_file_is_named_with_its_line(bindir, tmp_path):
    defaults = tmp_path / "xlrmrr"
    defaults.write_text("# ok\nXLRMRR_HOST_ARGS=--dmar /x --snapshot /y\n")
    r = hook(["igd-efi", "prepare", "begin", "-"], xml("igd-efi"), bindir,
             XLRMRR_DEFAULTS=str(defaults))
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and f"{defaults}:2: expected NAME=VALUE" in err
    assert "libvirt does not start it" in err


def test_bad_host_args_and_bad_xml(bindir):
    r = hook(["igd-efi", "prepare", "begin", "-"], xml("igd-efi"), bindir,
             XLRMRR_HOST_ARGS="--dmarr x")
    assert r.returncode == 2 and "$XLRMRR_HOST_ARGS: '--dmarr' is not a host option" in r.stderr.decode()
    r = hook(["x", "prepare", "begin", "-"], b"<domain type='xen'>\n<name>x", bindir,
             XLRMRR_HOST_ARGS=LAPTOP)
    assert r.returncode == 2 and "(XML on stdin):2: not well-formed XML" in r.stderr.decode()


def test_xlrmrr_missing_from_path_blocks_prepare(tmp_path):
    import shutil

    if shutil.which("xlrmrr", path="/usr/local/bin:/usr/bin:/bin"):
        pytest.skip("an xlrmrr is installed on this machine (the hook finds it on PATH)")
    r = hook(["g", "prepare", "begin", "-"], xml("usb-hvm"), tmp_path / "empty")
    assert r.returncode == 2 and b"the xlrmrr command is not installed" in r.stderr


def test_shipped_defaults_file_is_all_comments_and_its_example_parses():
    text = (REPO / "contrib/default/xlrmrr").read_text()
    assert read_defaults("f", text) == {}
    example = next(line for line in text.splitlines() if "--snapshot" in line)
    assert read_defaults("f", example.lstrip("# ")) == {
        "XLRMRR_HOST_ARGS": "--snapshot /var/lib/xlrmrr/host.tar.gz"}


@pytest.mark.parametrize("line,value", [("export A='x y'", "x y"), ('A="a \\"b\\""', 'a "b"'),
                                        ("A=", ""), ("A=x # note", "x")])
def test_read_defaults_shell_words(line, value):
    assert read_defaults("f", line) == {"A": value}


def test_read_defaults_rejects_what_the_shell_would_not_assign():
    for bad in ("A = x", "A=x y", "echo hi", "A='x"):
        with pytest.raises(InputError, match="^f:1: "):
            read_defaults("f", bad)


def test_old_single_file_hook_calling_the_script(bindir, tmp_path):
    """libvirt < 6.5 runs /etc/libvirt/hooks/libxl only: the README's way of calling the script
    from it keeps the verdict (and reads stdin once)."""
    old = tmp_path / "libxl"
    old.write_text(f'#!/bin/sh\nxml=$(cat)\nprintf \'%s\\n\' "$xml" | {HOOK} "$@" || exit $?\n')
    old.chmod(0o755)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "XLRMRR_DEFAULTS": "/nonexistent",
           "XLRMRR_HOST_ARGS": ABOVE_4G}
    r = subprocess.run([str(old), "igd-efi", "prepare", "begin", "-"], input=xml("igd-efi"),
                       capture_output=True, env=env, timeout=120)
    assert r.returncode == 1 and b"RDM conflict at 0x480000000." in r.stderr


def test_readme_shows_the_real_paragraph(bindir):
    readme = (REPO / "README.md").read_text()
    shown = next(line.strip() for line in readme.splitlines()
                 if line.startswith("    xlrmrr: domain 'igd-efi'"))
    r = hook(["igd-efi", "prepare", "begin", "-"], xml("igd-efi"), bindir,
             cwd=REPO, XLRMRR_HOST_ARGS="--dmar fixtures/dmar/rmrr-above-4g.bin")
    assert r.stderr.decode().strip() == shown
