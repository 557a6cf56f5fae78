"""Readers for where a DMAR (or its RMRRs) can come from: the raw table, `acpidump` text,
Xen and Linux boot logs, and Xen's `rmrr=` command-line option. Pure text/bytes -> values;
the CLI reads the files."""

from __future__ import annotations

import re

from xlrmrr.common import InputError, Sbdf
from xlrmrr.records import record


@record(eq=False)
class UserRmrr:
    """One range of Xen's `rmrr=start[-end]=[s]bdf[,[s]bdf...]` command-line option."""

    start_pfn: int
    end_pfn: int
    devices: tuple[Sbdf, ...]
    text: str = ""
    option: int = 0            # which rmrr= parameter it came from (Xen parses each on its own)
    option_text: str = ""      # that parameter's whole value, as Xen's messages quote it


@record(eq=False)
class LogRmrr:
    """An RMRR read from a boot log: no table, so only the range (and devices when logged)."""

    base: int
    end: int
    devices: tuple[Sbdf, ...] = ()
    source: str = ""


SYSFS_DMAR = "/sys/firmware/acpi/tables/DMAR"
# In a Xen dom0 the table shows under the name Xen gave it after parsing (RMAD; XMAR before).
SYSFS_HIDDEN = ("/sys/firmware/acpi/tables/RMAD", "/sys/firmware/acpi/tables/XMAR")


def sysfs_dmar_path(exists=None) -> str:
    """Where this host's table is: DMAR, or RMAD/XMAR in a Xen dom0."""
    import os

    exists = exists or os.path.exists
    if exists(SYSFS_DMAR):
        return SYSFS_DMAR
    return next((p for p in SYSFS_HIDDEN if exists(p)), SYSFS_DMAR)

_ACPIDUMP_HEAD = re.compile(r"^\s*(DMAR|RMAD|XMAR)\s+@\s+0x[0-9a-fA-F]+\s*$")
_ACPIDUMP_LINE = re.compile(r"^\s*([0-9a-fA-F]{4,8}):\s(.*)$")
_HEX_BYTE = re.compile(r"[0-9a-fA-F]{2}")


