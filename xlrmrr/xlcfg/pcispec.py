"""PCI_SPEC_STRING and `rdm=` parsing as libxlu does it (tools/libs/util/libxlu_pci.c).

Two generations: the 4.15+ parser (parse_bdf with sscanf, key=value pairs, name=/bdf=) and the
4.6-4.14 state machine (xlu_pci_parse_bdf with strtoul). `rdm=` has three: 4.6-4.13 (exactly
`strategy=host,policy=X`), 4.14 (keys in any order) and 4.15+ (the inverted policy check that
makes any valid `policy=` fail the whole call). C library details that decide what is accepted
(sscanf %x, strtoul, atoi) are reproduced here.
"""

from __future__ import annotations

from collections import namedtuple

from xlrmrr.xlcfg.domain import (
    LIBXL_PCI_FUNC_ALL,
    POLICY_INVALID,
    POLICY_RELAXED,
    POLICY_STRICT,
    POLICY_UNSET,
    STRATEGY_HOST,
)
from xlrmrr.xlcfg.getters import scan_strtol, skip_blanks_sign

ERROR_FAIL = -3
ERROR_INVAL = -6
ULONG_MAX = (1 << 64) - 1
HEX = "0123456789abcdefABCDEF"


# Internal records (namedtuples: cheaper to define at start-up than dataclasses).
PciFields = namedtuple("PciFields", (
    "domain", "bus", "dev", "func", "vdevfn", "vfunc_mask", "msitranslate", "power_mgmt",
    "permissive", "seize", "rdm_policy", "name"),
    defaults=(0, 0, 0, 0, 0, 0, False, False, False, False, POLICY_INVALID, None))
PciFields.__doc__ = "The libxl_device_pci fields a PCI_SPEC_STRING can set."

SpecResult = namedtuple("SpecResult", ("rc", "pci", "report"), defaults=("",))
SpecResult.__doc__ = """rc 0, ERROR_INVAL or ERROR_FAIL; report: what libxlu printed (no newline)."""

RdmResult = namedtuple("RdmResult", ("rc", "strategy", "policy", "report"), defaults=("",))
RdmResult.__doc__ = """strategy/policy None: left untouched (xl then copies stack garbage)."""


def _strtoul(s: str, i: int, base: int) -> tuple[int, int]:
    """C strtoul from s[i:]: (value, end index); end == i when nothing was converted."""
    neg, v, end = scan_strtol(s, i, base)
    v = ULONG_MAX if v > ULONG_MAX else v
    return ((-v) & ULONG_MAX if neg else v), end


def _scanf_x(s: str, i: int) -> tuple[int, int] | None:
    """glibc sscanf %x into an unsigned int: (value, end) or None on a matching failure.
    Unlike strtoul it consumes a `0x` prefix even when no hex digit follows."""
    j, neg = skip_blanks_sign(s, i)
    n = len(s)
    start = j
    if s.startswith(("0x", "0X"), j):
        j += 2
        k = j
        while j < n and s[j] in HEX:
            j += 1
        v = int(s[k:j], 16) if j > k else 0
    else:
        while j < n and s[j] in HEX:
            j += 1
        if j == start:
            return None
        v = int(s[start:j], 16)
    v = ULONG_MAX if v > ULONG_MAX else v
    if neg:
        v = (-v) & ULONG_MAX
    return v & 0xFFFFFFFF, j


def _atoi_bool(s: str) -> bool:
    """`(bool)atoi(s)`: decimal prefix, truncated to int."""
    v, end = _strtoul(s, 0, 10)
    if end == 0:
        return False
    # strtol saturates where strtoul wraps; only the low 32 bits' non-zeroness matters here.
    return (v & 0xFFFFFFFF) != 0 or v == ULONG_MAX


def _policy_from_string(s: str) -> str | None:
    """libxl_rdm_reserve_policy_from_string: case-insensitive, "invalid" included."""
    low = s.lower() if s.isascii() else s
    return {"invalid": POLICY_INVALID, "strict": POLICY_STRICT,
            "relaxed": POLICY_RELAXED}.get(low)


