"""`xlrmrr create --json` (and --emit's plan.json): the plan as the JSON object of docs/json.md, and
the binary payload files --emit writes (XENMEM_set_memory_map, hvm_info, the guest e820)."""

from __future__ import annotations

from xlrmrr.common import FOUR_GB
from xlrmrr.payloads import e820_bytes


def rdm_fate(plan, r) -> str:
    """What happened to one RDM, in words."""
    lx = plan.libxl
    if r.conflict and r.policy == "strict":
        return "CONFLICT with guest RAM: creation fails (strict)"
    if r.conflict and r.exposed:
        return "overlaps guest RAM; not reached (libxl stopped at the strict conflict)"
    if r.conflict:
        return "dropped: guest RAM stays over it (relaxed)"
    if not r.exposed:
        return "not in the guest e820 (policy INVALID)"
    if r.relocated:
        return "reserved; lowmem_end moved below it"
    if r.start >= FOUR_GB:
        return "reserved (above 4 GiB, beyond guest RAM)"
    if r.start >= lx.mmio_start:
        return "reserved (in the MMIO hole)"
    return "reserved (outside guest RAM)"


def json_policy(policy: str) -> str:
    """An RDM's policy in the JSON schema ("strict" | "relaxed" | "invalid"). "unset", a value
    xl copied from uninitialised memory other than 0 or 1, is reported as "relaxed": that is how
    libxl's construct_rdm treats any policy that is not strict (a conflict only warns and drops
    the entry; otherwise it is exposed). requested_policy keeps "unset"."""
    return "relaxed" if policy == "unset" else policy


def _xl_only_json(plan) -> dict:
    """A config xl exits on: no layout exists, so the layout keys are null and the lists empty
    (the keys of to_json's object, in its order)."""
    return {
        "config": plan.domain.source, "guest": plan.domain.name,
        "xen_version": str(plan.xen_version), "verdict": plan.verdict,
        "exit_status": plan.exit_status, "semantics": plan.semantics, "stages": _stages(plan),
        "guest_type": plan.domain.type, "hap": None, "mem_size": None, "lowmem_end": None,
        "highmem_end": None, "mmio_start": None, "mmio_size": None, "lowmem_end_initial": None,
        "highmem_end_initial": None, "rdm_mem_boundary": None, "rdm_strategy": None,
        "rdm_policy": None, "rdms": [], "memory_map": [], "hvm_info": None,
        "populate_physmap": {"extents": [], "special_pages": [], "pod": False, "pages_4k": 0,
                             "extents_2m": 0, "extents_1g": 0},
        "e820": [], "findings": [f.to_json() for f in plan.findings], "remediation": [],
        "other_versions": [], "hvmloader": None, "xen_verdict": plan.xen_verdict,
        "hypervisor": None}


def _stages(plan) -> list[str]:
    """The components the plan reached, in the flow's order (a stage that stopped included)."""
    reached = (("libxl", plan.libxl), ("libxc", plan.libxc), ("xen", plan.hypervisor),
               ("hvmloader", plan.hvmloader))
    return ["xl"] + [name for name, result in reached if result is not None]


