"""The RDM-related messages of xl, libxl, Xen and hvmloader, as rules: component, Xen's
file:function, the outcome, what it means, and each printed form with the releases that print
it (written from Xen's source at each release tag)."""

from __future__ import annotations

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


def _shared_rmrr_forms(verb: str) -> tuple[Form, Form]:
    """vtd/iommu.c:intel_iommu_assign_device's "It's <verb> to assign ... with shared RMRR at
    ... for Dom<N>." (4.6-4.14), "... for d<N>." (%pd, 4.15 on)."""
    head = r"It's " + verb + r" to assign " + _SBDF + r" with shared RMRR at " + _HEX
    return (Form(head + r" for Dom(\d+)\.", "4.6-4.14", ("sbdf", "addr", "dom")),
            Form(head + r" for d(\d+)\.", "4.15-4.22", ("sbdf", "addr", "dom")))


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
             _shared_rmrr_forms("disallowed"),
             ("shared-rmrr",)),
        Rule("shared-rmrr-risky", "xen", f"{V}iommu.c:intel_iommu_assign_device", DEGRADED,
             "the device's RMRR is shared and the assignment is relaxed: Xen assigns it and "
             "maps the range 1:1 into this guest, as it stays mapped for the other devices' "
             "owners",
             "assign every device of the sharing group to the same guest",
             _shared_rmrr_forms("risky"),
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
