"""--json and bad input: stdout carries one error object (exit status 2, the stderr line kept),
so a script reading stdout never gets nothing; cfg keeps its own object."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main

CFG = FIXTURES / "guests" / "small.cfg"


@pytest.mark.parametrize("argv", [
    ["dmar", "{missing}"],
    ["host", "--dmar", "{missing}"],
    ["check", str(CFG), "--dmar", "{missing}"],
    ["pci-attach", str(CFG), "00:14.0", "--dry-run", "--dmar", "{missing}"],
])
def test_json_error_object(capsys, tmp_path, argv):
    missing = tmp_path / "missing.bin"
    argv = [a.replace("{missing}", str(missing)) for a in argv] + ["--json"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    message = f"{missing}: cannot read DMAR table: No such file or directory"
    assert err == f"xlrmrr {argv[0]}: error: {message}\n"
    assert out.count("\n") == 1
    assert json.loads(out) == {"ok": False, "error": message, "exit_status": 2}


def test_without_json_stdout_stays_empty(capsys, tmp_path):
    assert main(["host", "--dmar", str(tmp_path / "missing.bin")]) == 2
    assert capsys.readouterr().out == ""


def test_cfg_keeps_its_own_object(capsys, tmp_path):
    missing = tmp_path / "missing.cfg"
    assert main(["cfg", str(missing), "--json"]) == 2
    out, _ = capsys.readouterr()
    assert out.count("\n") == 1
    doc = json.loads(out)
    assert doc["ok"] is False and "error" not in doc
    assert doc["findings"][0]["code"] == "unreadable"


@pytest.mark.parametrize("argv, message", [
    (["dmar", "--json", "--bogus"], "xlrmrr: unrecognized arguments: --bogus"),
    (["create", "--json", "--xen-version"],
     "xlrmrr create: argument --xen-version: expected one argument"),
])
def test_usage_error_with_json_prints_the_error_object(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "error": message, "exit_status": 2}
    assert err.startswith("usage: ") and err.endswith(f"error: {message.split(': ', 1)[1]}\n")


def test_create_without_a_config_with_json_prints_the_error_object(capsys):
    # the config may also come as xl's -f FILE anywhere, so its absence is create's own error
    assert main(["create", "--json"]) == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["ok"] is False and doc["exit_status"] == 2 and "-f FILE" in doc["error"]
    assert err.startswith("xlrmrr create: error: give the guest's config")