def dmar_from_acpidump(text: str, name: str = "acpidump") -> bytes:
    """The DMAR table's bytes out of `acpidump` output (all tables, or `acpidump -n DMAR`).
    An error names the line that stopped the dump and why."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _ACPIDUMP_HEAD.match(line)), None)
    if start is None:
        raise InputError(f"{name}: no DMAR table in this acpidump output (no line 'DMAR @ 0x...')")
    data = bytearray()
    length = None

    def short(lineno: int, why: str) -> InputError:
        of = f" of {length:#x}" if length is not None else ""
        return InputError(f"{name}:{lineno}: the DMAR hex dump (from line {start + 1}) ends "
                          f"after {len(data):#x} bytes{of}: {why}", source=name, line=lineno)

    lineno = start + 1
    for lineno, line in enumerate(lines[start + 1:], start + 2):
        if not line.strip():
            if data:
                raise short(lineno, "blank line")
            continue
        m = _ACPIDUMP_LINE.match(line)
        if not m:
            raise short(lineno, f"{line.strip()[:40]!r} is not a hex dump line "
                                f"(OFFSET: XX XX ...)")
        off = int(m.group(1), 16)
        if off != len(data):
            raise InputError(f"{name}:{lineno}: hex dump offset {off:#x}, expected {len(data):#x}",
                             source=name, line=lineno)
        want = 16 if length is None else min(16, length - off)
        hexes = m.group(2).split()[:want]
        bad = next((h for h in hexes if not _HEX_BYTE.fullmatch(h)), None)
        if bad is not None:
            raise InputError(f"{name}:{lineno}: {bad[:20]!r} is not a hex byte (two hex digits) "
                             f"at offset {off + hexes.index(bad):#x}", source=name, line=lineno)
        if len(hexes) < want:
            raise InputError(f"{name}:{lineno}: {len(hexes)} hex bytes at offset {off:#x}, "
                             f"expected {want}", source=name, line=lineno)
        data += bytes(int(h, 16) for h in hexes)
        if length is None and len(data) >= 8:
            length = int.from_bytes(data[4:8], "little")
        if length is not None and len(data) >= length:
            return bytes(data)
    raise short(lineno, "end of file")


_XEN_FOUND_RMRR = re.compile(r"found ACPI_DMAR_RMRR")
_XEN_SCOPE = re.compile(r"\b(endpoint|bridge|IOAPIC|MSI HPET):\s*([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:"
                        r"[0-9a-fA-F]{2}\.[0-7])")
_XEN_REGION = re.compile(r"RMRR region: base_addr\s+(?:0x)?([0-9a-fA-F]+)\s+end_address\s+"
                         r"(?:0x)?([0-9a-fA-F]+)")
# register_one_rmrr's " RMRR: [%lx,%lx]" (not the e820 warning "RMRR: [0x.., 0x..] is not ...")
_XEN_REGISTERED = re.compile(r"\bRMRR: \[([0-9a-fA-F]+),([0-9a-fA-F]+)\]\s*$")
_LINUX_RMRR = re.compile(r"RMRR base:\s*0x([0-9a-fA-F]+)\s+end:\s*0x([0-9a-fA-F]+)")


# A line of a Xen or Linux boot log, in any of the forms xl dmesg, dmesg (plain, -T, -H, -x),
# syslog and journalctl print: it carries Xen's "(XEN)" prefix, the kernel's DMAR prefixes, a
# "kernel:" tag, or a kernel timestamp somewhere (not only at the start).
_LOG_LINE = re.compile(r"\(XEN\)|\bDMAR(?:-IR)?:|\bdmar\d+:| kernel: |\[\s*\+?\d+\.\d+\]"
                       r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def is_boot_log(text: str) -> bool:
    """Whether some printable line of `text` is a line of a Xen or Linux boot log (_LOG_LINE);
    a binary file such as a DMAR table has none."""
    return any(_LOG_LINE.search(line) and not _CONTROL.search(line)
               for line in text.splitlines())


def rmrrs_from_log(text: str, name: str = "log") -> tuple[LogRmrr, ...]:
    """RMRRs from a Xen boot log (`xl dmesg` with iommu=verbose: "RMRR region: base_addr ...
    end_address ..." up to 4.11, " RMRR: [base,end]" from register_one_rmrr later; devices from
    the endpoint/bridge lines before it) or a Linux boot log ("DMAR: RMRR base: 0x... end:
    0x..."), in table order. A text with no RMRR line and no boot-log line at all (is_boot_log)
    is not a log: rejected, so that a wrong file is not read as "a host without RMRRs"."""
    out: list[LogRmrr] = []
    pending: list[Sbdf] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if _XEN_FOUND_RMRR.search(line) or "found ACPI_DMAR_" in line:
            pending = [] if _XEN_FOUND_RMRR.search(line) else None
            continue
        m = _XEN_SCOPE.search(line)
        if m and pending is not None:
            if m.group(1) in ("endpoint", "bridge"):
                try:
                    pending.append(Sbdf.parse(m.group(2)))
                except ValueError as e:
                    raise InputError(f"{name}:{lineno}: {e} (a PCI device is at most "
                                     f"ffff:ff:1f.7); fix or remove this line",
                                     source=name, line=lineno) from None
            continue
        m = (_XEN_REGION.search(line) or _XEN_REGISTERED.search(line)
             or _LINUX_RMRR.search(line))
        if m:
            base, end = int(m.group(1), 16), int(m.group(2), 16)
            if base >= 1 << 64 or end >= 1 << 64:
                raise InputError(f"{name}:{lineno}: RMRR address does not fit 64 bits",
                                 source=name, line=lineno)
            if base > end:
                raise InputError(f"{name}:{lineno}: RMRR ends ({end:#x}) before it starts "
                                 f"({base:#x}); Xen disables VT-d for such a table (\" RMRR "
                                 f"[{base:x},{end:x}] is incorrect!\"), which a log line "
                                 f"cannot show: give the table itself with --dmar",
                                 source=name, line=lineno)
            out.append(LogRmrr(base, end, tuple(pending or ()), f"{name}:{lineno}"))
            pending = None
    if not out and not is_boot_log(text):
        what = ("a binary file (the DMAR table itself? give it with --dmar)"
                if _CONTROL.search(text[:4096]) else "no line of one")
        raise InputError(f"{name}: not a Xen or Linux boot log: {what}; a log line carries "
                         f"\"(XEN)\", a kernel timestamp \"[    0.000000]\", \"DMAR:\", "
                         f"\"dmar0:\" or \"kernel:\"; give `xl dmesg` output (booted with "
                         f"iommu=verbose) or the Linux `dmesg`")
    return tuple(out)


# Xen's console banner (console.c: "Xen version %d.%d%s (...)"), in `xl dmesg` as
# "(XEN) Xen version 4.17.3-pre (...)"; a Linux dom0 prints "Xen version: 4.17.3-pre".
_XEN_VERSION = re.compile(r"\bXen version:? ([0-9]{1,9}\.[0-9]{1,9}(?:\.[0-9]{1,9})?)")
# What an RMRR line of Xen or Linux starts with, parsed or not: a line carrying one of these
# that none of the region patterns reads is a line the log meant as an RMRR.
_RMRR_LINE = re.compile(r"RMRR region:|\bRMRR base:|\bRMRR: \[(?![0-9a-fA-Fx, ]*\] is )")


def xen_version_from_log(text: str) -> tuple[str, int] | None:
    """(release text such as "4.17.3", line number) of the first Xen version line of a boot
    log, or None."""
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _XEN_VERSION.search(line)
        if m:
            return m.group(1), lineno
    return None


def unparsed_rmrr_lines(text: str) -> tuple[tuple[int, str], ...]:
    """(line number, line) of the lines that look like RMRR lines but that rmrrs_from_log does
    not read (a changed format, a cut or garbled line): their ranges are not modelled."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if _RMRR_LINE.search(line) and not (_XEN_REGION.search(line) or _XEN_REGISTERED.search(line)
                                            or _LINUX_RMRR.search(line)):
            out.append((lineno, line.strip()))
    return tuple(out)


