"""The shipped JSON Schemas (xlrmrr/schemas/COMMAND.json) and a validator for every object a
command prints (docs/json.md). tests/conftest.py runs it on each object made during a test."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

import jsonschema

from xlrmrr.report.document import COMMANDS

# Read from the package as installed (tox, pybuild): the schemas that ship.
SCHEMAS = files("xlrmrr") / "schemas"


def schema_file(command: str | None) -> str:
    """The schema that describes objects of `command` (a usage error's object, command null,
    is in every file: the create schema is used)."""
    if command is None:
        return "create"
    return next(name for name, commands in COMMANDS.items() if command in commands)


@cache
def schema(name: str) -> dict:
    data = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(data).check_schema(data)
    return data


@cache
def validator(name: str, variant: str | None = None) -> jsonschema.protocols.Validator:
    """The file's validator, or one for a single variant of it (its $defs entry), whose errors
    name the key at fault rather than every variant that did not match."""
    data = schema(name)
    if variant is not None:
        data = {"$schema": data["$schema"], "$ref": f"#/$defs/{variant}", "$defs": data["$defs"]}
    return jsonschema.validators.validator_for(data)(data)


def variant(obj: dict) -> str:
    if set(obj) == {"schema_version", "command", "ok", "error", "exit_status"}:
        return "error"
    return str(obj.get("command")).replace(" ", "_").replace("--", "")


def problems(command: str | None, text: str) -> list[str]:
    """Why the object printed as `text` does not match its command's schema ([] when it does).
    An object nested too deeply for Python's json module (a fuzzed config's list of lists) is
    checked for its top-level keys only."""
    try:
        obj = json.loads(text)
    except RecursionError:
        return [] if text.startswith('{"schema_version": 1, "command": "cfg"') else [
            f"{command}: nested too deeply to read back"]
    if obj.get("command") != command:
        return [f"command {obj.get('command')!r} printed for {command!r}"]
    name = schema_file(command)
    errors = list(validator(name).iter_errors(obj))
    if errors and variant(obj) in schema(name)["$defs"]:
        errors = list(validator(name, variant(obj)).iter_errors(obj)) or errors
    errors.sort(key=lambda e: list(map(str, e.absolute_path)))
    return [f"{command}: /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors]
