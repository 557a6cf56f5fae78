"""Every behaviour change between the Xen releases xlrmrr models, named once.

A stage never compares release numbers: it asks whether a named change is in effect for the
release planned (`LIBXL_HAP_2M_ROUNDING.in_effect(version)`). The release bands shown to users
(BAND_STARTS, VERSION_BANDS), the bands of stage behaviour the comparison plans once each
(STAGE_BOUNDARIES, stage_key) and the point releases that behave differently from their line's
X.Y.0 (point_releases) are all derived from CHANGES. docs/xen/releases.md describes each change.
tests/test_releases.py checks that no gate in xlrmrr/ bypasses this table and that every change
in it is used.
"""

from __future__ import annotations

from xlrmrr.common import NEWEST_XEN, OLDEST_XEN, XenVersion
from xlrmrr.records import record

# What a change alters, which decides how the release comparison treats it:
XL = "xl"           # how xl reads the config file (the comparison re-reads the file per release)
DMAR = "dmar"       # how Xen builds the host from the DMAR (the comparison rebuilds the host)
STAGE = "stage"     # libxl, libxc, the hypervisor's assignment or hvmloader (STAGE_BOUNDARIES)
ADVICE = "advice"   # only what xlrmrr tells the admin to write (remediation texts)
NOT_MODELLED = "not modelled"   # a change xlrmrr deliberately does not model; `note` says why
MODELLED = (XL, DMAR, STAGE)

# The aspects of a guest's outcome a change can alter (`xlrmrr upgrade` compares them per
# release step and cites only the changes that can alter the aspect that differs).
ASPECTS = ("verdict", "xl", "rdms", "lowmem_end", "highmem_end", "e820")
LAYOUT = ("verdict", "rdms", "lowmem_end", "highmem_end", "e820")


@record(eq=False)
class Change:
    """One behaviour change: the first X.Y.0 release with it, the earlier lines' point
    releases it was backported to, the Xen component and commit, and what changes."""

    name: str
    first: XenVersion
    component: str          # xl | libxl | libxc | xen | hvmloader
    commit: str             # "" where not known
    what: str
    kind: str = STAGE
    points: tuple[tuple[int, int, int], ...] = ()   # backports, e.g. ((4, 14, 5), (4, 15, 3))
    note: str = ""          # NOT_MODELLED: the one line the report prints
    # A modelled change says which ASPECTS it can alter (() for message texts only); None is
    # "not said", which tests/test_upgrade.py refuses for a modelled change.
    alters: tuple[str, ...] | None = None
    # What crossing it means for a guest, in the words `xlrmrr upgrade` prints ("" = what);
    # {fixed_in} stands for the releases of the change that reverts this one.
    upgrade: str = ""
    # When it can matter for a guest: a key of xlrmrr.upgrade.MATTERS ("" = whenever an
    # aspect it alters differs)
    matters: str = ""
    reverts: Change | None = None   # the earlier change this one undoes

    def in_effect(self, version: XenVersion) -> bool:
        """Whether Xen `version` behaves the new way. A point release is read from
        version.patch (None: X.Y.0)."""
        if not self.points:
            return version >= self.first
        return version.at_least(*self.points, (self.first.major, self.first.minor, 0))

    def __str__(self) -> str:
        return self.name


def _v(text: str) -> XenVersion:
    major, minor = text.split(".")
    return XenVersion(int(major), int(minor))


# ---- xl: reading the config ----------------------------------------------------------------
XL_TYPE_KEY = Change(
    "xl-type-key", _v("4.10"), "xl", "c7dfe4ac58",
    "xl reads type= (hvm/pv/pvh); before, only builder= chooses HVM", XL,
    alters=ASPECTS, matters="type")
XL_PCI_BEFORE_RDM = Change(
    "xl-pci-before-rdm", _v("4.13"), "xl", "babde47a3f",
    "xl parses pci= before rdm=, so per-device policies no longer inherit rdm='s policy", XL,
    alters=ASPECTS, matters="pci-rdm",
    upgrade="xl parses pci= before rdm=, so pci= entries do not inherit rdm='s policy (the "
            "{first}.0 regression; rdm= first again from {fixed_in})")
XL_RDM_BEFORE_PCI_AGAIN = Change(
    "xl-rdm-before-pci-again", _v("4.17"), "xl", "e45ad0b1b0",
    "xl parses rdm= before pci= again (inheritance restored)", XL,
    points=((4, 14, 5), (4, 15, 3), (4, 16, 1)),
    reverts=XL_PCI_BEFORE_RDM)