def to_json(plan) -> dict:
    if plan.libxl is None:
        return _xl_only_json(plan)
    lx = plan.libxl
    xc = plan.libxc
    info = None     # the plan never reached libxc
    if xc is not None:
        from xlrmrr.payloads import parse_hvm_info

        parsed = parse_hvm_info(xc.hvm_info)
        info = {k: parsed[k] for k in ("low_mem_pgend", "high_mem_pgend", "reserved_mem_pgstart",
                                       "nr_vcpus", "checksum")}
        info["apic_mode"] = parsed["apic_mode"]
        info["bytes"] = xc.hvm_info.hex()
    built = not lx.stopped      # a layout libxl computed (null where it stopped before)
    out = {
        "config": plan.domain.source,
        "guest": plan.domain.name,
        "xen_version": str(plan.xen_version),
        "verdict": plan.verdict,
        "exit_status": plan.exit_status,
        "semantics": plan.semantics,
        "stages": _stages(plan),
        "guest_type": lx.guest_type,
        "hap": lx.hap,
        "mem_size": lx.mem_size if built else None,
        "lowmem_end": lx.lowmem_end if built else None,
        "highmem_end": lx.highmem_end if built else None,
        "mmio_start": lx.mmio_start if built else None,
        "mmio_size": lx.mmio_size if built else None,
        "lowmem_end_initial": lx.lowmem_end_initial if built else None,
        "highmem_end_initial": lx.highmem_end_initial if built else None,
        "rdm_mem_boundary": lx.rdm_mem_boundary,
        "rdm_strategy": lx.strategy,
        "rdm_policy": lx.policy,
        "rdms": [{"start": r.start, "size": r.size, "policy": json_policy(r.policy),
                  "devices": [str(d) for d in (r.assigned or r.devices)],
                  "scope": [str(d) for d in r.devices], "assigned": [str(d) for d in r.assigned],
                  "requested_policy": r.requested_policy, "source": r.source,
                  "conflict": r.conflict, "relocated": r.relocated, "exposed": r.exposed,
                  "fate": rdm_fate(plan, r)} for r in lx.rdms],
        "memory_map": [e.to_json() for e in lx.memory_map],
        "hvm_info": info,
        "populate_physmap": {
            "extents": [e.to_json() for e in xc.extents] if xc else [],
            "special_pages": [e.to_json() for e in xc.special_pages] if xc else [],
            "pod": bool(xc and xc.pod),
            "pages_4k": xc.pages_4k if xc else 0,
            "extents_2m": xc.extents_2m if xc else 0,
            "extents_1g": xc.extents_1g if xc else 0,
        },
        "e820": [e.to_json() for e in plan.hvmloader.e820] if plan.hvmloader else [],
        "findings": [f.to_json() for f in plan.findings],
        "remediation": [r.to_json() for r in plan.remediation],
        "other_versions": [{"versions": d.band, "verdict": d.verdict,
                            "differences": list(d.differences)} for d in plan.version_deltas],
    }
    # Every key always present (null where the stage was not reached): a script reads the
    # same object shape for every outcome.
    out["hvmloader"] = None
    if plan.hvmloader:
        h = plan.hvmloader
        setup = h.bug != "memory_map_setup"     # pci_setup and the rest ran
        out["hvmloader"] = {
            "pci_mem_start": h.pci_mem_start if setup else None,
            "bios_base": h.bios_base if setup else None,
            "acpi_end": h.acpi_end if setup else None,
            "opregion": h.opregion,
            "bars": [{"device": b.device, "bar": b.index, "start": b.base, "size": b.size,
                      "high": b.high, "assumed": b.assumed} for b in h.bars]}
    out["xen_verdict"] = plan.xen_verdict
    out["hypervisor"] = plan.hypervisor.to_json() if plan.hypervisor is not None else None
    return out


def json_text(plan) -> str:
    from xlrmrr.report.document import dumps

    return dumps("create", to_json(plan), indent=2)


def payload_files(plan) -> dict[str, bytes]:
    """The --emit files: name -> bytes; only the payloads the flow reaches (a plan blocked in
    libxl has no memory map, hvm_info or e820; one whose hvmloader BUG()s has no e820)."""
    files = {"plan.json": json_text(plan).encode()}
    if plan.hvm_info is not None:
        files["hvm_info.bin"] = plan.hvm_info
    if plan.libxl is not None and plan.libxl.memory_map:
        files["memory_map.bin"] = e820_bytes(plan.libxl.memory_map)
    if plan.hvmloader is not None and not plan.hvmloader.bug:     # no e820 after a BUG()
        files["e820.bin"] = e820_bytes(plan.hvmloader.e820)
    return files
