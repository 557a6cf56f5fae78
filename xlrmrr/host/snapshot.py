"""Host snapshots: collect what Xen's RMRR handling depends on from a live host, and read it back.

Snapshot layout (a gzip-compressed tar; members at the top level, read by name only):

    README      what this is, in one paragraph
    DMAR        the raw DMAR table from /sys/firmware/acpi/tables/DMAR (absent if unreadable,
                e.g. collected without root; `xlrmrr host` then says so)
    host.json   {"format": "xlrmrr-snapshot-1", "xen_version": "4.17.2", "e820": [...],
                 "devices": [...], "notes": [...]} -- the host description (HOST DESCRIPTION
                above): PCI config headers (first 64 bytes, hex), class codes,
                reset methods, IOMMU groups, BAR sizes (from sysfs `resource`), the firmware
                memory map (/sys/firmware/memmap) and the Xen version (/sys/hypervisor/version:
                X.Y.Z when `extra` names the point release, else X.Y; older snapshots have X.Y)

Reading a snapshot never needs root and never extracts anything to disk.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time

from xlrmrr.common import (
    E820_ACPI,
    E820_NVS,
    E820_RAM,
    E820_RESERVED,
    E820_UNUSABLE,
    E820Entry,
    InputError,
    Sbdf,
    XenVersion,
)
from xlrmrr.host.model import Bar
from xlrmrr.host.topology import (
    BAR_SIZE_MAX,
    HostDescription,
    description_from_json,
    description_to_json,
    function_from_config,
)

FORMAT = "xlrmrr-snapshot-1"
MEMBER_LIMIT = 64 << 20
README = (b"xlrmrr host snapshot: DMAR is the raw ACPI DMAR table, host.json the PCI topology, "
          b"e820 and Xen version (format: HOST SNAPSHOTS in xlrmrr(1)). Use it with "
          b"`xlrmrr host --snapshot FILE` or any command's --snapshot option.\n")

_MEMMAP_TYPES = {"System RAM": E820_RAM, "Reserved": E820_RESERVED, "ACPI Tables": E820_ACPI,
                 "ACPI Non-volatile Storage": E820_NVS, "Unusable memory": E820_UNUSABLE,
                 "Persistent Memory (legacy)": 12, "Persistent Memory": 7, "Soft Reserved": 0xEFFFFFFF}


_NOT_SNAPSHOT = "not a snapshot (a tar.gz of `xlrmrr host snapshot`)"
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
TAR_LIMIT = 3 * MEMBER_LIMIT        # the uncompressed tar: DMAR, host.json, README and headers


def _decompress(data: bytes, name: str) -> bytes:
    """The tar inside a gzip, bzip2 or xz file (or the file itself, a plain tar), decompressed
    here rather than by tarfile so that damage is reported at its byte offset and a small file
    cannot expand without bound."""
    kind = next((k for magic, k in _MAGIC if data.startswith(magic)), None)
    if kind is None:
        return data
    import bz2
    import lzma
    import zlib

    def decompressor():
        return {"gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
                "bzip2": bz2.BZ2Decompressor, "xz": lzma.LZMADecompressor}[kind]()

    errors = (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError)
    d = decompressor()
    try:
        out = d.decompress(data, TAR_LIMIT + 1)
    except errors:
        bad = _first_bad(data, decompressor, errors)
        raise InputError(f"{name}: {_NOT_SNAPSHOT}: damaged {kind} data at byte offset "
                         f"{bad:#x}", source=name, offset=bad) from None
    if len(out) > TAR_LIMIT:
        raise InputError(f"{name}: {_NOT_SNAPSHOT}: the {kind} data expands to more than "
                         f"{TAR_LIMIT >> 20} MiB; a snapshot's members are at most "
                         f"{MEMBER_LIMIT >> 20} MiB each")
    if not getattr(d, "eof", True):
        raise InputError(f"{name}: {_NOT_SNAPSHOT}: the {kind} data ends early, at byte offset "
                         f"{len(data):#x} (truncated file?)")
    return out


def _first_bad(data: bytes, decompressor, errors, step: int = 1 << 12) -> int:
    """The shortest prefix of data the decompressor rejects, less one: where the damage is
    first seen. The data is fed once, a chunk at a time, keeping the decompressor's state at
    the start of each chunk; the failing chunk is then bisected from that state (prefixes of
    it fed to copies), so the search costs one decompression, not one per bisection step.
    (bz2 and lzma decompressors cannot be copied: their chunk is bisected from the start.)"""
    d = decompressor()
    pos = 0
    while pos < len(data):
        saved = d.copy() if hasattr(d, "copy") else None
        try:
            d.decompress(data[pos:pos + step])
        except errors:
            break
        pos += step
    else:
        return len(data)
    lo, hi = pos, min(pos + step, len(data))    # data[:lo] is accepted, data[:hi] rejected
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            if saved is not None:
                saved.copy().decompress(data[pos:mid])
            else:
                decompressor().decompress(data[:mid], TAR_LIMIT + 1)
            lo = mid
        except errors:
            hi = mid
    return lo


def read_snapshot(data: bytes, name: str) -> tuple[bytes | None, HostDescription]:
    """(DMAR bytes or None, host description) from a snapshot's bytes."""
    raw = _decompress(data, name)
    members: dict = {}
    tar = None
    offset = 0                      # where the tar header being read starts
    try:
        tar = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
        for m in tar.getmembers():
            members.setdefault(m.name.lstrip("./"), m)     # the first of a duplicated name
        offset = tar.offset
        # tarfile ends the listing quietly at a damaged header past the first: what follows
        # the last member must be the end-of-archive zeros.
        if raw[offset:].strip(b"\0"):
            raise tarfile.ReadError("damaged tar header (bad checksum or fields)")
    except (tarfile.TarError, OSError, EOFError) as e:
        if tar is not None and not offset:
            offset = tar.offset
        why = str(e).splitlines()[0].rstrip(":") if str(e) else type(e).__name__
        raise InputError(f"{name}: {_NOT_SNAPSHOT}: {why} (tar header at byte offset "
                         f"{offset:#x} of the tar)", source=name, offset=offset) from None

    def member(key: str) -> bytes | None:
        m = members.get(key)
        if m is None:
            return None
        if not m.isfile() or m.size > MEMBER_LIMIT:
            raise InputError(f"{name}: member {key} is not a regular file of at most "
                             f"{MEMBER_LIMIT >> 20} MiB", source=name, member=key)
        f = tar.extractfile(m)
        return f.read() if f else None

    try:
        raw_json = member("host.json")
        dmar = member("DMAR")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise InputError(f"{name}: damaged snapshot: {e}") from None
    if raw_json is None:
        raise InputError(f"{name}: not an xlrmrr snapshot (no host.json member)")
    from xlrmrr.host.topology import parse_json

    obj = parse_json(raw_json, f"{name}:host.json", "not JSON")
    return dmar, description_from_json(obj, f"{name}:host.json")


