"""Reading a guest config for create, check and pci-attach: xl's reading, plus the rule that a
file xl cannot parse, or a guest whose size cannot exist, is bad input (exit 2)."""

from __future__ import annotations

from xlrmrr.common import InputError

XL_UNPARSABLE = ("xl-parse-error", "xl-abort")     # malformed file: exit 2
XL_EXITS = ("xl-exit",)                            # xl refuses the config: creation fails
_U64 = 1 << 64


def load_guest(data: bytes, source: str, version):
    """(DomainConfig, xl findings, ConfigParse) as xl reads the file for that release."""
    from xlrmrr.xlcfg import load_domain

    domain, findings, parse = load_domain(data, source, version)
    for f in findings:
        if f.code in XL_UNPARSABLE:
            raise InputError(f"{source}: xl cannot read this config: {f.message}")
    for key, memkb in (("memory", domain.target_memkb), ("maxmem", domain.max_memkb)):
        if memkb is not None and memkb * 1024 >= _U64:
            setting = parse.get(key)
            where = f"{source}:{setting.line}" if setting else source
            raise InputError(
                f"{where}: {key} = {memkb // 1024} MiB is impossible: libxl computes guest sizes "
                f"in 64-bit bytes, which hold at most 16 EiB; give the size in MiB")
    return domain, findings, parse


def refusal(findings, source: str, file_lines: int | None = None) -> str:
    """The stderr line for a config xl exits on: FILE[:LINE]: xl's message and what to write.
    file_lines: the file's own lines; xl numbers the KEY=VALUE arguments of `xl create` after
    them, so a line past them names such an argument."""
    msg = next(f.message for f in findings if f.code in XL_EXITS)
    where = source
    line, sep, rest = msg[len(source) + 1:].partition(": ")
    if msg.startswith(source + ":") and sep and line.isdigit():
        where, msg = f"{source}:{line}", rest
        if file_lines is not None and int(line) > file_lines:
            where += " (a KEY=VALUE argument: xl create appends them to the file)"
    return f"{where}: xl refuses this config: {msg}"


def refuse_if_xl_exits(findings, source: str) -> None:
    """A config xl exits on is bad input (exit 2) for check and pci-attach, as for create."""
    if any(f.code in XL_EXITS for f in findings):
        raise InputError(refusal(findings, source))