XL_RDM_PARSER_REWRITE = Change(
    "xl-rdm-any-order", _v("4.14"), "xl", "df04e202c9",
    "xlu_rdm_parse takes strategy= and policy= in any order, each optional; before, only the "
    "exact form strategy=host,policy=X parses", XL,
    alters=ASPECTS, matters="rdm",
    upgrade="rdm= keys in any order, each optional")
XL_RDM_POLICY_INVERTED = Change(
    "xl-rdm-policy-inverted", _v("4.15"), "xl", "bdc0799fe2",
    "the libxlu rewrite inverts xlu_rdm_parse's policy check: any valid policy= makes xl drop "
    "the whole rdm= line", XL,
    alters=ASPECTS, matters="rdm",
    upgrade="libxlu rewrite: xlu_rdm_parse's policy check is inverted, so xl silently drops "
            "any rdm= carrying a valid policy=")
XL_PCI_SPEC_PARSER = Change(
    "xl-pci-spec-string", _v("4.15"), "xl", "bdc0799fe2",
    "pci= entries are read by xlu_pci_parse_spec_string (unknown keys are errors, rdm_policy "
    "case-insensitive); before, a state machine that only warns on unknown keys", XL,
    alters=ASPECTS, matters="pci",
    upgrade="libxlu rewrite: the PCI_SPEC_STRING parser refuses an unknown key (was a "
            "warning) and trims no whitespace")

# ---- Xen: building the host from the DMAR ----------------------------------------------------
XEN_RMRR_E820_MESSAGE = Change(
    "xen-rmrr-e820-message", _v("4.7"), "xen", "009298d7ba",
    "the RMRR-not-reserved warning becomes 'RMRR address range B..E not in reserved memory' "
    "(a debug-build text in 4.6)", DMAR,
    alters=())
XEN_USER_RMRR = Change(
    "xen-rmrr-option", _v("4.8"), "xen", "431685e8de",
    "Xen's rmrr= command-line option adds RMRRs (add_user_rmrr)", DMAR,
    alters=LAYOUT, matters="host")
XEN_PRESENCE_CHECKS = Change(
    "xen-rmrr-presence-checks", _v("4.12"), "xen", "dcf41790",
    "segments are known when the DMAR is parsed, so RMRRs whose scope names no present device "
    "are ignored", DMAR,
    alters=LAYOUT, matters="host")
XEN_RMRR_RESERVED_WHOLE = Change(
    "xen-rmrr-reserved-whole-range", _v("4.14"), "xen", "d6573bc6e6",
    "the whole RMRR (not only its first and last page) must be E820 reserved/ACPI/NVS, "
    "else a warning", DMAR,
    alters=())
XEN_SATC = Change(
    "xen-satc", _v("4.17"), "xen", "b5996ab284",
    "SATC structures (type 5) are parsed, their scopes checked", DMAR,
    alters=LAYOUT, matters="host")
XEN_USER_RMRR_PAGE_LIMIT = Change(
    "xen-rmrr-option-page-limit", _v("4.17"), "xen", "2d9b369913",
    "an rmrr= range of 16 pages or more stops parsing the rest of that rmrr= parameter", DMAR,
    alters=LAYOUT, matters="host")
XEN_RMRR_OVER_RAM_REJECTED = Change(
    "xen-rmrr-over-ram-rejected", _v("4.19"), "xen", "e45801dea1/a185f88e98",
    "iommu_unity_region_ok: an RMRR over E820 RAM fails the DMAR parse (VT-d disabled); pages "
    "in holes are reserved", DMAR,
    alters=LAYOUT, matters="host",
    upgrade="an RMRR over E820 RAM fails the DMAR parse: VT-d disabled")

# ---- the stages ------------------------------------------------------------------------------
LIBXL_PASSTHROUGH_SETDEFAULT = Change(
    "libxl-passthrough-setdefault", _v("4.13"), "libxl", "ad011ad088",
    "libxl__domain_config_setdefault refuses pci= on a host without an IOMMU ('passthrough not "
    "supported on this platform') and for a PVH guest ('passthrough not yet supported for x86 "
    "PVH guests') before building anything; before, libxl builds the guest and the device add "
    "fails (HVM: xc_test_assign_device, 'cannot be assigned - no IOMMU') or, for PV, ignores "
    "xc_assign_device's ENOSYS",
    alters=LAYOUT, matters="no-iommu",
    upgrade="libxl refuses pci= without an IOMMU (and for PVH) before building the guest; before, "
            "it builds it and the device add fails (PV: goes on without DMA remapping)")