def parse_bdf(s: str, pci: PciFields) -> tuple[int, PciFields, int]:
    """parse_bdf (4.15+): [[seg:]bus:]dev.func with func `*` or hex; (rc, pci, end)."""
    colons, k = 0, 0
    while k < len(s) and (s[k] in HEX or s[k] == ":"):
        colons += s[k] == ":"
        k += 1
    nums = []
    i = 0
    want = {1: 2, 2: 3}.get(colons)
    if want is None:
        return ERROR_INVAL, pci, 0
    for idx in range(want):
        r = _scanf_x(s, i)
        if r is None:
            return ERROR_INVAL, pci, 0
        nums.append(r[0])
        i = r[1]
        sep = ":" if idx < want - 1 else "."
        if i >= len(s) or s[i] != sep:
            return ERROR_INVAL, pci, 0
        i += 1
    domain, bus, dev = ([0] + nums) if want == 2 else nums
    if domain > 0xFFFF or bus > 0xFF or dev > 0x1F:
        return ERROR_INVAL, pci, 0
    if i < len(s) and s[i] == "*":
        func, mask = 0, LIBXL_PCI_FUNC_ALL
        i += 1
    else:
        r = _scanf_x(s, i)
        if r is None or r[0] > 7:
            return ERROR_INVAL, pci, 0
        func, mask = r[0], 1
        i = r[1]
    return 0, pci._replace(domain=domain, bus=bus, dev=dev, func=func, vfunc_mask=mask), i


def _bdf_dot_unmatched(s: str) -> bool:
    """parse_bdf's sscanf("%x:%x.%n") (or "%x:%x:%x.%n") matched every number but not the `.`:
    %n is then never stored and libxlu advances by an uninitialised int."""
    colons = 0
    k = 0
    while k < len(s) and (s[k] in HEX or s[k] == ":"):
        colons += s[k] == ":"
        k += 1
    want = {1: 2, 2: 3}.get(colons)
    i = 0
    for idx in range(want or 0):
        r = _scanf_x(s, i)
        if r is None:
            return False
        i = r[1]
        if idx == want - 1:
            return i >= len(s) or s[i] != "."
        if i >= len(s) or s[i] != ":":
            return False
        i += 1
    return False


def libxlu_undefined(spec: str) -> bool:
    """Whether libxlu 4.15+'s answer for this PCI_SPEC_STRING is undefined behaviour: a BDF (at
    the start or in `bdf=`) whose numbers parse but whose `.func` is missing, like `01:00`. Xen's
    parser then reads an uninitialised variable and accepts or rejects the spec from run to run;
    xlrmrr rejects it (ERROR_INVAL), the answer a correct libxlu would give."""
    return _bdf_dot_unmatched(spec) or any(
        item.startswith("bdf=") and _bdf_dot_unmatched(item[4:]) for item in spec.split(","))


def _parse_vslot(s: str, i: int) -> tuple[int, int] | None:
    r = _scanf_x(s, i)
    if r is None or r[0] > 0x1F:
        return None
    return r[0] << 3, r[1]


def parse_spec_string(spec: str, pci: PciFields | None = None) -> SpecResult:
    """xlu_pci_parse_spec_string (Xen 4.15 and later), on a device pre-filled by xl."""
    pci = PciFields() if pci is None else pci
    bdf_present = name_present = False
    rc, parsed, i = parse_bdf(spec, pci)
    if rc == 0:
        pci, bdf_present = parsed, True
        if i < len(spec) and spec[i] == "@":
            r = _parse_vslot(spec, i + 1)
            if r is None:
                return SpecResult(ERROR_INVAL, pci)
            pci = pci._replace(vdevfn=r[0])
            i = r[1]
        if i < len(spec) and spec[i] == ",":
            i += 1
        elif i < len(spec):
            return SpecResult(ERROR_INVAL, pci)
    else:
        i = 0
    while i < len(spec):
        eq = spec.find("=", i)
        if eq < 0:
            return SpecResult(ERROR_INVAL, pci)
        key = spec[i:eq]
        comma = spec.find(",", eq + 1)
        end = len(spec) if comma < 0 else comma
        val = spec[eq + 1:end]
        i = end + 1 if comma >= 0 else end
        if key == "bdf":
            r, parsed, _ = parse_bdf(val, pci)
            if r == 0:
                pci, bdf_present = parsed, True
            else:
                return SpecResult(r, pci)
        elif key == "vslot":
            vs = _parse_vslot(val, 0)
            if vs is None:
                return SpecResult(ERROR_INVAL, pci)
            pci = pci._replace(vdevfn=vs[0])
        elif key in ("permissive", "msitranslate", "seize", "power_mgmt"):
            pci = pci._replace(**{key: _atoi_bool(val)})
        elif key == "rdm_policy":
            pol = _policy_from_string(val)
            if pol is None:
                return SpecResult(ERROR_FAIL, pci, f"Unknown RDM policy: {val}")
            pci = pci._replace(rdm_policy=pol)
        elif key == "name":
            name_present = True
            pci = pci._replace(name=val)
        else:
            return SpecResult(ERROR_INVAL, pci, f"Unknown PCI_SPEC_STRING option: {key}")
    if bdf_present == name_present:
        return SpecResult(ERROR_INVAL, pci)
    return SpecResult(0, pci)