def write_snapshot(dmar: bytes | None, desc: HostDescription, notes: list[str]) -> bytes:
    """The snapshot's bytes (deterministic apart from what is collected)."""
    obj = {"format": FORMAT, **description_to_json(desc), "notes": notes}
    files = [("README", README), ("host.json", json.dumps(obj, indent=1).encode() + b"\n")]
    if dmar is not None:
        files.insert(1, ("DMAR", dmar))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for fname, content in files:
            info = tarfile.TarInfo(fname)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


# ---- live collection (I/O: the reader edge) -------------------------------------------------

def _read(path: str, binary: bool = False, limit: int = 1 << 20):
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return None
    return data if binary else data.decode("latin-1").strip()


def _under(root: str, path: str) -> str:
    """`path` (absolute, as on a live host) below `root`."""
    return path if root in ("", "/") else os.path.join(root, path.lstrip("/"))


def collect_memmap(root: str = "/sys/firmware/memmap") -> tuple[E820Entry, ...]:
    out = []
    try:
        names = sorted(os.listdir(root), key=lambda n: int(n) if n.isdigit() else -1)
    except OSError:
        return ()
    for n in names:
        start, end, typ = (_read(os.path.join(root, n, k)) for k in ("start", "end", "type"))
        if start is None or end is None or typ is None:
            continue
        try:
            a, b = int(start, 16), int(end, 16)
        except ValueError:
            continue
        out.append(E820Entry(a, b - a + 1, _MEMMAP_TYPES.get(typ, E820_RESERVED)))
    return tuple(sorted(out))


