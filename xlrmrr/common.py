"""Types every stage shares: PCI addresses, findings, Xen releases, e820 entries, input errors."""

from __future__ import annotations

import re
from dataclasses import field

from xlrmrr.records import record

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_INPUT = 2
EXIT_DEGRADED = 3

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
GB = 1 << 30
MB = 1 << 20
FOUR_GB = 1 << 32

# Xen's public headers, read by xl, libxl and libxc alike: xen/include/public/hvm/e820.h
# (the default low MMIO hole) and hvm_info_table.h (the vcpu_online bitmap's size).
HVM_BELOW_4G_MMIO_START = 0xF0000000
HVM_BELOW_4G_MMIO_LENGTH = FOUR_GB - HVM_BELOW_4G_MMIO_START
HVM_MAX_VCPUS = 128

E820_RAM = 1
E820_RESERVED = 2
E820_ACPI = 3
E820_NVS = 4
E820_UNUSABLE = 5
E820_NAMES = {E820_RAM: "RAM", E820_RESERVED: "RESERVED", E820_ACPI: "ACPI",
              E820_NVS: "NVS", E820_UNUSABLE: "UNUSABLE"}


class InputError(Exception):
    """Bad input or usage. The message is one line naming the file and line or byte offset;
    the CLI prints it and exits with status 2. Where the reader knows it, the location is also
    given as fields: `source` (file name, or the option), `line` (1-based), `column`
    (1-based), `offset` (byte offset in the file, or in the named tar `member`), `json_path`
    (e.g. "devices[3].bars[0]"); None where not known."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 column: int | None = None, offset: int | None = None,
                 json_path: str | None = None, member: str | None = None):
        super().__init__(message)
        self.source, self.line, self.column, self.offset = source, line, column, offset
        self.json_path, self.member = json_path, member


@record(order=True, hot=True)
class Sbdf:
    """A PCI function: segment, bus, device, function."""

    seg: int
    bus: int
    dev: int
    fn: int

    @property
    def devfn(self) -> int:
        return (self.dev << 3) | self.fn

    @property
    def bdf(self) -> int:
        return (self.bus << 8) | self.devfn

    @property
    def value(self) -> int:
        """Xen's sbdf encoding: seg<<16 | bus<<8 | devfn."""
        return (self.seg << 16) | self.bdf

    @classmethod
    def from_bdf(cls, seg: int, bdf: int) -> Sbdf:
        return cls(seg, bdf >> 8, (bdf >> 3) & 0x1F, bdf & 7)

    @classmethod
    def parse(cls, text: str) -> Sbdf:
        """Parse `SSSS:BB:DD.F` or `BB:DD.F` (hex), as printed by lspci and xl."""
        m = re.fullmatch(_SBDF_PATTERN, text.strip())
        if not m:
            raise ValueError(f"not a PCI address (SSSS:BB:DD.F): {text!r}")
        seg, bus, dev, fn = (int(g, 16) if g else 0 for g in m.groups())
        if bus > 0xFF or dev > 0x1F or fn > 7 or seg > 0xFFFF:
            raise ValueError(f"PCI address out of range: {text!r}")
        return cls(seg, bus, dev, fn)

    def __str__(self) -> str:
        return f"{self.seg:04x}:{self.bus:02x}:{self.dev:02x}.{self.fn}"


# Compiled on first use (re caches it): `create --dmar` never parses an SBDF from text.
_SBDF_PATTERN = r"(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])"


