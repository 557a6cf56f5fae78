"""Oracle: ACPICA's disassembler (`iasl -d`), normalised to the JSON `xlrmrr dmar --json` prints.

iasl writes one line per field, `[off(hex)h off(dec) len]  Field Name : value`; this turns those
lines into {signature, length, ..., structures: [{offset, type, type_name, length, ...,
scopes: [...]}]} using nothing of xlrmrr. Handles Debian's 20200925 (2-byte scope "Reserved",
DRHD byte 5 "Reserved") and newer builds (scope "Flags", "Size (decoded below)", `002h` lengths).
Where iasl stops ("Unknown DMAR subtable type", "Invalid zero length subtable", "... terminates
in the middle of a data structure", "subtable terminates early") the result says
so in `stopped`, and `structures` holds only what iasl decoded completely.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

IASL = shutil.which("iasl")
_LINE = re.compile(r"^\[([0-9A-Fa-f]+)h\s+(\d+)\s+([0-9A-Fa-f]+h?)\]\s+(.*?)\s+:\s?(.*)$")
_TYPE_NAMES = {0: "DRHD", 1: "RMRR", 2: "ATSR", 3: "RHSA", 4: "ANDD", 5: "SATC", 6: "SIDP"}
# iasl field names whose hex value goes straight to a JSON key (the rest depend on offset or type).
_SCOPE_NUMBERS = {"Entry Length": "length", "Flags": "flags", "Enumeration ID": "enumeration_id",
                  "PCI Bus Number": "bus"}
_STRUCTURE_NUMBERS = {"PCI Segment Number": "segment", "Register Base Address": "register_base",
                      "Proximity Domain": "proximity_domain", "Device Number": "device_number"}


def _hexval(v: str) -> int:
    return int(v.split()[0].replace(",", ""), 16)


def _string(v: str) -> str:
    m = re.match(r'"(.*)"', v)
    return m.group(1) if m else v


def parse_dsl(text: str) -> dict:
    """The normalised decoding of one `iasl -d` .dsl text."""
    out: dict = {"structures": [], "stopped": None, "checksum_should_be": None}
    cur = scope = None
    for line in text.splitlines():
        s = line.strip()
        if (s.startswith("**** Unknown DMAR subtable type") or "Invalid zero length subtable" in s
                or "terminates in the middle of a data structure" in s
                or "subtable terminates early" in s):
            out["stopped"] = s.strip("* ")
            if cur is not None and out["structures"] and out["structures"][-1] is cur:
                out["structures"].pop()
            break
        if s.startswith("Raw Table Data"):
            break
        m = _LINE.match(s)
        if not m:
            continue
        off = int(m.group(1), 16)
        name, value = m.group(4), m.group(5)
        cs = re.search(r"/\* Incorrect checksum, should be ([0-9A-Fa-f]+) \*/", value)
        if cs:
            out["checksum_should_be"] = int(cs.group(1), 16)
        if off == 38 and name == "Reserved":
            out["reserved"] = bytes.fromhex(value.replace(" ", ""))
            continue
        if off < 48:
            key = {"Signature": "signature", "Table Length": "length", "Revision": "revision",
                   "Checksum": "checksum", "Oem ID": "oem_id", "Oem Table ID": "oem_table_id",
                   "Oem Revision": "oem_revision", "Asl Compiler ID": "asl_compiler_id",
                   "Asl Compiler Revision": "asl_compiler_revision",
                   "Host Address Width": "host_address_width", "Flags": "flags"}.get(name)
            if key in ("signature", "oem_id", "oem_table_id", "asl_compiler_id"):
                out[key] = _string(value)
            elif key:
                out[key] = _hexval(value)
            continue
        if name == "Subtable Type":
            t = _hexval(value)
            cur = {"offset": off, "type": t, "type_name": _TYPE_NAMES.get(t, "reserved")}
            if t in (0, 1, 2, 5, 6):
                cur["scopes"] = []
            out["structures"].append(cur)
            scope = None
            continue
        if cur is None:
            continue
        if name == "Device Scope Type":
            scope = {"offset": off, "type": _hexval(value), "flags": 0, "path": []}
            cur.setdefault("scopes", []).append(scope)
            continue
        if scope is not None and off >= scope["offset"]:
            if name in _SCOPE_NUMBERS:
                scope[_SCOPE_NUMBERS[name]] = _hexval(value)
            elif name == "Reserved" and off == scope["offset"] + 2:
                scope["flags"] = _hexval(value) & 0xFF       # 20200925: Flags is Reserved's low byte
                scope["reserved"] = _hexval(value) >> 8
            elif name == "Reserved" and off == scope["offset"] + 3:
                scope["reserved"] = _hexval(value)
            elif name == "PCI Path":
                scope["path"].append([int(x, 16) for x in value.split()[0].split(",")])
            continue
        rel = off - cur["offset"]
        t = cur["type"]
        if name == "Length" and rel == 2:
            cur["length"] = _hexval(value)
        elif name == "Flags" and t in (0, 2, 5):
            cur["flags"] = _hexval(value)
        elif t == 0 and rel == 5 and (name == "Reserved" or name.startswith("Size")):
            cur["size"] = _hexval(value)
        elif name == "Reserved" and t != 0:
            cur["reserved"] = _hexval(value)
        elif name in _STRUCTURE_NUMBERS:
            cur[_STRUCTURE_NUMBERS[name]] = _hexval(value)
        elif t == 3 and name == "Base Address":
            cur["register_base"] = _hexval(value)
        elif name == "Base Address":
            cur["base"] = _hexval(value)
        elif name.startswith("End Address"):
            cur["end"] = _hexval(value)
        elif name == "Device Name":
            cur["device_name"] = _string(value)
    return out


def disassemble(data: bytes, workdir: str, stem: str = "t") -> tuple[str, str]:
    """Run `iasl -d` on the bytes; (dsl text or "", iasl's console output)."""
    path = os.path.join(workdir, stem + ".bin")
    with open(path, "wb") as f:
        f.write(data)
    proc = subprocess.run([IASL, "-d", stem + ".bin"], cwd=workdir, capture_output=True,
                          text=True, timeout=60)
    dsl = os.path.join(workdir, stem + ".dsl")
    text = ""
    if os.path.exists(dsl):
        with open(dsl, encoding="latin-1") as f:
            text = f.read()
    return text, proc.stdout + proc.stderr


def iasl_decode_many(tables: dict[str, bytes], workers: int = 2) -> dict[str, dict]:
    """{name: normalised iasl decoding} for many tables, each in its own temporary directory."""
    def one(item):
        name, data = item
        with tempfile.TemporaryDirectory(prefix="xlrmrr-iasl-") as tmp:
            text, console = disassemble(data, tmp)
        res = parse_dsl(text) if text else {"structures": [], "stopped": console.strip()}
        return name, res

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, sorted(tables.items())))


