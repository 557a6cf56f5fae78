import subprocess
import sys

from xlrmrr.cli import main


def test_help_lists_every_command(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    for cmd in ("cfg", "dmar", "host", "create", "check", "pci-attach"):
        assert cmd in out


def test_bad_usage_is_exit_2():
    r = subprocess.run([sys.executable, "-m", "xlrmrr", "no-such-command"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_no_command_is_exit_2(capsys):
    assert main([]) == 2


def test_empty_xen_version_is_refused(capsys, tmp_path):
    """--xen-version "" is a usage error, not a silent fall-back to the default release."""
    path = tmp_path / "g.cfg"
    path.write_text('name = "g"\n')
    assert main(["cfg", str(path), "--xen-version", ""]) == 2
    err = capsys.readouterr().err
    assert err == "xlrmrr cfg: error: --xen-version: '' is not a Xen release such as 4.17 or " \
                  "4.16.1\n"
