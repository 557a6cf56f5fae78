"""The typed domain configuration: what xl hands to libxl after parse_config_data.

This is the contract between the xl config stage and the libxl stage. Sizes are in KiB,
as libxl stores them (MemKB); None means "not set, libxl applies its default".
"""

from __future__ import annotations

from dataclasses import field

from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.records import record

# libxl_rdm_reserve_strategy / libxl_rdm_reserve_policy, as strings.
STRATEGY_IGNORE = "ignore"
STRATEGY_HOST = "host"
# xl copied an uninitialised stack value for the strategy (Xen 4.14: `policy=` given alone).
STRATEGY_UNSET = "unset"
POLICY_INVALID = "invalid"
POLICY_STRICT = "strict"
POLICY_RELAXED = "relaxed"
# xl copied an uninitialised stack value (xlu_rdm_parse left the key unset): undefined.
POLICY_UNSET = "unset"

LIBXL_PCI_FUNC_ALL = 0xFFFFFFFF
# rdm_mem_boundary's default (libxl.h LIBXL_RDM_MEM_BOUNDARY_MEMKB_DEFAULT: 2 GiB)
LIBXL_RDM_MEM_BOUNDARY_MEMKB_DEFAULT = 2048 * 1024


@record(hot=True)
class PciDevice:
    """One `pci=` entry as libxl_device_pci after xlu_pci_parse_spec_string."""

    spec: str                       # the PCI_SPEC_STRING exactly as written
    sbdf: Sbdf | None               # None when the device is named with name=
    name: str | None = None
    vfunc_mask: int = 1             # LIBXL_PCI_FUNC_ALL for `.*`
    vdevfn: int = 0
    msitranslate: bool = False
    power_mgmt: bool = False
    permissive: bool = False
    seize: bool = False
    rdm_policy: str = POLICY_INVALID   # before libxl__device_pci_setdefault
    line: int = 0                   # line of the pci= setting


@record
class RdmReserve:
    """libxl_rdm_reserve in b_info.u.hvm.rdm, before libxl__rdm_setdefault."""

    strategy: str = STRATEGY_IGNORE
    policy: str = POLICY_INVALID


@record
class DomainConfig:
    """The settings of one guest that the RDM flow depends on."""

    xen_version: XenVersion
    name: str | None = None
    type: str = "pv"                        # "hvm" | "pv" | "pvh"
    target_memkb: int | None = None         # memory=
    max_memkb: int | None = None            # maxmem=
    video_memkb: int | None = None          # videoram=
    vga: str = "cirrus"                     # "cirrus" | "stdvga" | "qxl" | "none"
    device_model_version: str = "qemu-xen"
    shadow_memkb: int | None = None         # shadow_memory=
    hap: bool | None = None                 # None: host default (HAP when the host has it)
    mmio_hole_memkb: int = 0                # mmio_hole= (0: libxl default hole)
    vcpus: int = 1
    max_vcpus: int | None = None            # maxvcpus= (None: same as vcpus)
    apic: bool = True
    acpi: bool = True
    bios: str = "seabios"                   # "seabios" | "ovmf" | "rombios"
    gfx_passthru: str | None = None         # None | "default" | "igd"
    pci: tuple[PciDevice, ...] = ()
    rdm: RdmReserve = field(default_factory=RdmReserve)
    rdm_mem_boundary_memkb: int | None = None
    rdm_forcecheck: int | None = None       # the original design's spelling, unknown to xl
    acpi_firmware: str | None = None
    smbios_firmware: str | None = None
    source: str = ""                        # file name, for messages
