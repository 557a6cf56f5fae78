"""What a host-data file is, read from its content, so that a file given to the wrong option is
named for what it is ("this is acpidump text: give it with --acpidump") instead of being blamed
for failing another format's checks (an acpidump text read as a table whose Length lies)."""

from __future__ import annotations

import re

from xlrmrr.common import InputError

DMAR = "dmar"
ACPIDUMP = "acpidump"
BOOT_LOG = "boot-log"
HOST_JSON = "host-json"
SNAPSHOT = "snapshot"

WHAT = {
    DMAR: "a binary ACPI DMAR table",
    ACPIDUMP: "acpidump text",
    BOOT_LOG: "a Xen or Linux boot log",
    HOST_JSON: "JSON (a host description?)",
    SNAPSHOT: "a tar archive (an `xlrmrr host snapshot`?)",
}
OPTION = {DMAR: "--dmar", ACPIDUMP: "--acpidump", BOOT_LOG: "--xen-log",
          HOST_JSON: "--host-json", SNAPSHOT: "--snapshot"}

_SIGNATURES = (b"DMAR", b"RMAD", b"XMAR")       # RMAD/XMAR: the name Xen leaves after parsing
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_ACPIDUMP_TABLE = re.compile(rb"^[ \t]*[A-Z0-9_!]{4}[ \t]+@[ \t]+0x[0-9a-fA-F]+[ \t]*\r?$", re.M)


def file_kind(data: bytes) -> str | None:
    """The kind of host data `data` holds (DMAR, ACPIDUMP, BOOT_LOG, HOST_JSON, SNAPSHOT), or
    None when it looks like none of them. Linear in the size."""
    if data[:4] in _SIGNATURES and not _ACPIDUMP_TABLE.match(data):
        return DMAR
    if data.startswith(_COMPRESSED) or data[257:262] == b"ustar":
        return SNAPSHOT
    if data.lstrip()[:1] == b"{":          # a host description is an object; "[" opens dmesg lines
        return HOST_JSON
    if _ACPIDUMP_TABLE.search(data):
        return ACPIDUMP
    from xlrmrr.acpi.readers import is_boot_log  # not imported for the common binary table

    if is_boot_log(data.decode("latin-1")):
        return BOOT_LOG
    return None


def expect(data: bytes, path: str, kind: str) -> None:
    """Raise a one-line InputError when `data`, given as `kind`, is plainly another kind of host
    data: it names what the file is and the option that reads it."""
    got = file_kind(data)
    if got is None or got == kind:
        return
    extra = " (RMRR ranges only, for hosts whose table cannot be read)" if got == BOOT_LOG else ""
    raise InputError(f"{path}: this is {WHAT[got]}, not {WHAT[kind]} ({OPTION[kind]}): give it "
                     f"with {OPTION[got]} {path}{extra}", source=path)
