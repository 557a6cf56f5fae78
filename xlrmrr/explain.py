"""Reading a failure log: the RDM-related messages of xl, libxl, Xen and hvmloader, each tied to
the rule that printed it (component, source file, function, the releases that print it in that
form) and what it means for the guest.

Pure: `recognise(lines, source)` takes text lines (the CLI reads the files) and returns the
messages found; `explain(messages, host, ...)` adds the host's view of each range. Every
pattern is written from the message texts of Xen's source at each release tag (cited per rule
as file:function:releases); the formats changed over time (`Dom1` became `d1` with `%pd`,
`%04x:%02x:%02x.%u` became `%pp`, "(base,end]" became "[base,end]"), so one rule may carry
several forms, each with the releases that print it. The release ranges let a log say which
Xen printed it.
"""

from __future__ import annotations

import re

from xlrmrr.common import PAGE_SHIFT, Sbdf, XenVersion
from xlrmrr.ranges import overlaps
from xlrmrr.records import record

FAILS = "fails"             # the operation the message belongs to failed
DEGRADED = "degraded"       # it went on without honouring an RMRR
VTD_OFF = "vtd-disabled"    # Xen rejected the DMAR: no passthrough at all
INFO = "info"               # context only

OUTCOME_RANK = {INFO: 0, DEGRADED: 1, FAILS: 2, VTD_OFF: 2}

_HEX = r"([0-9a-fA-F]+)"
_0X = r"0x([0-9a-fA-F]+)"
_SBDF = r"([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])"
_DOM = r"(?:Dom|d)(\d+)"


@record
class Form:
    """One printed form of a rule's message: the regular expression (searched anywhere in a
    line, so timestamps and prefixes do not matter) and the releases that print it."""

    pattern: str
    releases: str           # "4.6-4.14.4,4.15.0-4.15.2,4.16.0": ranges of X.Y[.Z]
    # What the groups are: a tuple of names among addr (an address), pfn (a page number),
    # base/end (an inclusive range), sbdf, dom, errno, outcome-word
    groups: tuple[str, ...] = ()


@record
class Rule:
    """A message Xen prints, and what it means."""

    code: str
    component: str          # xl | libxl | xen | hvmloader
    where: str              # Xen's file:function (function names as of the newest release)
    outcome: str            # FAILS | DEGRADED | VTD_OFF | INFO
    meaning: str            # what the rule is, in one or two sentences
    change: str             # what to change, generally (the --cfg re-plan gives the exact fix)
    forms: tuple[Form, ...]
    plan_codes: tuple[str, ...] = ()    # the planner's finding codes for the same event


