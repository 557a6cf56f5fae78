"""The JSON contract's schemas (xlrmrr/schemas/, docs/json.md): one file per command, valid
JSON Schema, shipped in the package, and strict enough to catch the changes that would bump
schema_version. (tests/conftest.py validates every object the other tests print.)"""

from __future__ import annotations

import copy
import json

import pytest
from conftest import FIXTURES, REPO
from json_schemas import SCHEMAS, problems, schema

from xlrmrr.cli import main
from xlrmrr.report.document import COMMANDS, SCHEMA_VERSION


def run_json(capsys, *argv) -> tuple[str, dict]:
    main(list(argv))
    out = capsys.readouterr().out
    return out, json.loads(out)


def test_one_schema_per_command_and_a_variant_per_object_kind():
    files = {p.name for p in SCHEMAS.iterdir() if p.name.endswith(".json")}
    assert files == {f"{name}.json" for name in COMMANDS}
    for name, commands in COMMANDS.items():
        data = schema(name)
        consts = {data["$defs"][r["$ref"].split("/")[-1]]["properties"]["command"].get("const")
                  for r in data["oneOf"]}
        assert consts == set(commands) | {None}, name
        assert data["$defs"]["error"]["properties"]["command"] == {"type": ["string", "null"]}
        for r in data["oneOf"]:
            assert data["$defs"][r["$ref"].split("/")[-1]]["properties"]["schema_version"] == \
                {"const": SCHEMA_VERSION}


def test_schemas_are_in_the_source_tree_the_package_ships():
    """setup.cfg's package_data names them, so the wheel and the Debian package carry them."""
    assert "schemas/*.json" in (REPO / "setup.cfg").read_text()
    assert sorted(p.name for p in (REPO / "xlrmrr" / "schemas").glob("*.json")) == \
        sorted(f"{name}.json" for name in COMMANDS)


@pytest.fixture
def plan(capsys):
    """A real create object: the IGD guest on the laptop (it starts, so it has an e820)."""
    text, obj = run_json(capsys, "create", str(FIXTURES / "guests/igd-passthrough.cfg"),
                         "--dry-run", "--json", "--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
                         "--host-json", str(FIXTURES / "hosts/laptop.json"))
    assert obj["verdict"] == "ok" and obj["e820"] and problems("create", text) == []
    return obj


def _why(obj) -> list[str]:
    return problems(obj["command"], json.dumps(obj))


def test_what_would_bump_schema_version_fails_validation(plan):
    """docs/json.md#schema_version: a key removed or renamed, a value of another type, a new
    word in a fixed set; each is a schema failure naming the key."""
    p = copy.deepcopy(plan)
    del p["lowmem_end"]
    assert any("'lowmem_end' is a required property" in w for w in _why(p))

    p = copy.deepcopy(plan)
    p["lowmem_end"] = hex(p["lowmem_end"])
    assert any(w.startswith("create: /lowmem_end:") for w in _why(p))

    p = copy.deepcopy(plan)
    p["verdict"] = "maybe"
    assert any(w.startswith("create: /verdict:") for w in _why(p))

    p = copy.deepcopy(plan)
    p["e820"][0]["type"] = 1
    assert any(w.startswith("create: /e820/0/type:") for w in _why(p))

    p = copy.deepcopy(plan)
    p["e820"][0]["end"] = p["e820"][0]["start"] + p["e820"][0]["size"]
    assert any("/e820/0" in w and "'end' was unexpected" in w for w in _why(p))

    p = copy.deepcopy(plan)
    p["findings"][0]["severity"] = "fatal"
    assert any(w.startswith("create: /findings/0/severity:") for w in _why(p))

    p = copy.deepcopy(plan)
    p["schema_version"] = SCHEMA_VERSION + 1
    assert _why(p)


def test_an_unknown_e820_type_is_named_by_number(plan):
    """common.E820Entry.to_json names a type outside Xen's five TYPE_N."""
    p = copy.deepcopy(plan)
    p["e820"][0]["type"] = "TYPE_12"
    assert _why(p) == []
    p["e820"][0]["type"] = "TYPE_x"
    assert _why(p)


def test_the_error_object_validates_for_every_command_and_a_usage_error(capsys):
    for argv, command in ((["cfg", "/nonexistent.cfg", "--json"], "cfg"),
                          (["create", "/nonexistent.cfg", "--dry-run", "--json"], "create"),
                          (["dmar", "/nonexistent.bin", "--json"], "dmar"),
                          (["--json", "--bogus"], None)):
        with pytest.raises(SystemExit) if command is None else _nothing():
            main(argv)
        out = capsys.readouterr().out
        obj = json.loads(out)
        assert obj["command"] == command and problems(command, out) == []
        if command == "create":
            assert obj["ok"] is False and obj["exit_status"] == 2
            bad = dict(obj, exit_status=1)
            assert problems(command, json.dumps(bad))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_dmar_structures_have_the_fields_of_their_type(capsys):
    """A DMAR structure's fields depend on its type (docs/json.md): an RMRR carries its range,
    a DRHD none; a DRHD with an RMRR's base_address is refused."""
    text, obj = run_json(capsys, "dmar", str(FIXTURES / "dmar/laptop-typical.bin"), "--json")
    assert problems("dmar", text) == []
    drhd = next(i for i, s in enumerate(obj["structures"]) if s["type_name"] == "DRHD")
    obj["structures"][drhd]["base_address"] = 0xAB800000
    assert problems("dmar", json.dumps(obj))
