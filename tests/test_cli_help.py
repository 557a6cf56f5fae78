"""Each command's --help says what applies to it: the release modelled without --xen-version,
the exit statuses it uses, and where host data comes from only where it reads any."""

from __future__ import annotations

import pytest

from xlrmrr.cli import main

HOST_DATA = "host data comes from /sys/firmware/acpi/tables/DMAR"
RECORDED = ("default: the release the host data was collected under (--snapshot, or xen_version "
            "in --host-json), else the running hypervisor's, else 4.22")


def help_text(capsys, monkeypatch, command: str) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


# create, check and pci-attach go through hostargs.host_and_version and host.run checks
# host.xen_version before running_xen_version(): the recorded release comes first there.
@pytest.mark.parametrize("command, default, host_data, three", [
    ("cfg", "default: the running hypervisor's release, else 4.22", False, False),
    ("dmar", "accepted and ignored here", False, False),
    ("host", RECORDED, True, False),
    ("create", RECORDED, True, True),
    ("check", RECORDED, True, True),
    ("pci-attach", RECORDED, True, True),
])
def test_help_applies_to_the_command(capsys, monkeypatch, command, default, host_data, three):
    out = help_text(capsys, monkeypatch, command)
    flat = " ".join(out.split())
    start = flat.index("--xen-version X.Y[.Z] model")
    entry = flat[start:flat.index(" --json print one", start)]
    assert entry.endswith(default if default != "accepted and ignored here" else
                          "accepted and ignored here: the decoding and its findings are the "
                          "same for every release")
    assert (HOST_DATA in out) is host_data
    assert ("\n  3  " in out) is three
    assert "exit status (every command)" not in out


def test_cfg_and_dmar_exit_statuses(capsys, monkeypatch):
    assert " ".join(help_text(capsys, monkeypatch, "cfg").split()).endswith(
        "exit status: 0 xl would accept the file, 2 it would not, or bad input or usage.")
    assert " ".join(help_text(capsys, monkeypatch, "dmar").split()).endswith(
        "exit status: 0 the table was decoded (firmware bugs are reported, not failed), 2 bad "
        "input or usage.")


def test_create_without_arguments_names_only_the_config(capsys):
    # The config may come as an operand or as xl's -f FILE, anywhere on the line, so argparse
    # does not require the operand; create says what is missing in one line, exit 2.
    assert main(["create"]) == 2
    err = capsys.readouterr().err
    assert err == ("xlrmrr create: error: give the guest's config: GUEST.cfg, a name under "
                   "/etc/xen, or -f FILE (xl create itself exits 6: 'Config file not "
                   "specified')\n")