LIBXL_POD_IOMMU_MESSAGE = Change(
    "libxl-pod-iommu-message", _v("4.17"), "libxl", "07449ecfa4",
    "the PoD-with-passthrough refusal reads 'IOMMU required for device passthrough but not "
    "supported together with PoD' (was 'PCI device assignment for HVM guest failed due to PoD "
    "enabled')", points=((4, 14, 5), (4, 15, 3), (4, 16, 1)),
    alters=("verdict",), matters="pod",
    upgrade="the PoD-with-passthrough refusal has a new text")
HVMLOADER_HIGHMEM_ENTRY = Change(
    "hvmloader-highmem-entry", _v("4.7"), "hvmloader", "24e3e3553b",
    "adjust_memory_map appends a RAM entry at 4 GiB when high_mem_pgend is set and the map "
    "has none",
    alters=("e820",),
    upgrade="hvmloader appends the highmem e820 entry when libxl's map has none")
HVMLOADER_FIND_NEXT_RMRR = Change(
    "hvmloader-find-next-rmrr", _v("4.10"), "hvmloader", "ecc607b185",
    "find_next_rmrr searches from the BAR's base, so BAR placement skips every RDM",
    alters=("verdict",),
    upgrade="hvmloader's find_next_rmrr fix: BARs are placed around every RMRR")
LIBXL_PER_DEVICE_DEFAULT = Change(
    "libxl-per-device-policy-default", _v("4.14"), "libxl", "6fdb8eef87",
    "construct_rdm defaults a device's INVALID policy to strict before using it",
    alters=LAYOUT,
    upgrade="per-device policy defaults to strict inside construct_rdm (before: it could stay "
            "INVALID, never put in the e820)")
LIBXL_ALL_DEVICE_RDMS = Change(
    "libxl-every-device-rdm", _v("4.14"), "libxl", "3bdb073643",
    "construct_rdm uses every RDM a device query returns, not only the first",
    alters=LAYOUT,
    upgrade="every per-device RDM entry is honoured, not only each device's first")
LIBXL_HIGHMEM_NOT_FORCED = Change(
    "libxl-highmem-not-forced", _v("4.14"), "libxl", "3840e98f3e",
    "construct_rdm no longer starts highmem_end at 4 GiB (no zero-size RAM entry at 4 GiB)",
    alters=("highmem_end", "e820"),
    upgrade="highmem_end is no longer forced to 4 GiB (no zero-size RAM entry at 4 GiB)")
LIBXL_HAP_2M_ROUNDING = Change(
    "libxl-hap-2m-rounding", _v("4.14"), "libxl", "5f29f34981",
    "with HAP, lowmem_end moved below an RDM is rounded down to 2 MiB",
    alters=("lowmem_end", "highmem_end", "e820"), matters="hap",
    upgrade="HAP guests: lowmem_end below an RDM is rounded down to 2 MiB")
# 8efa46516c and de6d188a51 reached 4.12.4, 4.13.2 and 4.14.1 together (tools/firmware/
# hvmloader/config.h and e820.c at each tag): the NVS entry and the new dynamic start below.
HVMLOADER_BACKPORTS = ((4, 12, 4), (4, 13, 2), (4, 14, 1))
HVMLOADER_HUGE_BARS_HIGH = Change(
    "hvmloader-huge-bars-high", _v("4.19"), "hvmloader", "57acad12a0",
    "pci_setup puts 64-bit BARs larger than 1 GiB (BAR_RELOC_THRESH) above 4 GiB unconditionally "
    "and leaves them out of the low MMIO hole's size; before, they count in mmio_total, grow "
    "the hole (pci_mem_start down to low_mem_end) and go high only when the hole is too small",
    points=((4, 17, 4), (4, 18, 1)),
    alters=LAYOUT,
    upgrade="hvmloader sends 64-bit BARs over 1 GiB above 4 GiB and no longer grows the low "
            "MMIO hole for them")