# Xen reads start and end with simple_strtoull(s, &s, 16), which skips a "0x"/"0X" prefix.
_RANGE = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)(?:-(?:0[xX])?([0-9a-fA-F]+))?=(.+)")


def parse_rmrr_option(text: str, name: str = "rmrr=", option: int = 0) -> tuple[UserRmrr, ...]:
    """Xen's `rmrr=start[-end]=[s]bdf[,[s]bdf[,...]];start[-end]=...` (page frame numbers, hex
    with or without 0x, end inclusive), with or without the leading `rmrr=`. Errors name the
    character (1-based) of `text` where the bad range or device starts. Xen's limits (10
    ranges, 20 devices) are modelled by host.build.user_rmrrs, not here."""
    lead = len(text) - len(text.lstrip())
    spec = text.strip()
    if spec.startswith("rmrr="):
        spec, lead = spec[5:], lead + 5
    out = []
    pos = 0
    for raw in spec.split(";"):
        at, pos = lead + pos + len(raw) - len(raw.lstrip()), pos + len(raw) + 1
        part = raw.strip()
        if not part:
            continue
        m = _RANGE.fullmatch(part)
        if not m:
            raise InputError(f"{name}: character {at + 1}: {part!r} is not "
                             f"start[-end]=[s]bdf[,[s]bdf...] (page numbers in hex, 0x optional)",
                             source=name, column=at + 1)
        start = int(m.group(1), 16)
        end = int(m.group(2), 16) if m.group(2) else start
        devs: list[Sbdf] = []
        dpos = at + m.start(3)
        for d in m.group(3).split(","):
            try:
                sbdf = Sbdf.parse(d)
            except ValueError as e:
                raise InputError(f"{name}: character {dpos + 1}: {e}",
                                 source=name, column=dpos + 1) from None
            dpos += len(d) + 1
            if devs and d.strip().count(":") == 1:      # no segment: the first device's
                sbdf = Sbdf(devs[0].seg, sbdf.bus, sbdf.dev, sbdf.fn)
            devs.append(sbdf)
        if start >= 1 << 52 or end >= 1 << 52:
            raise InputError(f"{name}: character {at + 1}: {part!r}: page number beyond the "
                             f"64-bit address space", source=name, column=at + 1)
        out.append(UserRmrr(start, end, tuple(devs), part, option, spec))
    return tuple(out)