def _rules() -> tuple[Rule, ...]:
    L = "tools/libs/light/"     # tools/libxl/ up to 4.13
    V = "xen/drivers/passthrough/vtd/"
    return (
        Rule("rdm-conflict", "libxl", f"{L}libxl_dm.c:libxl__domain_device_construct_rdm", FAILS,
             "a reserved device memory range with policy strict overlaps guest RAM that libxl "
             "cannot move: low RAM at or below rdm_mem_boundary (default 2048 MiB), or RAM "
             "above 4 GiB; libxl stops building the guest",
             "keep guest RAM off the range (smaller memory, or rdm_mem_boundary below the "
             "range's start so that libxl lowers lowmem_end under it), or give the owning "
             "device rdm_policy=relaxed (the RMRR then goes unprotected)",
             (Form(r"(?<!Ignoring )RDM conflict at " + _0X + r"\.", "4.6-4.22", ("addr",)),),
             ("rdm-conflict",)),
        Rule("rdm-conflict-ignored", "libxl", f"{L}libxl_dm.c:libxl__domain_device_construct_rdm",
             DEGRADED,
             "the range overlaps guest RAM, but its policy is relaxed (or unset): libxl drops it "
             "from the guest's e820 and carries on; the device's DMA to it will hit guest RAM",
             "make the overlap go away as for a strict conflict, or accept the risk for this "
             "device (USB legacy buffers are usually harmless after hand-off; IGD stolen "
             "memory is not)",
             (Form(r"Ignoring RDM conflict at " + _0X + r"\.", "4.6-4.22", ("addr",)),),
             ("rdm-conflict-ignored",)),
        Rule("rdm-check-failed", "libxl", f"{L}libxl_dom.c:libxl__build_hvm", FAILS,
             "libxl__domain_device_construct_rdm returned an error (an RDM conflict above, or "
             "the RDM query failed): the domain build is abandoned",
             "see the message before it (RDM conflict at ...)",
             (Form(r"checking reserved device memory failed", "4.6-4.22"),),
             ("construct-rdm-failed", "rdm-conflict")),
        Rule("rdm-query-failed", "libxl", f"{L}libxl_dm.c:libxl__xc_device_get_rdm", FAILS,
             "XENMEM_reserved_device_memory_map failed with an error other than ENOBUFS (a "
             "hypervisor built without passthrough support answers ENOSYS)",
             "run a hypervisor with IOMMU support, or drop rdm= and pci= from the config",
             (Form(r"Could not get reserved device memory maps\.", "4.6-4.22"),)),
        Rule("memmap-too-many", "libxl", f"{L}libxl_x86.c:domain_construct_memmap", FAILS,
             "the guest memory map would have 128 entries or more (one per exposed RDM, plus "
             "low and high RAM): libxl refuses to set it",
             "reserve fewer ranges: drop rdm=\"strategy=host\" (reserve only the assigned "
             "devices' RMRRs)",
             (Form(r"Too many entries in the memory map", "4.6-4.22"),),
             ("memmap-too-many",)),
        Rule("set-memmap-failed", "libxl", f"{L}libxl_x86.c:libxl__arch_domain_finalise_hw_"
             "description", FAILS,
             "XENMEM_set_memory_map was not sent or failed (follows 'Too many entries in the "
             "memory map')", "see the message before it",
             (Form(r"setting domain memory map failed", "4.6-4.22"),),
             ("set-memory-map-failed", "memmap-too-many")),
        Rule("pod-passthrough", "libxl", f"{L}libxl_create.c:libxl__domain_config_setdefault",
             FAILS,
             "memory is smaller than maxmem (populate-on-demand), which cannot be combined with "
             "passthrough: libxl refuses the guest before building anything",
             "write memory equal to maxmem (or drop maxmem)",
             (Form(r"PCI device assignment for HVM guest failed due to PoD enabled",
                   "4.6-4.14.4,4.15.0-4.15.2,4.16.0"),
              Form(r"IOMMU required for device passthrough but not supported together with PoD",
                   "4.14.5-4.14,4.15.3-4.15,4.16.1-4.22")),
             ("pod-passthrough",)),
        Rule("no-iommu", "libxl", f"{L}libxl_create.c:libxl__domain_config_setdefault", FAILS,
             "the hypervisor has no IOMMU in use (no DMAR, or Xen rejected it and disabled "
             "VT-d): passthrough is refused",
             "fix the firmware table problem Xen printed at boot (xl dmesg), or boot with the "
             "IOMMU enabled",
             (Form(r"passthrough not supported on this platform", "4.13-4.22"),
              Form(r"PCI device " + _SBDF + r" cannot be assigned - no IOMMU", "4.6-4.22",
                   ("sbdf",))),
             ("no-iommu",)),
        Rule("pci-assigned-elsewhere", "libxl", f"{L}libxl_pci.c:libxl__device_pci_add", FAILS,
             "xc_test_assign_device says the device is not dom0's to give: another guest (or "
             "an earlier pci= entry of this one) has it",
             "remove the duplicate pci= entry, or detach the device from the other guest",
             (Form(r"PCI device " + _SBDF + r" already assigned to a different guest", "4.6-4.22",
                   ("sbdf",)),),
             ("pci-duplicate", "device-twice")),
        Rule("assign-failed", "libxl", f"{L}libxl_pci.c:pci_add_dm_done (do_pci_add up to 4.12)",
             FAILS,
             "XEN_DOMCTL_assign_device failed: with EPERM the hypervisor refused a device whose "
             "RMRR is shared (strict), with EBUSY an identity mapping hit guest RAM (strict), "
             "with EADDRINUSE two RMRR mappings overlap",
             "see the hypervisor's message in xl dmesg at the same time",
             (Form(r"xc_assign_device failed(?:: (.+))?", "4.6-4.22", ("errno",)),),
             ("assign-failed", "shared-rmrr", "identity-busy", "identity-overlap")),
        Rule("rdm-flag-unknown", "libxl", f"{L}libxl_pci.c:pci_add_dm_done", FAILS,
             "the device's rdm_policy is neither strict nor relaxed (an uninitialised policy "
             "copied by xl from an rdm= line without policy=): libxl refuses to assign it",
             "write rdm_policy=strict or rdm_policy=relaxed in the pci= entry",
             (Form(r"unknown rdm check flag", "4.6-4.22"),),
             ("rdm-flag-unknown",)),
        Rule("shared-rmrr", "xen", f"{V}iommu.c:intel_iommu_assign_device", FAILS,
             "the device's RMRR lists more than one device; Xen refuses to assign a device of "
             "a shared RMRR unless the assignment is relaxed (-EPERM)",
             "assign the whole sharing group to this guest with rdm_policy=relaxed on each "
             "entry, or leave the device with dom0",
             (Form(r"It's disallowed to assign " + _SBDF + r" with shared RMRR at " + _HEX
                   + r" for Dom(\d+)\.", "4.6-4.14", ("sbdf", "addr", "dom")),
              Form(r"It's disallowed to assign " + _SBDF + r" with shared RMRR at " + _HEX
                   + r" for d(\d+)\.", "4.15-4.22", ("sbdf", "addr", "dom"))),
             ("shared-rmrr",)),
        Rule("shared-rmrr-risky", "xen", f"{V}iommu.c:intel_iommu_assign_device", DEGRADED,
             "the device's RMRR is shared and the assignment is relaxed: Xen assigns it and "
             "maps the range 1:1 into this guest, as it stays mapped for the other devices' "
             "owners",
             "assign every device of the sharing group to the same guest",
             (Form(r"It's risky to assign " + _SBDF + r" with shared RMRR at " + _HEX
                   + r" for Dom(\d+)\.", "4.6-4.14", ("sbdf", "addr", "dom")),
              Form(r"It's risky to assign " + _SBDF + r" with shared RMRR at " + _HEX
                   + r" for d(\d+)\.", "4.15-4.22", ("sbdf", "addr", "dom"))),
             ("shared-rmrr-risky",)),
        Rule("cannot-map-rmrr", "xen", f"{V}iommu.c:intel_iommu_assign_device", FAILS,
             "the 1:1 mapping of one of the device's RMRRs failed (the error is -errno: -16 "
             "EBUSY guest RAM is there, -98 EADDRINUSE it overlaps another mapped range)",
             "keep guest RAM off the range (the re-plan says how), or use rdm_policy=relaxed",
             (Form(r"\[VT-D\]\s*cannot map reserved region \(" + _HEX + "," + _HEX
                   + r"\] for Dom(\d+) \((-?\d+)\)", "4.6-4.14.4,4.15.0-4.15.2,4.16.0",
                   ("base", "end", "dom", "errno")),
              # XSA-400 (78a40f8b5d): 4.17, and 4.13.5 (not a candidate here), 4.14.5, 4.15.3,
              # 4.16.1
              Form(r"d(\d+): cannot map reserved region \[" + _HEX + "," + _HEX + r"\]: (-?\d+)",
                   "4.14.5-4.14,4.15.3-4.15,4.16.1-4.22", ("dom", "base", "end", "errno"))),
             ("identity-busy", "identity-overlap", "assign-failed")),
        Rule("identity-map-busy", "xen", "xen/arch/x86/mm/p2m.c:p2m_add_identity_entry "
             "(set_identity_p2m_entry up to 4.16)", FAILS,
             "a page of an RMRR is already guest RAM (or another mapping), so Xen cannot map it "
             "1:1; strict: the assignment fails with -EBUSY; relaxed: the page stays RAM and "
             "the device's DMA lands in guest memory",
             "keep guest RAM off the range: the RMRR must be in the guest's e820 as reserved "
             "(libxl only reserves what it selected with policy strict)",
             (Form(r"Cannot setup identity map d(\d+):" + _HEX + r", gfn already mapped to "
                   + _HEX + r"\.", "4.6-4.22", ("dom", "pfn", "mfn")),),
             ("identity-busy", "identity-relaxed")),
        Rule("hvmloader-dynamic-conflict", "hvmloader", "tools/firmware/hvmloader/e820.c:"
             "memory_map_setup", FAILS,
             "a reserved entry of the guest memory map overlaps hvmloader's own dynamic area "
             "(0xfc100000-0xfe000000; from 0xfc001000 up to 4.12.3, 4.13.1 and in 4.14.0): hvmloader "
             "stops (BUG) and the guest never boots, although xl create succeeded",
             "do not reserve that range in this guest (an RMRR there cannot be honoured by "
             "hvmloader): leave the device out, or drop rdm=\"strategy=host\" if another "
             "device's RMRR is the one",
             (Form(r"Fail to setup memory map due to conflict on dynamic reserved memory range",
                   "4.6-4.22"),),
             ("hvmloader-dynamic-conflict",)),
        Rule("hvmloader-no-memmap", "hvmloader", "tools/firmware/hvmloader/e820.c:"
             "memory_map_setup", FAILS,
             "hvmloader could not read the memory map libxl set (XENMEM_memory_map)",
             "see libxl's messages of the same start",
             (Form(r"Get guest memory maps\[(\d+)\] failed\. \((-?\d+)\)", "4.6-4.22",
                   ("count", "errno")),)),
        Rule("dmar-rmrr-overlap", "xen", f"{V}dmar.c:acpi_parse_one_rmrr", VTD_OFF,
             "two RMRRs of the firmware table overlap: Xen rejects the DMAR and disables VT-d",
             "update the firmware; until then no device can be passed through",
             (Form(r"Overlapping RMRRs \[" + _HEX + "," + _HEX + r"\] and \[" + _HEX + ","
                   + _HEX + r"\]", "4.6-4.22", ("base", "end", "base2", "end2")),),
             ("rmrr-overlap",)),
        Rule("dmar-rmrr-incorrect", "xen", f"{V}dmar.c:acpi_parse_one_rmrr", VTD_OFF,
             "an RMRR ends before it starts (or is not page aligned where Xen requires it): "
             "Xen rejects the DMAR and disables VT-d",
             "update the firmware",
             (Form(r"The RMRR \(" + _HEX + ", " + _HEX + r"\) is incorrect!", "4.6-4.13",
                   ("base", "end")),
              Form(r"RMRR \[" + _HEX + "," + _HEX + r"\] is incorrect!", "4.14-4.22",
                   ("base", "end"))),
             ("bad-rmrr",)),
        Rule("dmar-rmrr-not-reserved", "xen", f"{V}dmar.c:acpi_parse_one_rmrr "
             "(xen/drivers/passthrough/x86/iommu.c:iommu_unity_region_ok from 4.19)", INFO,
             "the RMRR is not (entirely) reserved in the host's e820; from 4.19 Xen reserves "
             "the pages itself where they are not RAM",
             "report it to the firmware vendor; it matters only where the range is RAM",
             (Form(r"RMRR address range not in reserved memory base = " + _HEX + " end = " + _HEX,
                   "4.6", ("base", "end")),
              Form(r"RMRR address range " + _HEX + r"\.\." + _HEX + " not in reserved memory",
                   "4.7-4.13", ("base", "end")),
              Form(r"RMRR \[" + _HEX + "," + _HEX + r"\] not in reserved memory", "4.14-4.18",
                   ("base", "end")),
              Form(r"RMRR: \[" + _0X + ", " + _0X + r"\] is not \(entirely\) in reserved memory",
                   "4.19-4.22", ("base", "end"))),
             ("rmrr-not-reserved",)),
        Rule("dmar-rmrr-over-ram", "xen", "xen/drivers/passthrough/x86/iommu.c:"
             "iommu_unity_region_ok", VTD_OFF,
             "an RMRR page is E820 RAM (or cannot be reserved): the range check fails, Xen "
             "rejects the DMAR and disables VT-d (4.19 and later)",
             "update the firmware; an older Xen only warned",
             (Form(r"RMRR: page at " + _0X + r" (?:couldn't be reserved|can't be converted)",
                   "4.19-4.22", ("addr",)),),
             ("rmrr-over-ram",)),
        Rule("dmar-rmrr-ignored", "xen", f"{V}dmar.c:acpi_parse_one_rmrr", INFO,
             "no device of the RMRR's scope exists: Xen ignores the RMRR (debug builds say "
             "so)", "nothing, unless the device should exist",
             (Form(r"Ignore the RMRR \(" + _HEX + ", " + _HEX + r"\) due to devices under its "
                   r"scope are not PCI discoverable", "4.6-4.13", ("base", "end")),
              Form(r"Ignore RMRR \[" + _HEX + "," + _HEX + r"\] as no device under its scope is "
                   r"PCI discoverable", "4.14-4.22", ("base", "end"))),
             ("rmrr-ignored", "rmrr-device-absent")),
        Rule("dmar-rmrr-device-absent", "xen", f"{V}dmar.c:acpi_parse_one_rmrr", INFO,
             "a device the RMRR's scope names does not exist on the host",
             "nothing, unless the device should exist",
             (Form(r"Non-existent device \(" + _SBDF + r"\) is reported in RMRR \(" + _HEX
                   + ", " + _HEX + r"\)'s scope", "4.6-4.13", ("sbdf", "base", "end")),
              Form(r"Non-existent device \(" + _SBDF + r"\) is reported in RMRR \[" + _HEX
                   + ", ?" + _HEX + r"\]'s scope", "4.14-4.22", ("sbdf", "base", "end"))),
             ("rmrr-device-absent", "scope-device-absent")),
        Rule("dmar-rejected", "xen", f"{V}dmar.c:acpi_parse_dmar", VTD_OFF,
             "Xen could not use the DMAR table (a message before this one says why): VT-d is "
             "off, no device can be passed through",
             "see the message before it; update the firmware",
             (Form(r"Failed to parse ACPI DMAR\.\s+Disabling VT-d", "4.6-4.22"),)),
        Rule("dmar-zero-width", "xen", f"{V}dmar.c:acpi_parse_dmar", VTD_OFF,
             "the DMAR's host address width is 0: Xen rejects the table",
             "update the firmware",
             (Form(r"Zero: Invalid DMAR width", "4.6-4.22"),),
             ("bad-haw",)),
        Rule("dmar-bad-length", "xen", f"{V}dmar.c:acpi_parse_dmar", VTD_OFF,
             "a DMAR structure has an impossible length: Xen rejects the table",
             "update the firmware",
             (Form(r"Invalid ACPI DMAR entry length: 0x([0-9a-fA-F]+)", "4.6-4.22", ("length",)),),
             ("bad-structure-length",)),
        Rule("dmar-bad-scope", "xen", f"{V}dmar.c:acpi_parse_dev_scope", VTD_OFF,
             "a device scope entry of the DMAR is malformed: Xen rejects the table",
             "update the firmware",
             (Form(r"Invalid device scope", "4.6-4.22"),),
             ("bad-scope-length",)),
        Rule("xl-rdm-syntax", "xl", "tools/libs/util/libxlu_pci.c:xlu_rdm_parse", DEGRADED,
             "xl could not parse rdm=: it ignores the whole line (strategy stays ignore: only "
             "the assigned devices' RMRRs are looked at)",
             "write rdm = \"strategy=host,policy=relaxed\" exactly (no spaces; on 4.15+ xl "
             "drops any rdm= with a valid policy: write rdm = \"strategy=host\" and give each "
             "pci= entry rdm_policy=)",
             (Form(r"Unknown RDM (?:state option|strategy option|policy): ?(.*)", "4.6-4.22",
                   ("text",)),)),
        Rule("xl-rdm-policy-syntax", "xl", "tools/libs/util/libxlu_pci.c:xlu_pci_parse_spec_"
             "string", FAILS,
             "a pci= entry's rdm_policy is neither strict nor relaxed: xl refuses the config",
             "write rdm_policy=strict or rdm_policy=relaxed",
             (Form(r"(\S+) is not an valid PCI RDM property policy", "4.6-4.14", ("text",)),)),
    )