class _ParseError(Exception):
    """libxlu_pci.c's `goto parse_error`: the parser returns ERROR_INVAL with what it reported."""


# The policy values the pre-4.15 parsers accept (strcmp: case-sensitive).
_STRICT_RELAXED = {"strict": POLICY_STRICT, "relaxed": POLICY_RELAXED}


def _hex_convert(tok: str, mask: int) -> int:
    """hex_convert(): the whole token in hex, no bit outside mask; else a parse error."""
    v, end = _strtoul(tok, 0, 16)
    if end == 0 or end != len(tok) or v & ~mask:
        raise _ParseError
    return v & mask


def parse_bdf_old(spec: str, pci: PciFields | None = None) -> SpecResult:
    """xlu_pci_parse_bdf's state machine (Xen 4.6 to 4.14)."""
    pci = PciFields() if pci is None else pci
    DOMAIN, BUS, DEV, FUNC, VSLOT, OPT_K, OPT_V, TERMINAL = range(8)
    state = DOMAIN
    dom = bus = dev = func = None
    vslot = 0
    optkey = ""
    report = []
    s = spec + "\0"
    tok = 0
    try:
        for p, ch in enumerate(s):
            if state == DOMAIN:
                if ch == ":":
                    state = BUS
                    dom = _hex_convert(s[tok:p], 0xFFFF)
                    tok = p + 1
            elif state == BUS:
                if ch == ":":
                    state = DEV
                    bus = _hex_convert(s[tok:p], 0xFF)
                    tok = p + 1
                elif ch == ".":
                    state = FUNC
                    if dom & ~0xFF:
                        raise _ParseError
                    bus, dom = dom, 0
                    dev = _hex_convert(s[tok:p], 0xFF)
                    tok = p + 1
            elif state == DEV:
                if ch == ".":
                    state = FUNC
                    dev = _hex_convert(s[tok:p], 0xFF)
                    tok = p + 1
            elif state == FUNC:
                if ch in "\0@,":
                    state = {"\0": TERMINAL, "@": VSLOT, ",": OPT_K}[ch]
                    if s[tok:p] == "*":
                        # func stays INVALID (0xffffffff); the uint8_t field keeps 0xff.
                        pci = pci._replace(vfunc_mask=LIBXL_PCI_FUNC_ALL)
                        func = 0xFF
                    else:
                        func = _hex_convert(s[tok:p], 0x7)
                        pci = pci._replace(vfunc_mask=1)
                    tok = p + 1
            elif state == VSLOT:
                if ch in "\0,":
                    state = OPT_K if ch == "," else TERMINAL
                    vslot = _hex_convert(s[tok:p], 0xFF)
                    tok = p + 1
            elif state == OPT_K:
                if ch == "=":
                    state = OPT_V
                    optkey = s[tok:p]
                    tok = p + 1
            elif state == OPT_V:
                if ch in ",\0":
                    state = OPT_K if ch == "," else TERMINAL
                    val = s[tok:p]
                    if optkey in ("msitranslate", "power_mgmt", "permissive", "seize"):
                        pci = pci._replace(**{optkey: _atoi_bool(val)})
                    elif optkey == "rdm_policy":
                        if val not in _STRICT_RELAXED:
                            report.append(f"{val} is not an valid PCI RDM property policy: "
                                          "'strict' or 'relaxed'.")
                            raise _ParseError
                        pci = pci._replace(rdm_policy=_STRICT_RELAXED[val])
                    else:
                        report.append(f"Unknown PCI BDF option: {optkey}")
                    tok = p + 1
        if tok != len(s) or state != TERMINAL:
            raise _ParseError
    except _ParseError:
        return SpecResult(ERROR_INVAL, pci, "".join(report))
    pci = pci._replace(domain=dom, bus=bus, dev=dev, func=func, vdevfn=vslot << 3)
    return SpecResult(0, pci, "".join(report))


