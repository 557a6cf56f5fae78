"""The creation-time changes that make a later `xl pci-attach` work, as DomainConfig edits
(remedies.edits) shared with create: each is checked by hotplug.attach_check on the changed guest."""

from __future__ import annotations

from xlrmrr.common import XenVersion
from xlrmrr.releases import XL_RDM_POLICY_INVERTED
from xlrmrr.remedies import Edit, edits
from xlrmrr.xlcfg.domain import POLICY_STRICT, POLICY_UNSET, DomainConfig


def variants(domain: DomainConfig, version: XenVersion
             ) -> list[tuple[tuple[str, ...], tuple[Edit, ...], DomainConfig]]:
    """(config lines, the same as Edits, DomainConfig) for each creation-time change: rdm =
    "strategy=host" as this release's xl reads it; where pci= entries without a policy inherit
    the uninitialised global one, the same with rdm_policy=strict (libxl's own default) on
    those. Never rdm_forcecheck, a key xl ignores (remedies.rank)."""
    rdm = ('"strategy=host"' if XL_RDM_POLICY_INVERTED.in_effect(version)
           else '"strategy=host,policy=relaxed"')
    host = edits.rdm_line(domain, rdm.strip('"'), version)
    out = [_variant((Edit("rdm", rdm),), host)]
    bare = [d for d in host.pci if d.rdm_policy == POLICY_UNSET]
    if bare:
        strict = edits.entries_policy(host, bare, POLICY_STRICT)
        specs = ", ".join(f"'{d.spec}'" for d in strict.pci)
        out.append(_variant((Edit("rdm", rdm), Edit("pci", f"[ {specs} ]")), strict))
    return out


def _variant(edits_: tuple[Edit, ...], domain: DomainConfig):
    return tuple(f"{e.key} = {e.value}" for e in edits_), edits_, domain


def attach_remedies(sbdf, policy: str, spec: str, variants_) -> tuple:
    """Each proposed creation-time change, as (change, AttachCheck of the changed guest)."""
    from xlrmrr.hotplug import attach_check

    return tuple((change, attach_check(p, sbdf, policy, spec)) for change, p in variants_)