HVMLOADER_ACPI_NVS = Change(
    "hvmloader-acpi-nvs", _v("4.15"), "hvmloader", "8efa46516c/de6d188a51",
    "build_e820_table types the ACPI area [0xfc000000, ACPI_END) NVS, a separate entry",
    points=HVMLOADER_BACKPORTS,
    alters=("e820",),
    upgrade="hvmloader types its ACPI area NVS (an extra e820 entry [0xfc000000, ACPI end))")
HVMLOADER_DYNAMIC_START = Change(
    "hvmloader-dynamic-reserved-start", _v("4.15"), "hvmloader", "8efa46516c",
    "RESERVED_MEMORY_DYNAMIC_START (config.h) moves from 0xfc001000 to 0xfc100000 (1 MiB for "
    "the ACPI tables), so memory_map_setup's BUG() for a reserved entry overlapping the dynamic "
    "area no longer fires for [0xfc001000, 0xfc100000)",
    points=HVMLOADER_BACKPORTS,
    alters=LAYOUT,
    upgrade="hvmloader's dynamic reserved area starts at 0xfc100000 (was 0xfc001000): an RDM "
            "in between no longer stops hvmloader")
XEN_PD_FORMAT = Change(
    "xen-pd-format", _v("4.15"), "xen", "1ee1441835",
    "the VT-d assignment messages print the domain as d1 (%pd), not Dom1",
    alters=())
XEN_RDM_ZERO_PAGES_SKIPPED = Change(
    "xen-rdm-zero-pages-skipped", _v("4.16"), "xen", "2209c36007",
    "get_reserved_device_memory (common/memory.c) skips an RMRR of 0 pages (PFN_UP(end) - "
    "PFN_DOWN(base) == 0, e.g. [X, X] with X page-aligned): neither reported nor counted, so "
    "libxl never sees it; before, it is reported with nr_pages 0",
    alters=LAYOUT,
    upgrade="a zero-page RMRR is no longer reported by XENMEM_reserved_device_memory_map")
XEN_IOMMU_IDENTITY_MAPPING = Change(
    "xen-iommu-identity-mapping", _v("4.16"), "xen", "c0e19d7c6c",
    "iommu_identity_mapping (XSA-378) replaces rmrr_identity_mapping: an RMRR overlapping a "
    "different range already mapped is refused with -EADDRINUSE",
    points=((4, 13, 4), (4, 14, 3), (4, 15, 1)),
    alters=("verdict",), matters="rmrr-overlap")
XEN_ASSIGN_MAPS_FIRST = Change(
    "xen-assign-maps-first", _v("4.17"), "xen", "78a40f8b5d",
    "intel_iommu_assign_device (XSA-400) identity-maps the device's RMRRs before handing the "
    "device to the guest, and undoes them when the result is an error; before, it hands the "
    "device over first and back to its previous owner at a failing map, and a later RMRR that "
    "maps still makes the call return 0. The failure reads '%pd: cannot map reserved region "
    "[b,e]: rc' (was ' cannot map reserved region (b,e] for Dom%d (rc)')",
    points=((4, 13, 5), (4, 14, 5), (4, 15, 3), (4, 16, 1)),
    alters=("verdict",), matters="rmrrs-per-device",
    upgrade="Xen maps a device's RMRRs before it hands the device to the guest (XSA-400): a "
            "failing map that a later RMRR of the device hides leaves the device assigned "
            "with that RMRR unmapped, instead of back with its previous owner")

# ---- not modelled ----------------------------------------------------------------------------
AMD_IVMD = Change(
    "amd-ivmd", _v("4.16"), "xen", "2209c36007",
    "AMD IVMD ranges are reported through XENMEM_reserved_device_memory_map", NOT_MODELLED,
    note="AMD IVMD ranges (Xen 4.16+; only Intel DMAR tables are read)")
PVH_ACPI_NVS = Change(
    "pvh-acpi-module-nvs", _v("4.21"), "libxl", "d6dab805f1",
    "PVH ACPI modules are typed NVS (was ACPI) in the memory map", NOT_MODELLED,
    note="PVH ACPI module typing (4.21; only HVM guests are planned)")
XEN_EXTRA_RMRR_OFF_BY_ONE = Change(
    "xen-extra-rmrr-off-by-one", _v("4.22"), "xen", "d41501fcf6",
    "driver-registered extra ranges (xhci-dbc) are one page shorter (add_one_extra_rmrr)",
    NOT_MODELLED,
    note="extra RMRRs that drivers register (xhci-dbc, 4.17+; one page shorter from 4.22; "
         "only DMAR and rmrr= ranges are read)")