@record(order=True)
class XenVersion:
    """A Xen release line (major, minor); behaviour is modelled per release.

    `patch` is the point release when one was given (4.16.1). It takes no part in comparisons
    and equality: only the behaviours documented as backported to point releases (xl's rdm=
    before pci= order, fixed in 4.14.5, 4.15.3 and 4.16.1) look at it; None reads as X.Y.0."""

    major: int
    minor: int
    patch: int | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str, where: str = "--xen-version") -> XenVersion:
        """A modelled release from `X.Y[.Z]` text; InputError naming `where` otherwise."""
        # ASCII digits only, and few of them: \d also matches other scripts' digits, and int()
        # refuses numbers over 4300 digits (ValueError) while no Xen release number has ten.
        m = re.fullmatch(r"([0-9]{1,9})\.([0-9]{1,9})(?:\.([0-9]{1,9}))?(?:[-+~].*)?",
                         text.strip(), re.S)
        if not m:
            raise InputError(f"{where}: {text!r} is not a Xen release such as 4.17 or "
                             "4.16.1")
        v = cls(int(m.group(1)), int(m.group(2)),
                int(m.group(3)) if m.group(3) is not None else None)
        if not v.modelled:
            raise InputError(
                f"{where}: Xen {v} is not modelled; RMRR support (reserved device memory) "
                f"exists from {OLDEST_XEN} and xlrmrr models up to {NEWEST_XEN}")
        return v

    @classmethod
    def from_sysfs(cls, major: str, minor: str, extra: str | None = None) -> XenVersion:
        """The release Linux shows in /sys/hypervisor/version/{major,minor,extra} (Xen's
        XENVER_version and XENVER_extraversion): extra ".5" or ".1-pre" is point release 5 or 1;
        "-unstable", "" or None (unreadable) gives none. ValueError if major or minor is not a
        number; the modelled range is the caller's to check."""
        m = re.match(r"\.(\d+)", (extra or "").strip())
        return cls(int(major), int(minor), int(m.group(1)) if m else None)

    @property
    def modelled(self) -> bool:
        return OLDEST_XEN <= self <= NEWEST_XEN

    def at_least(self, *points: tuple[int, int, int]) -> bool:
        """Whether this release has a fix that reached the given point releases of their lines
        (e.g. (4, 14, 5), (4, 15, 3)); a line not listed has it from X.Y.0 on if it is newer
        than every listed line, never if older."""
        for major, minor, patch in points:
            if (self.major, self.minor) == (major, minor):
                return (self.patch or 0) >= patch
        return (self.major, self.minor) > max((p[0], p[1]) for p in points)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}" + (f".{self.patch}" if self.patch is not None else "")


OLDEST_XEN = XenVersion(4, 6)
NEWEST_XEN = XenVersion(4, 22)


@record(hot=True)
class Finding:
    """Something a stage noticed, tagged with the Xen component whose behaviour it models."""

    severity: str          # "error" | "warning" | "info"
    code: str              # short stable identifier, e.g. "rdm-conflict"
    component: str         # "xl" | "libxl" | "libxc" | "xen" | "hvmloader" | "firmware"
    message: str
    addrs: tuple[int, ...] = ()

    def to_json(self) -> dict:
        return {"severity": self.severity, "code": self.code,
                "component": self.component, "message": self.message}


def span(r) -> dict:
    """A range with an inclusive end (`base`, `end`: an RMRR as the DMAR table and Xen's
    acpi_rmrr_unit give it) as every JSON object gives ranges (docs/json.md#addresses-and-ranges):
    its first byte and its size in bytes. A broken table's range that ends before it starts has
    a size of 0 or less."""
    return {"start": r.base, "size": r.end - r.base + 1}


def hexa(value: int) -> str:
    """An address as Xen prints it (%#lx)."""
    return f"{value:#x}"


def size_str(size: int) -> str:
    """A byte count for humans: 80 KiB, 40 MiB, 1.5 GiB."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            v = size / (1 << shift)
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{size} B"


@record(order=True)
class E820Entry:
    """One e820 entry as Xen lays it out (packed: u64 addr, u64 size, u32 type)."""

    addr: int
    size: int
    type: int

    @property
    def end(self) -> int:
        return self.addr + self.size

    def to_json(self) -> dict:
        """As every JSON object gives a range, with the type by name (docs/json.md#e820)."""
        return {"start": self.addr, "size": self.size,
                "type": E820_NAMES.get(self.type, f"TYPE_{self.type}")}
