"""Every JSON object xlrmrr prints (each command's --json, the error object of a failed --json
run, --emit's plan.json) is made here: stamped with schema_version and the command that printed
it, then serialised. docs/json.md is the contract; xlrmrr/schemas/COMMAND.json describes each
command's objects exactly, and the tests validate every object printed against them."""

from __future__ import annotations

# The version of the JSON contract (docs/json.md#schema_version): bumped when a key is removed or
# renamed, or a value changes type, unit or meaning; not for a new key.
SCHEMA_VERSION = 1

# The `command` of each object: the command, and the action or option where it prints an object
# of another shape. Each command's schema (xlrmrr/schemas/) describes its objects, and the error
# object. libvirt-hook prints no JSON.
COMMANDS = {"cfg": ("cfg",), "dmar": ("dmar",), "host": ("host", "host snapshot", "host diff"),
            "create": ("create", "create --fix"), "check": ("check",),
            "pci-attach": ("pci-attach",), "explain": ("explain",), "upgrade": ("upgrade",)}

# Called with (command, text) for every object made (tests/conftest.py validates each against
# its schema); None otherwise.
observer = None


def pages(entry: tuple[int, int]) -> dict:
    """A XENMEM_reserved_device_memory_map entry (struct xen_reserved_device_memory): Xen's
    fields, in pages."""
    return {"start_pfn": entry[0], "nr_pages": entry[1]}


def document(command: str, body: dict) -> dict:
    """The object a command prints: schema_version and command first, then the body's keys."""
    return {"schema_version": SCHEMA_VERSION, "command": command, **body}


def dumps(command: str, body: dict, *, indent: int | None = None, sort_keys: bool = False,
          ensure_ascii: bool = True) -> str:
    """The object as the text printed: one JSON value and a newline."""
    import json

    text = json.dumps(document(command, body), indent=indent, sort_keys=sort_keys,
                      ensure_ascii=ensure_ascii) + "\n"
    return made(command, text)


def made(command: str, text: str) -> str:
    """Every object's text passes here (also those built as text: cfg's)."""
    if observer is not None:
        observer(command, text)
    return text


def error(message: str, command: str | None = None, exit_status: int = 2) -> str:
    """The object printed when bad input or a usage error ends a --json run (exit status 2):
    a script reading stdout always gets one object. command: as far as it was read (None for
    a usage error before it)."""
    return dumps(command, {"ok": False, "error": message, "exit_status": exit_status})