CHANGES: tuple[Change, ...] = tuple(
    v for v in globals().values() if isinstance(v, Change))


def _derive():
    # A line that got a backport is a band of its own (its point releases are planned from
    # the band's last release, compare._candidates): it and the line after it start bands.
    lines = {XenVersion(p[0], p[1] + k) for c in CHANGES for p in c.points for k in (0, 1)}
    starts = sorted({OLDEST_XEN} | {c.first for c in CHANGES}
                    | {v for v in lines if v <= NEWEST_XEN})
    bands = []
    for i, start in enumerate(starts):
        end = XenVersion(4, starts[i + 1].minor - 1) if i + 1 < len(starts) else NEWEST_XEN
        bands.append((start, end, str(start) if start == end else f"{start}-{end}"))
    stage = sorted({c.first for c in CHANGES if c.kind == STAGE})
    return tuple(starts), tuple(bands), tuple(stage)


# Releases from which some modelled behaviour changes; VERSION_BANDS: (first, last release,
# name), the last release modelling the band; STAGE_BOUNDARIES: the releases at which the stages
# themselves (libxl, libxc, hypervisor, hvmloader) change.
BAND_STARTS, VERSION_BANDS, STAGE_BOUNDARIES = _derive()
STAGE_CHANGES = tuple(c for c in CHANGES if c.kind == STAGE)
# The changes in how Xen builds the host from the DMAR: host.build.host_band's key.
DMAR_CHANGES = tuple(c for c in CHANGES if c.kind == DMAR)


def stage_key(version: XenVersion, ignore: frozenset = frozenset()) -> tuple[bool, ...]:
    """Which stage changes are in effect: two releases with the same key plan alike. `ignore`:
    changes that cannot alter the plan at hand (the driver knows which), left out of the key."""
    return tuple(c.in_effect(version) for c in STAGE_CHANGES if c not in ignore)


def dmar_key(version: XenVersion) -> tuple[bool, ...]:
    """Which DMAR changes are in effect: two releases with the same key build the same Host."""
    return tuple(c.in_effect(version) for c in DMAR_CHANGES)


# The changes in how xl reads the config file: xl_key's.
XL_CHANGES = tuple(c for c in CHANGES if c.kind == XL)


def xl_key(version: XenVersion) -> tuple[bool, ...]:
    """Which xl changes are in effect: two releases with the same key read a config file into
    the same DomainConfig (but for its xen_version)."""
    return tuple(c.in_effect(version) for c in XL_CHANGES)


def point_releases(version: XenVersion) -> tuple[XenVersion, ...]:
    """The later point releases of version's line that a backported change makes behave
    differently from version itself (4.14.5, 4.15.3 and 4.16.1 for xl's rdm= order)."""
    points = sorted({p for c in CHANGES for p in c.points
                     if (p[0], p[1]) == (version.major, version.minor) and p[2]
                     and (version.patch or 0) < p[2]})
    return tuple(XenVersion(*p) for p in points)


def reverted_by(change: Change) -> tuple[Change, ...]:
    """The later changes that undo `change` (xl's rdm= order fix for the 4.13.0 regression)."""
    return tuple(c for c in CHANGES if c.reverts is change)


def effective(change: Change, version: XenVersion) -> bool:
    """Whether `change` is in effect at `version` and no later change undoes it there."""
    return change.in_effect(version) and not any(r.in_effect(version)
                                                 for r in reverted_by(change))


def first_releases(change: Change) -> str:
    """The first release of each line with the change: '4.14.5, 4.15.3, 4.16.1 and 4.17'."""
    names = [".".join(map(str, p)) for p in sorted(change.points)] + [str(change.first)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def upgrade_text(change: Change) -> str:
    """What crossing the change means for a guest, as `xlrmrr upgrade` prints it."""
    text = change.upgrade or change.what
    return text.replace("{first}", str(change.first)).replace(
        "{fixed_in}", "; ".join(first_releases(r) for r in reverted_by(change)))


def not_modelled_notes() -> tuple[str, ...]:
    return tuple(c.note for c in CHANGES if c.kind == NOT_MODELLED)


def line_x0(version: XenVersion) -> XenVersion:
    """The X.Y.0 release of version's line, as a release without a point (X.Y)."""
    return XenVersion(version.major, version.minor)