def comparable(ours: dict, theirs: dict) -> tuple[dict, dict]:
    """Both decodings cut to what iasl decoded completely (iasl stops at types it does not
    know: SATC and SIDP for Debian's 20200925), with the fields `xlrmrr dmar --json` prints
    (reserved fields are compared separately, see reserved_fields)."""
    n = len(theirs["structures"])
    ours = dict(ours, structures=ours["structures"][:n])
    for k in ("oem_id", "oem_table_id", "asl_compiler_id"):
        # iasl prints a non-printable byte of an ID as a space (AcpiUtCheckAndRepairAscii)
        ours[k] = "".join(c if " " <= c <= "~" else " " for c in ours[k])
    keys = [k for k in ("signature", "length", "revision", "checksum", "oem_id", "oem_table_id",
                        "oem_revision", "asl_compiler_id", "asl_compiler_revision",
                        "host_address_width", "flags", "structures")]
    def strip(st: dict) -> dict:
        st = {k: v for k, v in st.items() if k != "reserved"}
        if "scopes" in st:
            st["scopes"] = [{k: v for k, v in sc.items() if k != "reserved"}
                            for sc in st["scopes"]]
        return st

    theirs = dict(theirs, structures=[strip(st) for st in theirs["structures"]])
    return {k: ours.get(k) for k in keys}, {k: theirs.get(k) for k in keys}


def reserved_fields(theirs: dict) -> list:
    """The reserved values iasl printed: [table bytes, (structure offset, value), (scope
    offset, value), ...], to compare with the decoder's dataclasses."""
    out: list = [theirs.get("reserved")]
    for st in theirs["structures"]:
        if "reserved" in st:
            out.append((st["offset"], st["reserved"]))
        for sc in st.get("scopes", ()):
            out.append((sc["offset"], sc.get("reserved", 0)))
    return out
