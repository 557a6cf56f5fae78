"""Edits of a DomainConfig, each the change one config line makes as xl reads it."""

from __future__ import annotations

from dataclasses import replace

from xlrmrr.common import XenVersion
from xlrmrr.xlcfg.domain import (
    POLICY_INVALID,
    POLICY_STRICT,
    POLICY_UNSET,
    STRATEGY_HOST,
    STRATEGY_UNSET,
    DomainConfig,
    RdmReserve,
)


def memory(domain: DomainConfig, kb: int) -> DomainConfig:
    """memory = maxmem = kb KiB."""
    return replace(domain, target_memkb=kb, max_memkb=kb)


def target_memory(domain: DomainConfig, kb: int) -> DomainConfig:
    """memory = kb KiB, maxmem as it was."""
    return replace(domain, target_memkb=kb)


def rdm_mem_boundary(domain: DomainConfig, mb: int) -> DomainConfig:
    return replace(domain, rdm_mem_boundary_memkb=mb * 1024)


def mmio_hole(domain: DomainConfig, mb: int) -> DomainConfig:
    return replace(domain, mmio_hole_memkb=mb * 1024)


def rdm(domain: DomainConfig, reserve: RdmReserve) -> DomainConfig:
    """rdm= as libxl receives it, pci= entries untouched."""
    return replace(domain, rdm=reserve)


def device_policy(domain: DomainConfig, sbdfs, policy: str) -> DomainConfig:
    """`,rdm_policy=POLICY` appended to the pci= entries of these devices."""
    return replace(domain, pci=tuple(
        replace(d, rdm_policy=policy, spec=f"{d.spec},rdm_policy={policy}") if d.sbdf in sbdfs else d
        for d in domain.pci))


def entries_policy(domain: DomainConfig, entries, policy: str) -> DomainConfig:
    """`,rdm_policy=POLICY` appended to these pci= entries (the entry objects themselves)."""
    return replace(domain, pci=tuple(
        replace(d, rdm_policy=policy, spec=f"{d.spec},rdm_policy={policy}") if d in entries else d
        for d in domain.pci))


def pci_entries(domain: DomainConfig, entries) -> DomainConfig:
    return replace(domain, pci=tuple(entries))


def forcecheck(domain: DomainConfig, value: int) -> DomainConfig:
    """`rdm_forcecheck = VALUE` appended, as the config reader folds it (xlcfg.xlparse): 1 is
    strategy=host with the strict policy, devices without a policy strict."""
    if value != 1:
        return replace(domain, rdm_forcecheck=value)
    pci = tuple(replace(d, rdm_policy=POLICY_STRICT) if d.rdm_policy in (POLICY_INVALID, POLICY_UNSET)
                else d for d in domain.pci)
    return replace(domain, rdm_forcecheck=1, rdm=RdmReserve(STRATEGY_HOST, POLICY_STRICT), pci=pci)


_INHERIT = "inherit"


def rdm_line(domain: DomainConfig, text: str, version: XenVersion) -> DomainConfig:
    """`rdm = "TEXT"` appended to the file (libxlu: the last assignment wins), as this release's
    xl reads it: xlu_rdm_parse of the release, and pci= entries without rdm_policy= inheriting
    the global policy when xl parses rdm= before pci= (xlcfg.xlparse.pci_before_rdm)."""
    from xlrmrr.releases import XL_PCI_SPEC_PARSER
    from xlrmrr.xlcfg.pcispec import PciFields, parse_bdf_old, parse_spec_string, rdm_parse
    from xlrmrr.xlcfg.xlparse import pci_before_rdm

    res = rdm_parse(text, version)
    reserve = (RdmReserve(res.strategy or STRATEGY_UNSET, res.policy or POLICY_UNSET) if res.rc == 0
               else RdmReserve())
    inherited = POLICY_INVALID if pci_before_rdm(version) else reserve.policy
    parse = parse_spec_string if XL_PCI_SPEC_PARSER.in_effect(version) else parse_bdf_old
    pci = []
    for d in domain.pci:
        got = parse(d.spec, PciFields(rdm_policy=_INHERIT))
        if got.rc == 0 and got.pci.rdm_policy == _INHERIT:
            d = replace(d, rdm_policy=inherited)
        pci.append(d)
    out = replace(domain, rdm=reserve, pci=tuple(pci))
    if domain.rdm_forcecheck == 1:       # read after rdm= and pci=: it still decides
        out = forcecheck(out, 1)
    return out