RULES = _rules()


# ----------------------------------------------------------------------------------------------
# Releases: the forms name ranges of X.Y[.Z]; the log's forms together narrow the release.

_POINTS = {14: 5, 15: 3, 16: 1}     # the point releases whose libxl prints the new PoD text


def _candidates() -> tuple[tuple[int, int, int], ...]:
    out = []
    for minor in range(6, 23):
        out.append((4, minor, 0))
        if minor in _POINTS:
            out.append((4, minor, _POINTS[minor]))
    return tuple(out)


CANDIDATES = _candidates()


def _bound(text: str, end: bool) -> tuple[int, int, int]:
    parts = [int(x) for x in text.split(".")]
    if len(parts) == 2:
        parts.append(999 if end else 0)
    return tuple(parts)     # type: ignore[return-value]


def release_set(spec: str) -> frozenset:
    """The candidate releases (X.Y.Z tuples) a form's `releases` spec covers."""
    out = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        lo, hi = _bound(first, False), _bound(last or first, True)
        if not last and first.count(".") == 2:
            hi = lo
        out.update(c for c in CANDIDATES if lo <= c <= hi)
    return frozenset(out)


def candidate_of(v: XenVersion) -> tuple[int, int, int]:
    """The candidate that stands for release v (4.14.3 -> 4.14.0, 4.16.2 -> 4.16.1)."""
    point = _POINTS.get(v.minor)     # every modelled release is 4.x
    if point is not None and (v.patch or 0) >= point:
        return (4, v.minor, point)
    return (v.major, v.minor, 0)


