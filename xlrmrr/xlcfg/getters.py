"""libxlu's typed getters (xlu_cfg_get_string/long/bounded_long/defbool/list), warnings included.

xl calls these on the parsed settings; their warnings go to the same report stream as parse
errors and their return codes decide whether xl stores a value. C's strtol(…, 0) is reproduced:
`0x` is hex, a leading 0 is octal, blanks and a sign are accepted, trailing text is not.
"""

from __future__ import annotations

from xlrmrr.xlcfg.settings import ConfigParse

ESRCH = 3
EINVAL = 22
ERANGE = 34
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
_SPACE = " \t\n\v\f\r"


def strtol0(s: str) -> tuple[int, int, bool]:
    """C strtol(s, &ep, 0): (value, index of ep, overflowed)."""
    i, n = 0, len(s)
    while i < n and s[i] in _SPACE:
        i += 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    if s.startswith(("0x", "0X"), i) and i + 2 < n and s[i + 2] in "0123456789abcdefABCDEF":
        base, i = 16, i + 2
        digits = "0123456789abcdefABCDEF"
    elif i < n and s[i] == "0":
        base, digits = 8, "01234567"
    else:
        base, digits = 10, "0123456789"
    j = i
    while j < n and s[j] in digits:
        j += 1
    if j == i:
        return 0, 0, False
    v = int(s[i:j], base)
    v = -v if neg else v
    if v > LONG_MAX:
        return LONG_MAX, j, True
    if v < LONG_MIN:
        return LONG_MIN, j, True
    return v, j, False


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