def rdm_parse(text: str, version) -> RdmResult:
    """xlu_rdm_parse as the given Xen release (a XenVersion) has it."""
    from xlrmrr.releases import XL_RDM_PARSER_REWRITE, XL_RDM_POLICY_INVERTED

    version = _release(version)
    if not XL_RDM_PARSER_REWRITE.in_effect(version):
        return _rdm_parse_413(text)
    return _rdm_parse_414(text, inverted=XL_RDM_POLICY_INVERTED.in_effect(version))


def _release(version):
    """A XenVersion from a XenVersion or a (major, minor) tuple (older callers)."""
    from xlrmrr.common import XenVersion

    return version if isinstance(version, XenVersion) else XenVersion(*version)


def _rdm_parse_414(text: str, inverted: bool) -> RdmResult:
    TYPE, STRATEGY, POLICY, TERMINAL = range(4)
    state, tok = TYPE, 0
    strategy = policy = None
    report = []
    s = text + "\0"
    try:
        for p, ch in enumerate(s):
            if state == TYPE:
                if ch == "=":
                    key = s[tok:p]
                    if key == "strategy":
                        state = STRATEGY
                    elif key == "policy":
                        state = POLICY
                    else:
                        report.append(f"Unknown RDM state option: {key}")
                        raise _ParseError
                    tok = p + 1
            elif state == STRATEGY:
                if ch in "\0,":
                    state = TYPE if ch == "," else TERMINAL
                    strategy = _rdm_strategy(s[tok:p], report)
                    tok = p + 1
            elif state == POLICY:
                if ch in ",\0":
                    state = TYPE if ch == "," else TERMINAL
                    val = s[tok:p]
                    if inverted:
                        pol = _policy_from_string(val)
                        if pol is None:
                            report.append(f"Unknown RDM policy: {val}")
                        else:
                            # parse_rdm_policy succeeded (0), which the 4.15+ code treats as failure.
                            policy = pol
                            raise _ParseError
                    else:
                        policy = _rdm_policy(val, report)
                    tok = p + 1
        if tok != len(s) or state != TERMINAL:
            raise _ParseError
    except _ParseError:
        return RdmResult(ERROR_INVAL, strategy, policy, "".join(report))
    return RdmResult(0, strategy, policy, "".join(report))


def _rdm_parse_413(text: str) -> RdmResult:
    TYPE, STRATEGY, POLICY_K, POLICY_V, TERMINAL = range(5)
    state, tok = TYPE, 0
    strategy = policy = None
    report = []
    s = text + "\0"
    try:
        for p, ch in enumerate(s):
            if state == TYPE:
                if ch == "=":
                    state = STRATEGY
                    if s[tok:p] != "strategy":
                        report.append(f"Unknown RDM state option: {s[tok:p]}")
                        raise _ParseError
                    tok = p + 1
            elif state == STRATEGY:
                if ch in "\0,":
                    state = POLICY_K
                    strategy = _rdm_strategy(s[tok:p], report)
                    tok = p + 1
            elif state == POLICY_K:
                if ch == "=":
                    state = POLICY_V
                    if s[tok:p] != "policy":
                        report.append(f"Unknown RDM property value: {s[tok:p]}")
                        raise _ParseError
                    tok = p + 1
            elif state == POLICY_V:
                if ch in ",\0":
                    state = TERMINAL
                    policy = _rdm_policy(s[tok:p], report)
                    tok = p + 1
        if tok != len(s) or state != TERMINAL:
            raise _ParseError
    except _ParseError:
        return RdmResult(ERROR_INVAL, strategy, policy, "".join(report))
    return RdmResult(0, strategy, policy, "".join(report))


def _rdm_strategy(val: str, report: list) -> str:
    """xlu_rdm_parse's strategy value: only "host"."""
    if val != "host":
        report.append(f"Unknown RDM strategy option: {val}")
        raise _ParseError
    return STRATEGY_HOST


def _rdm_policy(val: str, report: list) -> str:
    """xlu_rdm_parse's policy value before 4.15: "strict" or "relaxed", compared with strcmp."""
    if val not in _STRICT_RELAXED:
        report.append(f"Unknown RDM property policy value: {val}")
        raise _ParseError
    return _STRICT_RELAXED[val]


__all__ = ["PciFields", "SpecResult", "RdmResult", "parse_bdf", "parse_spec_string",
           "parse_bdf_old", "rdm_parse", "libxlu_undefined", "POLICY_UNSET", "ERROR_INVAL", "ERROR_FAIL"]