def version_for(candidate) -> XenVersion:
    """The XenVersion a candidate (X.Y.Z tuple) stands for: the X.Y.0 candidate of a line with
    a later point candidate stands for the releases up to that point (4.14.0 -> 4.14.4)."""
    maj, minor, patch = candidate
    if minor in _POINTS:
        return XenVersion(maj, minor, _POINTS[minor] - 1 if patch == 0 else patch)
    return XenVersion(maj, minor)


def _label(c: tuple[int, int, int], end: bool) -> str:
    maj, minor, patch = c
    if minor not in _POINTS:
        return f"{maj}.{minor}"
    if not end:
        return f"{maj}.{minor}" if patch == 0 else f"{maj}.{minor}.{patch}"
    return f"{maj}.{minor}.{_POINTS[minor] - 1}" if patch == 0 else f"{maj}.{minor}"


def describe_releases(releases) -> str:
    """'4.6-4.14.4, 4.15.0-4.15.2, 4.16.0' for a set of candidates; a line's point release
    alone reads '4.14.5 and later 4.14.x'."""
    runs: list[list] = []
    for i, c in enumerate(CANDIDATES):
        if c in releases:
            if runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
    out = []
    for a, b in runs:
        first, last = _label(CANDIDATES[a], False), _label(CANDIDATES[b], True)
        if a == b and CANDIDATES[a][2]:
            out.append(f"{first} and later {last}.x")
        elif a == b and CANDIDATES[a][1] in _POINTS:
            first = f"{first}.0"
            out.append(first if first == last else f"{first}-{last}")
        else:
            out.append(first if first == last else f"{first}-{last}")
    return ", ".join(out) or "none"


