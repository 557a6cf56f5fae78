"""The driver: runs libxl -> libxc -> hypervisor -> hvmloader over immutable data into a Plan,
decides the verdict and exit status, and proposes verified remediation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_OK, Finding, XenVersion
from xlrmrr.host.model import Host
from xlrmrr.xlcfg.domain import DomainConfig

VERDICT_OK = "ok"
VERDICT_BLOCKED = "blocked"
VERDICT_DEGRADED = "degraded"
EXIT_FOR = {VERDICT_OK: EXIT_OK, VERDICT_BLOCKED: EXIT_FAIL, VERDICT_DEGRADED: EXIT_DEGRADED}


@dataclass(frozen=True)
class Options:
    """Planner knobs that are not in the guest config (all have documented defaults)."""

    hap_available: bool = True          # host supports HAP (EPT): libxl's hap default
    bios_base: int | None = None        # hvmloader's bios_image_base (None: per-BIOS default)
    acpi_end: int | None = None         # end of hvmloader's ACPI area (None: default)
    firmware_sizes: tuple[tuple[str, int], ...] = ()   # (acpi_firmware|smbios_firmware, bytes)
    hvmloader_size: int | None = None   # bytes of the hvmloader image (None: default)
    remediate: bool = True


@dataclass(frozen=True)
class Remediation:
    change: str
    verified: bool
    result: str
    verdict: str | None = None


@dataclass(frozen=True)
class Plan:
    """Everything xlrmrr predicts for one guest on one host."""

    domain: DomainConfig
    host: Host
    xen_version: XenVersion
    libxl: Any                       # xlrmrr.libxl.LibxlLayout
    libxc: Any = None                # xlrmrr.libxc.LibxcResult (None if libxl failed)
    hvm_info: bytes | None = None    # the 48-byte hvm_info_table
    hypervisor: Any = None           # xlrmrr.hypervisor.AssignResult (None if not reached)
    hvmloader: Any = None            # xlrmrr.hvmloader.HvmloaderResult (None if not reached)
    findings: tuple[Finding, ...] = ()
    verdict: str = VERDICT_OK
    exit_status: int = EXIT_OK
    remediation: tuple[Remediation, ...] = ()
    notes: tuple[str, ...] = field(default=())   # version/semantics notes for the report


def plan(domain: DomainConfig, host: Host, xen_version: XenVersion | None = None,
         options: Options | None = None) -> Plan:
    """Run every stage for one guest. Pure: the same inputs give an equal Plan."""
    from xlrmrr import libxl

    options = options or Options()
    version = xen_version or domain.xen_version
    layout = libxl.build(domain, host, version, hap_available=options.hap_available)
    findings = list(layout.findings)
    verdict = VERDICT_BLOCKED if layout.failed else VERDICT_OK
    return Plan(domain, host, version, layout, findings=tuple(findings), verdict=verdict,
                exit_status=EXIT_FOR[verdict])
