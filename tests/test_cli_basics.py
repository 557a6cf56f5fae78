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
