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
    assert json.loads(out) == {"schema_version": 1, "command": argv[0], "ok": False,
                               "error": message, "exit_status": 2}


def test_without_json_stdout_stays_empty(capsys, tmp_path):
    assert main(["host", "--dmar", str(tmp_path / "missing.bin")]) == 2
    assert capsys.readouterr().out == ""


def test_cfg_keeps_its_own_object(capsys, tmp_path):
    missing = tmp_path / "missing.cfg"
    assert main(["cfg", str(missing), "--json"]) == 2
    out, _ = capsys.readouterr()
    assert out.count("\n") == 1
    doc = json.loads(out)
    assert doc["ok"] is False and "error" not in doc and doc["command"] == "cfg"
    assert doc["findings"][0]["code"] == "unreadable"


def test_cfg_domain_xml_libvirt_refuses_is_one_object(capsys):
    # It printed cfg's object and then main()'s error object as well: two lines of JSON.
    xml = FIXTURES / "libvirt" / "bad-doctype.xml"
    assert main(["cfg", str(xml), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and err.count("\n") == 1
    doc = json.loads(out)
    assert doc["format"] == "libvirt-domain-xml" and doc["ok"] is False
    assert [f["code"] for f in doc["findings"]] == ["libvirt-xml"]


@pytest.mark.parametrize("argv, message, command", [
    (["dmar", "--json", "--bogus"], "xlrmrr: unrecognized arguments: --bogus", "dmar"),
    (["create", "--json", "--xen-version"],
     "xlrmrr create: argument --xen-version: expected one argument", "create"),
    (["host", "diff", "--json", "--bogus"], "xlrmrr: unrecognized arguments: --bogus",
     "host diff"),
    (["create", "--fix", "--json", "--bogus"], "xlrmrr: unrecognized arguments: --bogus",
     "create --fix"),
    (["--json", "--bogus"], "xlrmrr: unrecognized arguments: --json --bogus", None),
])
def test_usage_error_with_json_prints_the_error_object(capsys, argv, message, command):
    # `command` names the object the run would have printed: host's action and create's --fix
    # print objects of their own shape (docs/json.md); None before any command.
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    out, err = capsys.readouterr()
    assert json.loads(out) == {"schema_version": 1, "command": command, "ok": False,
                               "error": message, "exit_status": 2}
    assert err.startswith("usage: ") and err.endswith(f"error: {message.split(': ', 1)[1]}\n")


def test_create_without_a_config_with_json_prints_the_error_object(capsys):
    # the config may also come as xl's -f FILE anywhere, so its absence is create's own error
    assert main(["create", "--json"]) == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert out.count("\n") == 1 and doc["command"] == "create"
    assert doc["ok"] is False and doc["exit_status"] == 2 and "-f FILE" in doc["error"]
    assert err.startswith("xlrmrr create: error: give the guest's config")
