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


def _loaded_modules(*argv: str) -> set:
    """The modules a fresh `python -m xlrmrr ARGV` process has loaded when it ends."""
    code = ("import sys, runpy, os\n"
            "os._exit_orig = os._exit\n"
            "def _exit(status):\n"
            "    sys.stderr.write('MODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n"
            "    sys.stderr.flush()\n"
            "    os._exit_orig(status)\n"
            "os._exit = _exit\n"
            f"sys.argv = ['xlrmrr', *{list(argv)!r}]\n"
            "runpy.run_module('xlrmrr', run_name='__main__')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    line = next(x for x in r.stderr.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


def test_start_up_loads_only_what_the_command_needs():
    """Start-up time matters (this runs before every xl create): the main job and cfg must not
    load modules only other paths need. shutil (with bz2/lzma/zlib) comes with argparse's
    default formatter, tempfile with file writing, typing with a NoReturn annotation, ply.yacc
    with building parse tables, json with --json output; a well-formed config is read by the
    parser's fast path, without ply, and its values shown without json."""
    fixtures = "fixtures/guests/igd-passthrough.cfg"
    create = _loaded_modules("create", fixtures, "--dry-run", "--dmar",
                             "fixtures/dmar/laptop-typical.bin")
    assert "xlrmrr.hypervisor" in create     # the check sees a real run
    assert create & {"shutil", "tempfile", "ply.yacc", "json", "xlrmrr.hostcheck", "xlrmrr.hotplug",
                     "xlrmrr.acpi.readers"} == set()
    cfg = _loaded_modules("cfg", "fixtures/guests/small.cfg")
    assert "xlrmrr.xlcfg.parser" in cfg
    assert cfg & {"shutil", "tempfile", "typing", "ply.yacc", "construct", "xlrmrr.driver",
                  "ply.lex", "json"} == set()


def test_bad_release_is_reported_before_any_file_is_read(capsys):
    """--xen-version is a usage error of its own: named first, not hidden behind a missing file."""
    assert main(["create", "fixtures/guests/small.cfg", "--dry-run", "--xen-version", "9.9",
                 "--host-json", "/nonexistent"]) == 2
    assert "Xen 9.9 is not modelled" in capsys.readouterr().err


def test_exit_3_means_one_device_not_every_device():
    from xlrmrr.cli import EPILOGS

    for command in ("create", "check"):
        assert "3  " in EPILOGS[command]
        line = next(x for x in EPILOGS[command].splitlines() if x.startswith("  3"))
        assert "an RMRR of an assigned device is not honoured" in line, line
