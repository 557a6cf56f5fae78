"""libxlu's typed getters (xlu_cfg_get_string/long/bounded_long/defbool/list), warnings included.

xl calls these on the parsed settings; their warnings go to the same report stream as parse
errors and their return codes decide whether xl stores a value. C's strtol(…, 0) is reproduced:
`0x` is hex, a leading 0 is octal, blanks and a sign are accepted, trailing text is not.
"""

from __future__ import annotations

from xlrmrr.xlcfg.settings import EINVAL, ERANGE, ESRCH, ConfigParse

LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
_SPACE = " \t\n\v\f\r"
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
# More significant digits than any 64-bit value has (22 octal) overflows strtol and strtoul
# alike; such a magnitude is not converted (Python's int() refuses 4,300 digits and more).
_MAX_DIGITS = 32
_HUGE = 1 << 128


def skip_blanks_sign(s: str, i: int) -> tuple[int, bool]:
    """How C's number scanners (strtol, strtoul, sscanf %x) start: isspace() blanks, then at
    most one sign; (index after them, negative)."""
    n = len(s)
    while i < n and s[i] in _SPACE:
        i += 1
    if i < n and s[i] in "+-":
        return i + 1, s[i] == "-"
    return i, False


def scan_strtol(s: str, i: int, base: int) -> tuple[bool, int, int]:
    """The scan C's strtol and strtoul share (they differ only in overflow), base 0, 10 or 16:
    blanks, a sign, `0x` (base 0 or 16, only when a hex digit follows), a leading 0 meaning
    octal (base 0), digits. (negative, magnitude, end); end is i when nothing was converted."""
    j, neg = skip_blanks_sign(s, i)
    n = len(s)
    if base != 10 and s.startswith(("0x", "0X"), j) and j + 2 < n and s[j + 2] in _DIGITS[16]:
        base, j = 16, j + 2
    elif base == 0:
        base = 8 if j < n and s[j] == "0" else 10
    digits, start = _DIGITS[base], j
    while j < n and s[j] in digits:
        j += 1
    if j == start:
        return False, 0, i
    significant = s[start:j].lstrip("0")
    if len(significant) > _MAX_DIGITS:
        return neg, _HUGE, j
    return neg, int(significant or "0", base), j


def strtol0(s: str) -> tuple[int, int, bool]:
    """C strtol(s, &ep, 0): (value, index of ep, overflowed)."""
    neg, v, end = scan_strtol(s, 0, 0)
    v = -v if neg else v
    if v > LONG_MAX:
        return LONG_MAX, end, True
    if v < LONG_MIN:
        return LONG_MIN, end, True
    return v, end, False


class Getters:
    """The getters over one parsed config; warnings collect in `report` in call order."""

    def __init__(self, cfg: ConfigParse):
        self.cfg = cfg
        self.src = cfg.source
        self.report: list[str] = []

    def _atom(self, name: str, dont_warn: bool):
        s = self.cfg.settings.get(name)
        if s is None:
            return ESRCH, None
        if s.kind != "string":
            if not dont_warn:
                self.report.append(f"{self.src}:{s.line}: warning: parameter `{name}' is a list "
                                   "but should be a single value\n")
            return EINVAL, None
        return 0, s

    def get_string(self, name: str, dont_warn: bool = False) -> tuple[int, str | None]:
        rc, s = self._atom(name, dont_warn)
        return rc, (s.value if s else None)

    def get_bounded_long(self, name: str, lo: int, hi: int,
                         dont_warn: bool = False) -> tuple[int, int | None]:
        rc, s = self._atom(name, dont_warn)
        if rc:
            return rc, None
        warn = None
        if s.op == "+=":
            warn = f"can't use += with numbers for parameter `{name}'"
            rc = EINVAL
        else:
            v, ep, overflow = strtol0(s.value)
            if overflow:
                warn = (f"parameter `{name}' could not be parsed as a number: "
                        "Numerical result out of range")
                rc = ERANGE
            elif ep == 0 or ep != len(s.value):
                warn, rc = f"parameter `{name}' is not a valid number", EINVAL
            elif v < lo:
                warn, rc = f"value `{v}' is smaller than minimum bound '{lo}'", EINVAL
            elif v > hi:
                warn, rc = f"value `{v}' is greater than maximum bound '{hi}'", EINVAL
        if rc:
            if not dont_warn:
                self.report.append(f"{self.src}:{s.line}: warning: {warn}\n")
            return rc, None
        return 0, v

    def get_long(self, name: str, dont_warn: bool = False) -> tuple[int, int | None]:
        return self.get_bounded_long(name, LONG_MIN, LONG_MAX, dont_warn)

    def get_defbool(self, name: str, dont_warn: bool = False) -> tuple[int, bool | None]:
        rc, v = self.get_long(name, dont_warn)
        return rc, (None if rc else bool(v))

    def get_list(self, name: str, dont_warn: bool = False) -> tuple[int, list | None]:
        s = self.cfg.settings.get(name)
        if s is None:
            return ESRCH, None
        if s.kind != "list":
            if not dont_warn:
                self.report.append(f"{self.src}:{s.line}: warning: parameter `{name}' is a "
                                   "single value but should be a list\n")
            return EINVAL, None
        return 0, s.value
