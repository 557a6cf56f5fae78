"""Host options shared by every command that needs the host (host, create, check, pci-attach).

    from xlrmrr.cli.hostargs import add_host_arguments, host_from_args
    add_host_arguments(p)                   # in add_arguments(p)
    host = host_from_args(args, xen_version(args))   # in run(args)
"""

from __future__ import annotations

import argparse


def add_host_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("host data (default: this machine's /sys, which needs root for "
                             "the DMAR)")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--dmar", metavar="FILE",
                     help="the host's raw ACPI DMAR table (a copy of "
                          "/sys/firmware/acpi/tables/DMAR)")
    src.add_argument("--acpidump", metavar="FILE", help="`acpidump` output containing the DMAR")
    src.add_argument("--xen-log", metavar="FILE",
                     help="an `xl dmesg` (booted with iommu=verbose) or Linux boot log: RMRR "
                          "ranges only, for hosts whose table cannot be read; a file with neither an RMRR "
                          "line nor any boot-log line (\"(XEN)\", \"[    0.000000]\", "
                          "\"DMAR:\") is refused")
    g.add_argument("--snapshot", metavar="FILE",
                   help="a snapshot made by `xlrmrr host snapshot` (DMAR, PCI topology, e820, "
                        "Xen version); --dmar/--acpidump/--xen-log replace its table")
    g.add_argument("--host-json", metavar="FILE",
                   help="PCI topology and e820 as JSON (format: HOST DESCRIPTION in xlrmrr(1)); "
                        "with --snapshot it replaces the snapshot's")
    g.add_argument("--rmrr", metavar="SPEC", action="append", default=[],
                   help="extra ranges from Xen's command line, in its syntax: "
                        "start[-end]=[s]bdf[,[s]bdf];... (page numbers, hex, 0x optional); repeatable. "
                        "Xen keeps at most 10 ranges in all, 20 devices each")


def host_from_args(args, xen_version):
    """The Host the options describe, as Xen `xen_version` builds it."""
    return host_loader(args)(xen_version)


def host_loader(args):
    """xen_version -> the Host the options describe, as that release builds it (a
    host.load.HostLoader; its for_band() gives `create`'s release comparison one Host per band).
    The files are read and decoded once."""
    from xlrmrr.common import XenVersion
    from xlrmrr.files import read_input
    from xlrmrr.host.load import HostLoader, read_host_inputs

    if getattr(args, "xen_version", None):
        XenVersion.parse(args.xen_version)      # a usage error, said before any file is read
    dmar = name = None
    if getattr(args, "dmar", None):
        dmar, name = read_input(args.dmar, "DMAR table"), args.dmar
    inputs = read_host_inputs(dmar=dmar, snapshot=getattr(args, "snapshot", None),
                              extra_rmrrs=tuple(getattr(args, "rmrr", None) or ()),
                              dmar_name=name or "DMAR", acpidump=getattr(args, "acpidump", None),
                              xen_log=getattr(args, "xen_log", None),
                              host_json=getattr(args, "host_json", None),
                              root=getattr(args, "root", None) or "/")
    return HostLoader(inputs)


def host_and_version(args, load_host):
    """(host, release to model, findings): --xen-version; else the release the host data was
    collected under (snapshot or host JSON), said in an info finding; else the running
    hypervisor's; else the newest. The same for create, check and pci-attach."""
    from xlrmrr.cli import xen_version
    from xlrmrr.common import NEWEST_XEN, Finding

    if getattr(args, "xen_version", None):
        version = xen_version(args)
        return load_host(version), version, ()
    host = load_host(None)
    if host.xen_version is not None:
        note = Finding("info", "xen-version-from-host", "xen",
                       f"modelling Xen {host.xen_version}, the release the host data was collected "
                       f"under ({host.source or 'host data'}); --xen-version models another")
        return host, host.xen_version, (note,)
    version = xen_version(args)
    if version != NEWEST_XEN:
        host = load_host(version)
    return host, version, ()
