"""`xlrmrr host`: what this host reserves, per device and grouped (report/host.py renders it);
`xlrmrr host snapshot OUT`; `xlrmrr host diff A B` (cli/hostdiff.py)."""

from __future__ import annotations

HELP = "show the host's RMRRs as Xen registers them, per device, grouped; or take a snapshot"
DESCRIPTION = """\
Every RMRR Xen would register from the host's DMAR (in Xen's list order, which is what
XENMEM_reserved_device_memory_map reports), the PCI devices each one belongs to, every device
with its RMRRs, the devices tied together by shared RMRRs, and the firmware bugs with what each
means for passthrough under the Xen release modelled.

`xlrmrr host snapshot OUT.tar.gz` collects this machine's DMAR, PCI topology (config headers,
classes, BAR sizes, reset methods, IOMMU groups), firmware memory map and Xen version into one
file that every command accepts with --snapshot, on any machine, without root.

`xlrmrr host diff A B [--cfg GUEST.cfg]...` compares two hosts' data (each a DMAR table,
snapshot, host JSON, acpidump output or boot log; the kind is detected; --host-json gives both
tables a topology) as Xen builds them for the release modelled: RMRRs added, removed, moved or
resized, scope and sharing-group changes, VT-d on or off, firmware findings new or gone, and
which of the --cfg guests change verdict. Exit status 0 when nothing differs ("no
difference"), 1 when something does.

Exit status: 0, or 1 when Xen would disable VT-d (no passthrough at all), 2 on bad input."""


def add_arguments(p):
    from xlrmrr.cli import add_common
    from xlrmrr.cli.hostargs import add_host_arguments

    p.add_argument("action", nargs="?", choices=["snapshot", "diff"],
                   help="take a snapshot instead; or diff two hosts' data")
    p.add_argument("out", nargs="?", metavar="OUT.tar.gz", help="snapshot file to write (diff: A)")
    p.add_argument("other", nargs="?", metavar="B", help="diff: the second host's data (a DMAR "
                   "table, snapshot, host JSON, acpidump output or boot log; the kind is "
                   "detected)")
    p.add_argument("--cfg", metavar="GUEST.cfg", action="append", default=[],
                   help="diff: a guest to plan on both hosts (repeatable); says which change "
                        "verdict")
    p.add_argument("--root", metavar="DIR", default="/",
                   help="snapshot: read /sys below DIR instead of / (a copy of another "
                        "machine's /sys, or a test tree); default /")
    add_host_arguments(p)
    add_common(p)


def _check_root(root: str) -> None:
    """--root must hold a sys/ tree: collecting from nothing would write an empty snapshot
    whose notes blame the host (no VT-d, not Xen) for a mistyped path."""
    import os

    from xlrmrr.common import InputError

    if not os.path.isdir(root):
        why = "is not a directory" if os.path.exists(root) else "does not exist"
        raise InputError(f"--root {root}: {why}; give the directory holding a copy of a "
                         f"host's /sys (DIR/sys/firmware, DIR/sys/bus/pci), or / on the host")
    if not os.path.isdir(os.path.join(root, "sys")):
        raise InputError(f"--root {root}: has no sys/ directory; give the directory holding a "
                         f"copy of a host's /sys (DIR/sys/firmware, DIR/sys/bus/pci), not /sys "
                         f"itself")


def _snapshot(args) -> int:
    from xlrmrr.common import InputError
    from xlrmrr.files import write_atomic
    from xlrmrr.host.snapshot import collect_live, write_snapshot

    if not args.out:
        raise InputError("host snapshot: give the file to write, e.g. host.tar.gz")
    _check_root(args.root)
    dmar, desc, notes = collect_live(root=args.root)
    try:
        write_atomic(args.out, write_snapshot(dmar, desc, notes))
    except OSError as e:
        raise InputError(f"{args.out}: cannot write the snapshot: {e.strerror or e}") from None
    from xlrmrr.report.host import snapshot_json, snapshot_text

    print(snapshot_json(args.out, dmar, desc, notes) if args.json else
          snapshot_text(args.out, dmar, desc, notes), end="")
    return 0


def run(args) -> int:
    from xlrmrr.cli import running_xen_version
    from xlrmrr.cli.hostargs import host_from_args
    from xlrmrr.common import EXIT_FAIL, NEWEST_XEN, XenVersion

    if args.action == "snapshot":
        return _snapshot(args)
    if args.action == "diff":
        from xlrmrr.cli.hostdiff import run as diff

        return diff(args)
    if args.other or args.cfg:
        from xlrmrr.common import InputError
        raise InputError(f"unexpected argument {args.other!r}" if args.other else
                         "--cfg applies to `xlrmrr host diff` only")
    if args.out or args.root != "/":
        from xlrmrr.common import InputError
        raise InputError(f"unexpected argument {args.out!r}" if args.out else
                         "--root applies to `xlrmrr host snapshot` only")
    explicit = XenVersion.parse(args.xen_version) if args.xen_version else None
    host = host_from_args(args, explicit)
    version = explicit or host.xen_version or running_xen_version() or NEWEST_XEN
    if version != (explicit or host.xen_version or NEWEST_XEN):
        host = host_from_args(args, version)
    from xlrmrr.report.colour import paint
    from xlrmrr.report.host import json_text, render_text

    print(json_text(host, version) if args.json else paint(render_text(host, version), args),
          end="")
    return 0 if host.vtd_enabled else EXIT_FAIL
