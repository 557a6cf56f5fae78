"""Reports: text, JSON and binary payloads for the commands."""


def _escapes() -> dict:
    table = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
    table.update({c: f"\\u{c:04x}" for c in (*range(0x80, 0xA0), 0x2028, 0x2029)})
    table.update({0xDC00 + b: f"\\x{b:02x}" for b in range(0x80, 0x100)})
    table.update({ord(c): e for c, e in zip("\a\b\f\n\r\v", ("\\a", "\\b", "\\f", "\\n",
                                                               "\\r", "\\v"))})
    del table[ord("\t")]
    return table


_ESCAPES = _escapes()


def escape(line: str) -> str:
    """One terminal-safe line: control characters (C0 but tab, DEL, C1, U+2028/9) become C-style
    escapes (\\r, \\x1b, \\u0085) and bytes that are not UTF-8 become \\xNN, so a file's
    text can neither break the line nor drive the terminal. Backslashes are kept as they are."""
    return line.translate(_ESCAPES)


def by_severity(findings) -> list:
    """Findings errors first, then warnings, then notes; each kind in the order found."""
    return sorted(findings, key=lambda f: _SEVERITY_ORDER.get(f.severity, 3))


_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def lines_text(lines) -> str:
    """A text report: each line escaped (escape), one per line."""
    return "\n".join(map(escape, lines)) + "\n"