# ----------------------------------------------------------------------------------------------
# Recognising messages.

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


def fitting_releases(messages) -> frozenset:
    """The candidate releases every recognised message's form is printed by."""
    out = frozenset(CANDIDATES)
    for m in messages:
        out &= release_set(m.form.releases)
    return out


def site_releases(message: Message) -> frozenset | None:
    """The candidate releases whose libxl prints the message at the file, line and function its
    prefix names (xlrmrr/libxl_sites.py, read from the release tags); None when the line has no
    prefix or the rule no table. Empty: no release tag prints it there (a distribution's
    patches or a build between tags)."""
    if message.site is None:
        return None
    from xlrmrr.libxl_sites import SITES

    sites = SITES.get(message.rule.code)
    if sites is None:
        return None
    path, line, func = message.site
    out: set = set()
    for f, fn, first, last, tags in sites:
        if f == path and fn == func and first <= line <= last:
            out.update(_tag_candidates(tags))
    return frozenset(out)


def _tag_candidates(spec: str) -> set:
    from xlrmrr.libxl_sites import TAGS

    out = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        i, j = TAGS.index(first), TAGS.index(last or first)
        for tag in TAGS[i:j + 1]:
            out.add(candidate_of(XenVersion.parse(tag)))
    return out


def located_releases(messages, fitting) -> tuple[frozenset, tuple[Message, ...]]:
    """`fitting` narrowed by the libxl source lines the messages name, and the messages whose
    line no release tag prints them at (not used). When the lines together fit none of
    `fitting` (a patched build, or logs of several releases), `fitting` itself."""
    out = frozenset(fitting)
    unplaced = []
    for m in messages:
        at = site_releases(m)
        if at is None:
            continue
        if not at:
            unplaced.append(m)
            continue
        out &= at
    return (out if out else frozenset(fitting)), tuple(unplaced)


