"""Reading a guest config for create, check, pci-attach and explain: xl's reading, plus the rule
that a file xl cannot parse, or a guest whose size cannot exist, is bad input (exit 2); and the
config read again as a fix edits it (rereader, for driver.Options)."""

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


CRLF_HINT = ("the file has DOS (CRLF) line endings, and xl's lexer rejects the \\r on every line "
             "with a token: convert it with dos2unix")


def load_guest_hinted(data: bytes, source: str, version):
    """load_guest, with what to do about DOS line endings when they are why xl cannot read it."""
    try:
        return load_guest(data, source, version)
    except InputError as e:
        if b"\r\n" in data:
            raise InputError(f"{e}; {CRLF_HINT}") from None
        raise


def file_typos(raw: bytes, parse) -> tuple[tuple[str, str, str], ...]:
    """driver.Options.typos: each key of the file xl does not know but one edit from a key it
    does (xlcfg.keys.key_typos), with its value as the file writes it; a key given only as a
    KEY=VALUE item, or appended to with +=, is not renamed in the file."""
    from xlrmrr.xlcfg.keys import key_typos

    if not parse.ok:
        return ()
    found = key_typos(parse.settings)
    if not found:
        return ()
    from xlrmrr.remedies.cfgtext import assigned_value

    text = raw.decode("latin-1")
    out = []
    for key, meant in found:
        value = assigned_value(text, key)
        if value is not None:
            out.append((key, meant, value))
    return tuple(out)


NEUTRAL_FORCECHECK = b'\nrdm_forcecheck = "ignored by xl"\n'     # xl's reading: no effect


def rereader(raw: bytes, items, source: str, version):
    """driver.Options.reread for this file: the file with a remedy's config lines written in
    (remedies.cfgtext), KEY=VALUE items appended after it as xl appends them, read again as
    this release's xl reads it; InputError where xl would refuse the result."""

    def reread(edits):
        from xlrmrr.integration.xl import config_data
        from xlrmrr.remedies.cfgtext import apply_bytes
        from xlrmrr.xlcfg import load_domain

        data = config_data(apply_bytes(raw, edits), items)
        domain, findings, _parse = load_guest_hinted(data, source, version)
        refuse_if_xl_exits(findings, source)
        xen_domain = None
        if domain.rdm_forcecheck is not None:
            xen_domain = load_domain(data + NEUTRAL_FORCECHECK, source, version)[0]
        return domain, xen_domain

    return reread
