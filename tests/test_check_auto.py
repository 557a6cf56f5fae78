"""Guests as administrators keep them (issue 15 item 4) and the xendomains drop-in (issue 10
item 4): `check DIR`, `check --auto` (XENDOMAINS_AUTO as tools/hotplug/Linux/xendomains.in
sources it, every file of `$XENDOMAINS_AUTO/*`), names under /etc/xen for check and create,
all below a fake root (--root) holding /etc and a fake /sys."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest
from conftest import FIXTURES, REPO
from test_host_snapshot_tree import fake_sys

from xlrmrr.cli import main

DMAR = FIXTURES / "dmar" / "laptop-typical.bin"
HOST = ["--dmar", str(DMAR), "--host-json", str(FIXTURES / "hosts" / "laptop.json")]
GUESTS = FIXTURES / "guests"


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _root(tmp_path, xendomains: str | None, where="default", auto=("igd-passthrough.cfg",)):
    root = tmp_path / "root"
    fake_sys(str(root), DMAR.read_bytes(), "laptop")
    if xendomains is not None:
        conf = root / "etc" / where / "xendomains"
        conf.parent.mkdir(parents=True)
        conf.write_text(xendomains)
    return root


def _put(directory, names):
    directory.mkdir(parents=True, exist_ok=True)
    for n in names:
        (directory / n).write_bytes((GUESTS / n).read_bytes())


def test_check_dir_plans_every_cfg(capsys, tmp_path):
    d = tmp_path / "guests"
    _put(d, ["small.cfg", "igd-passthrough.cfg"])
    (d / "notes.txt").write_text("not a guest\n")
    (d / ".hidden.cfg").write_text("junk\n")
    rc, out, err = run(capsys, "check", d, *HOST, "--json")
    assert rc == 0, err
    import json
    doc = json.loads(out)
    assert [g["config"] for g in doc["guests"]] == [str(d / "igd-passthrough.cfg"), str(d / "small.cfg")]
    assert "2 config(s): igd-passthrough.cfg, small.cfg" in err


def test_check_dir_without_cfg_is_exit_2(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    rc, _out, err = run(capsys, "check", tmp_path / "empty", *HOST)
    assert rc == 2 and "no *.cfg file" in err


@pytest.mark.parametrize("conf, where, auto_dir", [
    (None, "default", "etc/xen/auto"),                                   # no config: default
    ("# nothing set\n", "default", "etc/xen/auto"),
    ('XENDOMAINS_AUTO=/srv/xen/auto\n', "default", "srv/xen/auto"),      # Debian
    ('XENDOMAINS_AUTO="/srv/xen/auto"\n', "sysconfig", "srv/xen/auto"),  # RPM systems
    ("XENDOMAINS_AUTO=/a\nexport XENDOMAINS_AUTO='/srv/xen/auto'  # last wins\n", "default",
     "srv/xen/auto"),
])
def test_auto_reads_xendomains_auto(capsys, tmp_path, conf, where, auto_dir):
    root = _root(tmp_path, conf, where)
    # every file, as `for dom in $XENDOMAINS_AUTO/*`: "vm1" has no .cfg suffix
    _put(root / auto_dir, ["small.cfg"])
    (root / auto_dir / "vm1").write_bytes((GUESTS / "usb-strict-boundary.cfg").read_bytes())
    rc, out, err = run(capsys, "check", "--auto", "--root", root)
    assert rc == 1, err                       # usb-strict is blocked (RDM conflict at 0xab80a000)
    assert f"2 guest(s) xendomains starts, from {root / auto_dir}" in err
    assert "small.cfg, vm1" in err
    assert "usb-strict" in out


def test_auto_empty_setting_starts_nothing(capsys, tmp_path):
    root = _root(tmp_path, 'XENDOMAINS_AUTO=""\n')
    rc, out, err = run(capsys, "check", "--auto", "--root", root)
    assert (rc, out) == (0, "")
    assert "sets XENDOMAINS_AUTO empty" in err and "no guest to check" in err


def test_auto_value_needing_the_shell_is_refused(capsys, tmp_path):
    root = _root(tmp_path, 'XENDOMAINS_AUTO=$XEN_DIR/auto\n')
    rc, _out, err = run(capsys, "check", "--auto", "--root", root)
    assert rc == 2 and "xendomains:1: XENDOMAINS_AUTO needs the shell" in err


def test_names_under_etc_xen(capsys, tmp_path, monkeypatch):
    root = _root(tmp_path, None)
    _put(root / "etc" / "xen", ["small.cfg"])
    (root / "etc" / "xen" / "igd").write_bytes((GUESTS / "igd-passthrough.cfg").read_bytes())
    monkeypatch.chdir(tmp_path)
    rc, _out, err = run(capsys, "check", "small", "igd", "--root", root)
    assert rc == 0, err
    assert f"small is not a file here; using {root}/etc/xen/small.cfg" in err
    assert f"igd is not a file here; using {root}/etc/xen/igd" in err
    assert "xl itself reads only the path it is given" in err
    rc, _out, err = run(capsys, "check", "nosuch", "--root", root)
    assert rc == 2 and f"neither {root}/etc/xen/nosuch.cfg nor {root}/etc/xen/nosuch exists" in err


def test_create_name_hands_xl_the_file_used(capsys, tmp_path, monkeypatch):
    from test_xl_wrapper import FakeXl

    xl = FakeXl(tmp_path, monkeypatch, "0")
    root = _root(tmp_path, None)
    _put(root / "etc" / "xen", ["igd-passthrough.cfg"])
    monkeypatch.chdir(tmp_path)
    rc, _out, err = run(capsys, "create", "igd-passthrough", "--root", root)
    assert rc == 0, err
    used = f"{root}/etc/xen/igd-passthrough.cfg"
    assert xl.argv == ["create", used]
    assert err.splitlines()[0] == (f"xlrmrr create: igd-passthrough is not a file here; using {used} "
                                   f"(xl itself reads only the path it is given, so xlrmrr gives "
                                   f"it this one)")


def _systemd_exec_start_pre(unit: str, env: dict) -> tuple[bool, list[str]]:
    """(failure ignored, argv) of the one ExecStartPre=, as systemd reads it: a leading "-"
    ignores the exit status; an unbraced $VAR is split at whitespace into words, an unset one
    expands to nothing (systemd.service(5), "Command lines")."""
    lines = [ln.split("=", 1)[1] for ln in unit.splitlines() if ln.startswith("ExecStartPre=")]
    assert len(lines) == 1
    cmd = lines[0]
    ignore = cmd.startswith("-")
    argv = []
    for word in shlex.split(cmd.lstrip("-")):
        if word.startswith("$"):
            argv += env.get(word[1:], "").split()
        else:
            argv.append(word)
    return ignore, argv


def _environment_file(text: str) -> dict:
    out = {}
    for ln in text.splitlines():
        ln = ln.strip()
        if ln and not ln.startswith("#") and "=" in ln:
            k, v = ln.split("=", 1)
            out[k] = shlex.split(v)[0] if v else ""
    return out


def test_xendomains_dropin_warns_on_a_failing_guest(tmp_path):
    unit = (REPO / "contrib" / "xendomains" / "xlrmrr.conf").read_text()
    assert "[Service]" in unit and "EnvironmentFile=-/etc/default/xlrmrr" in unit
    root = _root(tmp_path, "XENDOMAINS_AUTO=/etc/xen/auto\n")
    auto = root / "etc" / "xen" / "auto"
    _put(auto, ["small.cfg", "usb-strict-boundary.cfg"])
    before = {p.name: p.read_bytes() for p in auto.iterdir()}
    # the host args come from /etc/default/xlrmrr, as systemd's EnvironmentFile reads them
    env = _environment_file(f'XLRMRR_HOST_ARGS="--root {root}"\n')
    ignore, argv = _systemd_exec_start_pre(unit, env)
    assert ignore                                  # policy: warn, xendomains still starts
    assert argv[:3] == ["/usr/bin/xlrmrr", "check", "--auto"]
    r = subprocess.run([sys.executable, "-m", "xlrmrr", *argv[1:]], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 1, r.stderr            # would fail the unit without the "-"
    assert "usb-strict" in r.stdout and "2 guest(s) xendomains starts" in r.stderr
    assert {p.name: p.read_bytes() for p in auto.iterdir()} == before     # nothing moved
    # without /etc/default/xlrmrr the check reads this machine's /sys (no --root): the word
    # list is exactly the command
    assert _systemd_exec_start_pre(unit, {})[1] == ["/usr/bin/xlrmrr", "check", "--auto"]
