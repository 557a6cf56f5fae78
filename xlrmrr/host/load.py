"""load_host: the one entry point the other stages use to get a Host from files or this machine."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from xlrmrr.common import NEWEST_XEN, Finding, InputError, XenVersion
from xlrmrr.files import read_input
from xlrmrr.host.build import build_host
from xlrmrr.host.model import Host
from xlrmrr.host.topology import HostDescription, description_from_json
from xlrmrr.records import record

if TYPE_CHECKING:
    from xlrmrr.acpi.readers import UserRmrr


def read_host_json(path: str) -> HostDescription:
    from xlrmrr.host.kinds import HOST_JSON, expect
    from xlrmrr.host.topology import parse_json

    raw = read_input(path, "host description (JSON)")
    expect(raw, path, HOST_JSON)
    obj = parse_json(raw, path)
    return description_from_json(obj, path, require_devices=True)


@functools.lru_cache(maxsize=4)
def _decoded(dmar: bytes, name: str):
    """The decoded table, once per process: `xlrmrr create` builds the host again for every
    release it compares with, from the same bytes (a Dmar is immutable, so sharing it is safe)."""
    from xlrmrr.acpi.dmar import decode

    return decode(dmar, name)


def _user_rmrrs(extra) -> tuple[UserRmrr, ...]:
    if not extra:
        return ()
    from xlrmrr.acpi.readers import parse_rmrr_option

    if isinstance(extra, str):
        extra = (extra,)
    out: list[UserRmrr] = []
    for i, item in enumerate(extra):
        out.extend(parse_rmrr_option(item, f"--rmrr {item}", i) if isinstance(item, str)
                   else (item,))
    return tuple(out)


@record(eq=False)
class HostInputs:
    """What the host files say, read once: the decoded table (None for a boot log), topology and
    e820, the boot log's RMRRs, Xen's rmrr= ranges, and where they came from. A Host is built
    from them per modelled release (host_for)."""

    table: object = None
    desc: HostDescription = HostDescription()
    log_rmrrs: tuple = ()
    user: tuple = ()
    log_findings: tuple[Finding, ...] = ()     # what the boot log leaves unknown
    rmrrs_unknown: str = ""                     # Host.rmrrs_unknown
    source: str = ""
    facts: object = None        # host.build.TableFacts of table and desc (None: no table)


def read_host_inputs(dmar: bytes | None = None, snapshot: str | None = None,
                     extra_rmrrs: str | Sequence = (), *, dmar_name: str = "DMAR",
                     acpidump: str | None = None, xen_log: str | None = None,
                     host_json: str | None = None, live: bool | None = None,
                     root: str = "/") -> HostInputs:
    """Read and decode the host data (the only I/O of this module).

    First found wins for the table: `dmar` (bytes), `acpidump` (path of acpidump text), the
    snapshot's DMAR, `xen_log` (path of an `xl dmesg` or Linux boot log: RMRR ranges only). PCI
    topology and e820 come from the snapshot, overridden by `host_json` when given. With none of
    these (or live=True) this machine's sysfs is read, below `root` (a copy of a host's /sys
    as `host snapshot --root` reads it). `extra_rmrrs`: Xen `rmrr=` option text(s).
    """
    from xlrmrr.host import kinds

    desc = HostDescription()
    sources = []
    log_findings: tuple[Finding, ...] = ()
    log_rmrrs = ()
    rmrrs_unknown = ""
    if dmar is not None:
        kinds.expect(dmar, dmar_name, kinds.DMAR)
    if snapshot:
        from xlrmrr.host.snapshot import read_snapshot

        raw = read_input(snapshot, "snapshot")
        kinds.expect(raw, snapshot, kinds.SNAPSHOT)
        snap_dmar, desc = read_snapshot(raw, snapshot)
        sources.append(snapshot)
        if dmar is None and acpidump is None:
            if snap_dmar is None and xen_log is None:
                raise InputError(f"{snapshot}: the snapshot has no DMAR table (collected without "
                                 f"root?); give the table too, with --dmar, --acpidump or "
                                 f"--xen-log")
            dmar, dmar_name = snap_dmar, f"{snapshot}:DMAR"
    if acpidump and dmar is None:
        from xlrmrr.acpi.readers import dmar_from_acpidump

        raw = read_input(acpidump, "acpidump output")
        kinds.expect(raw, acpidump, kinds.ACPIDUMP)
        dmar, dmar_name = dmar_from_acpidump(raw.decode("latin-1"), acpidump), acpidump
    if host_json:
        desc = read_host_json(host_json)
        sources.append(host_json)
    if xen_log and dmar is None:
        raw = read_input(xen_log, "boot log")
        kinds.expect(raw, xen_log, kinds.BOOT_LOG)
        log_rmrrs, log_findings, desc, rmrrs_unknown = _read_boot_log(
            raw.decode("latin-1"), xen_log, desc)
        sources.append(xen_log)
    if dmar is None and xen_log is None and (live or live is None):
        import os

        from xlrmrr.acpi.readers import sysfs_dmar_path
        from xlrmrr.host.snapshot import _under, collect_live

        path = _under(root, sysfs_dmar_path(lambda p: os.path.exists(_under(root, p))))
        dmar, live_desc, notes = collect_live(path, root=root)
        if dmar is None:
            raise InputError(f"{notes[0]}; give --dmar FILE, --acpidump FILE, --snapshot FILE "
                             f"or --xen-log FILE")
        dmar_name = path
        if not host_json:
            desc = live_desc
        sources.append("this host's sysfs" if root in ("", "/") else f"the /sys below {root}")
    table = _decoded(bytes(dmar), dmar_name) if dmar is not None else None
    if table is not None and dmar_name not in sources:
        sources.insert(0, dmar_name)
    facts = None
    if table is not None:
        from xlrmrr.host.build import table_facts

        facts = table_facts(table, desc)
    return HostInputs(table, desc, tuple(log_rmrrs), _user_rmrrs(extra_rmrrs), log_findings,
                      rmrrs_unknown if table is None else "", ", ".join(sources), facts)


def _read_boot_log(text: str, name: str, desc: HostDescription):
    """(RMRRs, findings, desc, why RMRRs are unknown) from a boot log: the ranges it prints, a
    warning per line that looks like an RMRR line but does not parse, a warning when it has no
    RMRR line at all (either way the host's RMRRs are not known: the reason, else ""), and the
    Xen release its banner prints as the host data's release (unless desc has one)."""
    from xlrmrr.acpi.readers import rmrrs_from_log, unparsed_rmrr_lines, xen_version_from_log

    rmrrs = rmrrs_from_log(text, name)
    unparsed = unparsed_rmrr_lines(text)
    findings = [Finding(
        "warning", "log-rmrr-unparsed", "xen",
        f"{name}:{lineno}: {line[:100]!r} looks like an RMRR line but does not read as Xen's "
        f"\"RMRR region: base_addr B end_address E\", \" RMRR: [B,E]\" or Linux's \"DMAR: RMRR "
        f"base: 0xB end: 0xE\": this range is not modelled; fix the line or give the table "
        f"(--dmar, --acpidump)") for lineno, line in unparsed]
    unknown = (f"{name}:{unparsed[0][0]}: an RMRR line that does not parse"
               + (f" (and {len(unparsed) - 1} more)" if len(unparsed) > 1 else "")
               if unparsed else "")
    if not rmrrs and not findings:
        unknown = f"{name}: no RMRR line"
        findings.append(Finding(
            "warning", "log-no-rmrr", "xen",
            f"{name}: no RMRR line. Either the host has no RMRR, or the log is not "
            f"complete: Xen prints \"RMRR region: base_addr ... end_address ...\" only "
            f"when booted with iommu=verbose; Linux prints \"DMAR: RMRR base: ...\" at boot."))
    banner = xen_version_from_log(text)
    if banner is not None and desc.xen_version is None:
        release, lineno = banner
        try:
            desc = replace(desc, xen_version=XenVersion.parse(release, f"{name}:{lineno}"))
        except InputError as e:
            findings.append(Finding("warning", "log-xen-version", "xen",
                                    f"{e}; the log's release is not used"))
    return rmrrs, tuple(findings), desc, unknown


def host_for(inputs: HostInputs, xen_version: XenVersion | None = None) -> Host:
    """The Host as Xen `xen_version` builds it from the inputs; None: the release the host data
    records, else the newest."""
    version = xen_version or inputs.desc.xen_version or NEWEST_XEN
    host = build_host(inputs.table, inputs.desc, xen_version=version, user=inputs.user,
                      log_rmrrs=inputs.log_rmrrs, source=inputs.source, facts=inputs.facts)
    if inputs.log_findings and inputs.table is None:
        host = replace(host, findings=host.findings + inputs.log_findings,
                       rmrrs_unknown=inputs.rmrrs_unknown)
    return replace(host, xen_version=inputs.desc.xen_version)


class HostLoader:
    """The Hosts of one HostInputs: `loader(release)` as that release builds it (host_for);
    `loader.for_band(release)`, for comparing releases, one Host per band of build_host's own
    changes (host.build.host_band), built on first use, only the latest one kept (a comparison
    asks band by band, in release order). The stages read the same RMRRs, devices and e820 from
    every release of a band; the band's Host carries the messages of the first release asked."""

    __slots__ = ("inputs", "_asked", "_latest")

    def __init__(self, inputs: HostInputs) -> None:
        self.inputs = inputs
        self._asked: tuple[int, Host] | None = None     # (band, Host) of the last __call__
        self._latest: tuple[tuple, Host] | None = None    # (band, Host) of the last for_band

    def __call__(self, xen_version: XenVersion | None = None) -> Host:
        from xlrmrr.host.build import host_band

        host = host_for(self.inputs, xen_version)
        self._asked = (host_band(xen_version or self.inputs.desc.xen_version or NEWEST_XEN), host)
        return host

    def for_band(self, xen_version: XenVersion) -> Host:
        from xlrmrr.host.build import host_band

        band = host_band(xen_version)
        for got in (self._asked, self._latest):
            if got is not None and got[0] == band:
                return got[1]
        host = host_for(self.inputs, xen_version)
        self._latest = (band, host)
        return host


def load_host(dmar: bytes | None = None, snapshot: str | None = None,
              extra_rmrrs: str | Sequence = (), xen_version: XenVersion | None = None, *,
              dmar_name: str = "DMAR", acpidump: str | None = None, xen_log: str | None = None,
              host_json: str | None = None, live: bool | None = None) -> Host:
    """The Host as Xen `xen_version` builds it: read_host_inputs then host_for."""
    return host_for(read_host_inputs(dmar, snapshot, extra_rmrrs, dmar_name=dmar_name,
                                     acpidump=acpidump, xen_log=xen_log, host_json=host_json,
                                     live=live), xen_version)