def worst_outcome(messages) -> str:
    return max((m.rule.outcome for m in messages), key=OUTCOME_RANK.__getitem__, default=INFO)


# ----------------------------------------------------------------------------------------------
# The host's view of a message's addresses.

@record(eq=False)
class Owner:
    """The host RMRR a message's address falls in, and the devices it belongs to."""

    base: int
    end: int
    devices: tuple[str, ...]
    classes: tuple[str, ...]
    shared: bool


def owners(message: Message, host) -> tuple[Owner, ...]:
    """The host RMRRs holding the message's addresses or range (none without host data)."""
    if host is None:
        return ()
    from xlrmrr.host.resolve import class_name

    functions = {f.sbdf: f for f in host.devices}

    def owner(r) -> Owner:
        classes = tuple(class_name(functions[d].class_code if d in functions else None)
                        for d in r.devices)
        return Owner(r.base, r.end, tuple(str(d) for d in r.devices), classes, r.shared)

    probes = list(message.addrs)
    if message.base is not None:
        probes.append(message.base)
    out = [owner(r) for r in host.rmrrs
           if any((r.base & ~0xFFF) <= a <= (r.end | 0xFFF) for a in probes) or (
               message.base is not None and message.end is not None
               and overlaps(message.base, message.end + 1, r.base, r.end + 1))]
    if not out and message.sbdf:
        # the RMRRs Xen gives the device the message names (xlrmrr.host.index)
        from xlrmrr.host.index import RmrrIndex
        try:
            sbdf = Sbdf.parse(message.sbdf)
        except ValueError:
            return ()
        out = [owner(r) for r in RmrrIndex(host).rmrrs(sbdf)]
    return tuple(out)


def reproduced(message: Message, plan) -> bool | None:
    """Whether the re-plan predicts this message (the same kind of event, at one of the same
    addresses where the message names one); None when the rule has no planner counterpart."""
    if not message.rule.plan_codes or plan is None:
        return None
    want = set(message.addrs)
    if message.base is not None:
        want.add(message.base)
    for f in plan.findings:
        if f.code not in message.rule.plan_codes:
            continue
        if not want or not f.addrs or want & set(f.addrs) or any(
                (a & ~0xFFF) in {x & ~0xFFF for x in f.addrs} for a in want):
            return True
    return False
