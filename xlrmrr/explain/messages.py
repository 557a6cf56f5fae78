"""Recognising messages in a log: each line searched for the rules' forms, repeats folded."""

from __future__ import annotations

import re

from xlrmrr.common import PAGE_SHIFT
from xlrmrr.explain.rules import INFO, OUTCOME_RANK, RULES, Form, Rule
from xlrmrr.records import record


@record(eq=False)
class Message:
    """One recognised message (repeats of the same message for the same guest and device are
    folded into one, with their count and the address span they cover)."""

    rule: Rule
    form: Form
    source: str             # file name
    line: int               # first line (1-based)
    text: str               # that line, stripped
    dom: int | None = None
    sbdf: str | None = None
    addrs: tuple[int, ...] = ()     # the addresses the messages name (bytes)
    base: int | None = None         # an inclusive range the message names
    end: int | None = None
    errno: str | None = None
    count: int = 1
    # libxl's "FILE:LINE:FUNCTION: " prefix of the line (libxl__logv), when it has one
    site: tuple[str, int, str] | None = None

    def to_json(self) -> dict:
        return {"code": self.rule.code, "component": self.rule.component,
                "where": self.rule.where, "outcome": self.rule.outcome,
                "releases": self.form.releases, "source": self.source, "line": self.line,
                "text": self.text, "domid": self.dom, "sbdf": self.sbdf,
                "addrs": list(self.addrs), "start": self.base,
                "size": None if self.base is None or self.end is None
                else self.end - self.base + 1,
                "errno": self.errno, "count": self.count,
                "printed_at": None if self.site is None else ":".join(map(str, self.site))}


_DOMAIN_PREFIX = re.compile(r"Domain (\d+):")


# libxl__logv (libxl_internal.c): "libxl: error: libxl_dm.c:620:libxl__domain_device_construct_rdm: "
_LIBXL_SITE = re.compile(r"libxl: \w+: ([\w.-]+\.c):(\d+):(\w+): ")


def _compiled():
    return [(rule, form, re.compile(form.pattern)) for rule in RULES for form in rule.forms]


_COMPILED: list = []


# Every rule's text holds one of these words (test_every_rule_passes_the_prefilter): lines
# without any are not searched rule by rule (a boot log has thousands of them).
PREFILTER = ("RDM", "RMRR", "reserved", "assign", "identity map", "PoD", "memory map", "DMAR",
             "passthrough", "rdm", "Invalid device scope")


_PREFILTER: list = []


def recognise(lines, source: str) -> list[Message]:
    """The RDM-related messages among `lines` (text lines of xl's stderr or xl dmesg, any
    prefixes), in order, repeats folded."""
    if not _COMPILED:
        _COMPILED.extend(_compiled())
        _PREFILTER.append(re.compile("|".join(map(re.escape, PREFILTER))))
    wanted = _PREFILTER[0].search
    found: list[Message] = []
    index: dict = {}        # fold key -> position in found
    for no, raw in enumerate(lines, 1):
        if not wanted(raw):
            continue
        line = raw.rstrip("\r\n")
        for rule, form, rx in _COMPILED:
            m = rx.search(line)
            if not m:
                continue
            msg = _message(rule, form, m, source, no, line)
            # An identity-map failure is printed once per page: one message per guest.
            what = None if rule.code == "identity-map-busy" else (msg.addrs, msg.base, msg.errno)
            key = (rule.code, msg.dom, msg.sbdf, what)
            if key in index:
                found[index[key]] = _fold(found[index[key]], msg)
            else:
                index[key] = len(found)
                found.append(msg)
            break
    return found


def _fold(a: Message, b: Message) -> Message:
    from dataclasses import replace

    addrs = a.addrs + tuple(x for x in b.addrs if x not in a.addrs)
    return replace(a, addrs=addrs, count=a.count + 1)


def _message(rule: Rule, form: Form, m, source: str, no: int, line: str) -> Message:
    dom = sbdf = base = end = errno = None
    addrs: list[int] = []
    for name, value in zip(form.groups, m.groups()):
        if value is None:
            continue
        if name == "addr":
            addrs.append(int(value, 16))
        elif name == "pfn":
            addrs.append(int(value, 16) << PAGE_SHIFT)
        elif name == "base":
            base = int(value, 16)
        elif name == "end":
            end = int(value, 16)
        elif name == "sbdf":
            sbdf = value.lower()
        elif name == "dom":
            dom = int(value)
        elif name == "errno":
            errno = value.strip()
    site = None
    if rule.component == "libxl":
        at = _LIBXL_SITE.search(line[:m.start()])
        if at:
            site = (at.group(1), int(at.group(2)), at.group(3))
    if dom is None:
        d = _DOMAIN_PREFIX.search(line[:m.start()])
        if d:
            dom = int(d.group(1))
    if base is not None and not addrs:
        addrs.append(base)
    return Message(rule, form, source, no, line.strip(), dom, sbdf, tuple(addrs), base, end, errno,
                   site=site)


def worst_outcome(messages) -> str:
    return max((m.rule.outcome for m in messages), key=OUTCOME_RANK.__getitem__, default=INFO)
