"""libxl's constants and what the libxl stage decides: the RDM list and the layout."""

from __future__ import annotations

from xlrmrr.common import (
    MB,
    E820Entry,
    Finding,
    Sbdf,
    XenVersion,
    hexa,
    size_str,
)
from xlrmrr.records import record
from xlrmrr.xlcfg.domain import (
    POLICY_INVALID,
    POLICY_RELAXED,
    PciDevice,
)

PVH_MMIO_START = min(0xFEFF8000, 0xFEE00000, 0xFC000000)
LIBXL_MAXMEM_DEFAULT_KB = 32 * 1024
LIBXL_VGA_HOLE_SIZE = 0x20
HVM_LOWMEM_START = 0x100000
E820MAX = 128
U64_MASK = (1 << 64) - 1
LIBXL_MEMKB_DEFAULT_BYTES = ((1 << 64) - 1) * 1024 & U64_MASK   # ~0ULL KiB, as libxl multiplies it
TWO_MB = 2 * MB
MMIO_HOLE_MIN = 256 * MB
MMIO_HOLE_MAX = 3840 * MB


@record(eq=False, hot=True)
class Rdm:
    """One libxl_device_rdm in d_config.rdms, after construct_rdm.

    policy is the entry's final policy: "invalid" means libxl will not put it in the memory map
    (never exposed to hvmloader). "unset" is a policy copied from uninitialised memory by xl
    (docs/xen/flow.md#xl-rdm): libxl treats it like relaxed in the conflict pass but exposes it.
    """

    start: int
    size: int
    policy: str                              # "strict" | "relaxed" | "invalid" | "unset"
    devices: tuple[Sbdf, ...] = ()           # the RMRR's device scope on the host
    assigned: tuple[Sbdf, ...] = ()          # the guest's pci= devices whose query returned it
    requested_policy: str = POLICY_RELAXED   # policy before the conflict pass
    source: str = "host"                     # "host" (XENMEM_RDM_ALL) | "device" (per-device query)
    conflict: bool = False                   # overlapped guest RAM in the policy pass
    relocated: bool = False                  # lowmem_end was moved below it

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def exposed(self) -> bool:
        """In the XENMEM_set_memory_map payload, hence in the guest's e820."""
        return self.policy != POLICY_INVALID


@record(eq=False, hot=True)
class DevicePolicy:
    """A pci= device with the rdm_policy libxl uses at construct_rdm and at assignment."""

    device: PciDevice
    sbdf: Sbdf | None
    policy_at_build: str        # as construct_rdm sees it (INVALID defaulted to STRICT on 4.14+)
    policy_at_assign: str       # after libxl__device_pci_setdefault at device add


@record(eq=False)
class LibxlLayout:
    """What libxl__build_hvm decided: sizes, the RDM list and the memory map it sends to Xen."""

    xen_version: XenVersion
    guest_type: str
    hap: bool
    max_memkb: int
    target_memkb: int
    video_memkb: int
    mem_size: int               # (max_memkb - video_memkb) * 1024
    mmio_start: int
    mmio_size: int
    lowmem_end: int
    highmem_end: int            # 0: no highmem
    lowmem_end_initial: int     # before construct_rdm
    highmem_end_initial: int
    total_pages: int            # what xc_dom_mem_init gets (integer MiB << 8)
    target_pages: int
    pod: bool
    strategy: str
    policy: str                 # global policy after libxl__rdm_setdefault
    rdm_mem_boundary: int       # bytes
    mmio_hole_xenstore: int     # platform/mmio_hole_size written for hvmloader, 0 if not written
    rdms: tuple[Rdm, ...]
    devices: tuple[DevicePolicy, ...]
    memory_map: tuple[E820Entry, ...]   # XENMEM_set_memory_map entries, libxl order
    findings: tuple[Finding, ...]
    failed: bool
    construct_rdm_ran: bool = True
    # Why libxl built no layout although the guest is HVM/PVH: "" (it did), STOPPED_SETDEFAULT
    # (its setdefault checks refused the config before libxl__build_hvm) or STOPPED_UNMODELLED
    # (libxl__build_hvm's arithmetic goes where xlrmrr does not follow; `findings` says why). The
    # size fields then hold what xlrmrr computed, not anything Xen built: reports show none.
    stopped: str = ""

    @property
    def exposed_rdms(self) -> tuple[Rdm, ...]:
        return tuple(r for r in self.rdms if r.exposed)


STOPPED_SETDEFAULT = "setdefault"
STOPPED_UNMODELLED = "not modelled"


def libxl_finding(severity: str, code: str, message: str, *addrs: int, component: str = "libxl") -> Finding:
    return Finding(severity, code, component, message, tuple(addrs))


def describe_rdm(r: Rdm) -> str:
    return f"[{hexa(r.start)}, {hexa(r.end - 1)}] ({size_str(r.size)})"