def _bars(resource: str | None) -> tuple[Bar, ...]:
    out = []
    for i, line in enumerate((resource or "").splitlines()[:6]):
        try:
            start, end, flags = (int(x, 16) for x in line.split()[:3])
        except ValueError:
            continue
        size = end - start + 1
        if not (start or end) or end < start or size & (size - 1) or size > BAR_SIZE_MAX:
            continue        # unimplemented, or a range the kernel adjusted: not a BAR's size
        out.append(Bar(index=i, size=size, is_64bit=bool(flags & 0x100000),
                       prefetchable=bool(flags & 0x2000), is_io=bool(flags & 0x100)))
    return tuple(out)


def collect_pci(root: str = "/sys/bus/pci/devices"):
    """Every PCI function sysfs shows, with config header, class, BARs, reset, IOMMU group."""
    out = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return (), False
    for n in names:
        try:
            sbdf = Sbdf.parse(n)
        except ValueError:
            continue
        d = os.path.join(root, n)
        config = _read(os.path.join(d, "config"), binary=True, limit=64) or b""
        cls = _read(os.path.join(d, "class"))
        group = None
        try:
            group = int(os.path.basename(os.readlink(os.path.join(d, "iommu_group"))))
        except (OSError, ValueError):
            pass
        out.append(function_from_config(
            sbdf, config, class_code=int(cls, 16) if cls else None,
            bars=_bars(_read(os.path.join(d, "resource"))),
            reset_method=_read(os.path.join(d, "reset_method")) or None, iommu_group=group))
    return tuple(out), bool(out)


def collect_xen_version(root: str = "/sys/hypervisor") -> XenVersion | None:
    """The release below `root` (point release included), modelled or not; None off Xen."""
    if _read(os.path.join(root, "type")) != "xen":
        return None
    try:
        return XenVersion.from_sysfs(*(_read(os.path.join(root, "version", k))
                                       for k in ("major", "minor", "extra")))
    except (TypeError, ValueError):
        return None


def collect_live(dmar_path: str | None = None, root: str = "/"
                 ) -> tuple[bytes | None, HostDescription, list[str]]:
    """Collect a live host: DMAR (None if unreadable), description, notes on what is missing.
    Every path is read below `root` (a copied or fake /sys tree; "/" on the host itself)."""
    from xlrmrr.acpi.readers import sysfs_dmar_path

    dmar_path = dmar_path or _under(root, sysfs_dmar_path(
        lambda p: os.path.exists(_under(root, p))))
    pci = _under(root, "/sys/bus/pci/devices")
    notes = []
    dmar = _read(dmar_path, binary=True, limit=16 << 20)
    if dmar is None:
        why = ("needs root" if os.path.exists(dmar_path) else
               "does not exist: no VT-d, or VT-d off in the firmware setup")
        notes.append(f"{dmar_path} could not be read ({why})")
    devices, topo = collect_pci(pci)
    if not topo:
        notes.append(f"no PCI devices found under {pci}")
    elif all(len(f.config) < 64 for f in devices[:1]):
        notes.append("PCI config space was not readable")
    memmap = _under(root, "/sys/firmware/memmap")
    e820 = collect_memmap(memmap)
    if not e820:
        notes.append(f"{memmap} is empty or missing; no host e820 in the snapshot")
    xv = collect_xen_version(_under(root, "/sys/hypervisor"))
    version = None
    if xv:
        if xv.modelled:
            version = xv
        else:
            notes.append(f"Xen {xv} is outside the releases xlrmrr models")
        notes.append("e820 read in dom0: its reserved ranges are the host's; its RAM ranges "
                     "may follow dom0's own allocation")
    else:
        notes.append(f"not running on Xen ({_under(root, '/sys/hypervisor/type')} is not xen); "
                     f"no Xen version")
    return dmar, HostDescription(devices=devices, topology_known=topo, e820=e820,
                                 xen_version=version), notes
