"""`xlrmrr dmar [FILE] [--json]`: the decoded DMAR table, with the firmware's mistakes."""

from __future__ import annotations

HELP = "show a decoded ACPI DMAR table (default: this host's) and its firmware bugs"
DESCRIPTION = """\
Decode an ACPI DMAR table: the raw binary (default /sys/firmware/acpi/tables/DMAR, which needs
root; in a Xen dom0 .../RMAD, as Xen renames the table after parsing it) or `acpidump` text
output containing it. Prints every remapping structure and device scope, then what Linux,
ACPICA, fwts and Xen would complain about. --json prints the decoding, with the field names of
a normalised `iasl -d`, and the same findings."""


def add_arguments(p):
    from xlrmrr.cli import add_common

    p.add_argument("file", nargs="?", metavar="FILE",
                   help="DMAR binary or acpidump output (default: "
                        "/sys/firmware/acpi/tables/DMAR)")
    add_common(p, default="unused")


def read_table(path: str):
    """The decoded table from a binary or acpidump text file."""
    from xlrmrr.acpi.dmar import SIGNATURES, decode
    from xlrmrr.acpi.readers import dmar_from_acpidump
    from xlrmrr.files import read_input

    raw = read_input(path, "DMAR table")
    if raw[4:9] == b" @ 0x" or (raw[:4] not in SIGNATURES and b" @ 0x" in raw[:1 << 20]):
        raw = dmar_from_acpidump(raw.decode("latin-1"), path)
    return decode(raw, path)


def run(args) -> int:
    from xlrmrr.acpi.checks import firmware_findings
    from xlrmrr.acpi.readers import sysfs_dmar_path
    from xlrmrr.report.colour import paint
    from xlrmrr.report.dmar import json_text, render_text

    path = args.file or sysfs_dmar_path()
    dmar = read_table(path)
    findings = firmware_findings(dmar)
    if args.json:
        print(json_text(dmar, path, findings), end="")
    else:
        print(paint(render_text(dmar, path, findings), args), end="")
    return 0
