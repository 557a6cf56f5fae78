"""One case generator per reader: READERS[name](seed, n) yields n Cases (harness.Case), each a
command line of xlrmrr over one mutated input plus the fixture files it needs. Seeds are the
repository's fixtures (and the shared corpus where present, for configs and tables); every
choice comes from random.Random(seed), so a (reader, seed, n) triple replays exactly."""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
from pathlib import Path

import mutate as m
from harness import FIXTURES, REPO, Case

CORPUS = REPO.parent / "shared" / "corpus"
DMARS = {p.name: p.read_bytes() for p in sorted((FIXTURES / "dmar").glob("*.bin"))}
GUESTS = {p.name: p.read_bytes() for p in sorted((FIXTURES / "guests").glob("*.cfg"))}
HOSTS = {p.name: p.read_bytes() for p in sorted((FIXTURES / "hosts").glob("*.json"))}
LAPTOP = DMARS["laptop-typical.bin"]
LAPTOP_JSON = HOSTS["laptop.json"]
SMALL = GUESTS["small.cfg"]
DOMAINS = [p.read_bytes() for p in sorted((FIXTURES / "libvirt").glob("*.xml"))]


def _corpus(sub: str, pattern: str, limit: int) -> list[bytes]:
    d = CORPUS / sub
    if not d.is_dir():
        return []
    return [p.read_bytes() for p in sorted(d.glob(pattern))[:limit]]


CFG_SEEDS = list(GUESTS.values()) + _corpus("xlcfg", "*.cfg", 40)
DMAR_SEEDS = list(DMARS.values()) + _corpus("dmar", "*.bin", 40)

XEN_LOG = b"""\
(XEN) Xen version 4.17.3 (Debian 4.17.3+10-deb12u1) (pkg-xen-devel@lists.alioth.debian.org)
(XEN) [VT-D]Host address width 39
(XEN) [VT-D]found ACPI_DMAR_DRHD:
(XEN) [VT-D]  dmaru->address = fed90000
(XEN) [VT-D] endpoint: 0000:00:02.0
(XEN) [VT-D]found ACPI_DMAR_RMRR:
(XEN) [VT-D] endpoint: 0000:00:14.0
(XEN) [VT-D]  RMRR region: base_addr ab80a000 end_address ab81dfff
(XEN) [VT-D]found ACPI_DMAR_RMRR:
(XEN) [VT-D] endpoint: 0000:00:1a.0
(XEN) [VT-D] endpoint: 0000:00:1d.0
(XEN) [VT-D]  RMRR region: base_addr e8000 end_address ebfff
(XEN) [VT-D]dmar.c:608:  RMRR: [ad000000,af7fffff]
"""
LINUX_LOG = b"""\
[    0.008832] ACPI: DMAR 0x00000000AD7FE000 0000A8 (v01 INTEL  SKL      00000001 INTL 00000001)
[    0.163581] DMAR: Host address width 39
[    0.163589] DMAR: RMRR base: 0x000000ab80a000 end: 0x000000ab81dfff
[    0.163592] DMAR: RMRR base: 0x000000ad000000 end: 0x000000af7fffff
"""
LOG_SEEDS = [XEN_LOG, LINUX_LOG, XEN_LOG + LINUX_LOG]


def acpidump_text(table: bytes, sig: bytes = b"DMAR") -> bytes:
    """A table as ACPICA's acpidump prints it."""
    lines = [f"{sig.decode('latin-1')} @ 0x00000000AD7FE000"]
    for o in range(0, len(table), 16):
        chunk = table[o:o + 16]
        hexes = " ".join(f"{b:02X}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"    {o:04X}: {hexes:<47}  {text}")
    return ("\n".join(lines) + "\n\n").encode()


ACPIDUMP_SEEDS = [acpidump_text(t) for t in list(DMARS.values())[:12]] + [
    acpidump_text(b"APIC\x2c\x00\x00\x00" + bytes(36), b"APIC") + acpidump_text(LAPTOP)]


def snapshot_bytes(members: list[tuple], mode: str = "w:gz") -> bytes:
    """A tar of (name, data[, type, linkname]) members; mtime fixed, so the bytes replay."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data, *rest in members:
            info = tarfile.TarInfo(name)
            info.size = len(data) if not rest else 0
            info.mtime = 1700000000
            info.mode = 0o644
            if rest:
                info.type, info.linkname = rest[0], rest[1]
                tar.addfile(info)
            else:
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _snapshot_json(host_json: bytes) -> bytes:
    obj = json.loads(host_json)
    obj["format"] = "xlrmrr-snapshot-1"
    obj["notes"] = []
    return json.dumps(obj, indent=1).encode()


SNAP_JSON = _snapshot_json(LAPTOP_JSON)


def _json_flag(rng: random.Random) -> list:
    return ["--json"] if rng.random() < 0.5 else []


def _host_files() -> dict:
    return {"laptop.bin": LAPTOP, "laptop.json": LAPTOP_JSON}


HOST_ARGS = ["--dmar", "{in}/laptop.bin", "--host-json", "{in}/laptop.json"]


def xlcfg(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        base = rng.choice(CFG_SEEDS)
        data = (m.cfg_mutate if rng.random() < 0.6 else m.mutate_bytes)(base, rng, CFG_SEEDS)
        files = {"guest.cfg": data, **_host_files()}
        cmd = rng.choice(["cfg", "cfg", "create", "check"])
        if cmd == "cfg":
            argv = ["cfg", "{in}/guest.cfg"]
        elif cmd == "create":
            argv = ["create", "{in}/guest.cfg", *HOST_ARGS, "--dry-run"]
        else:
            files["small.cfg"] = SMALL
            argv = ["check", "{in}/guest.cfg", "{in}/small.cfg", *HOST_ARGS]
        yield Case(argv + _json_flag(rng), files, "guest.cfg")


def dmar(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        base = rng.choice(DMAR_SEEDS)
        data = (m.dmar_mutate if rng.random() < 0.7 else m.mutate_bytes)(base, rng, DMAR_SEEDS)
        files = {"table.bin": data, "small.cfg": SMALL, "laptop.json": LAPTOP_JSON}
        argv = rng.choice([
            ["dmar", "{in}/table.bin"],
            ["host", "--dmar", "{in}/table.bin"],
            ["create", "{in}/small.cfg", "--dmar", "{in}/table.bin", "--dry-run"],
            ["create", "{in}/small.cfg", "--dmar", "{in}/table.bin", "--host-json",
             "{in}/laptop.json", "--dry-run"]])
        yield Case(argv + _json_flag(rng), files, "table.bin")


def acpidump(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        if rng.random() < 0.3:      # a mutated table, dumped faithfully
            data = acpidump_text(m.dmar_mutate(rng.choice(DMAR_SEEDS), rng))
        else:
            base = rng.choice(ACPIDUMP_SEEDS)
            data = (m.lines_mutate if rng.random() < 0.6 else m.mutate_bytes)(
                base, rng, ACPIDUMP_SEEDS)
        files = {"dump.txt": data, "small.cfg": SMALL}
        argv = rng.choice([["dmar", "{in}/dump.txt"], ["host", "--acpidump", "{in}/dump.txt"],
                           ["create", "{in}/small.cfg", "--acpidump", "{in}/dump.txt",
                            "--dry-run"]])
        yield Case(argv + _json_flag(rng), files, "dump.txt")


def bootlog(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        base = rng.choice(LOG_SEEDS)
        data = (m.lines_mutate if rng.random() < 0.6 else m.mutate_bytes)(base, rng, LOG_SEEDS)
        files = {"xl-dmesg.txt": data, "small.cfg": SMALL}
        argv = rng.choice([["host", "--xen-log", "{in}/xl-dmesg.txt"],
                           ["create", "{in}/small.cfg", "--xen-log", "{in}/xl-dmesg.txt",
                            "--dry-run"]])
        yield Case(argv + _json_flag(rng), files, "xl-dmesg.txt")


def libvirt(seed: int, n: int):
    """libvirt domain XML, as cfg, create --dry-run and check read it (the libvirt hook reads
    the same XML from stdin through the same reader)."""
    rng = random.Random(seed)
    for _ in range(n):
        base = rng.choice(DOMAINS)
        data = (m.xml_mutate if rng.random() < 0.7 else m.mutate_bytes)(base, rng, DOMAINS)
        files = {"domain.xml": data, "laptop.bin": LAPTOP, "laptop.json": LAPTOP_JSON}
        host = ["--dmar", "{in}/laptop.bin", "--host-json", "{in}/laptop.json"]
        argv = rng.choice([["cfg", "{in}/domain.xml"],
                           ["create", "{in}/domain.xml", *host, "--dry-run"],
                           ["check", "{in}/domain.xml", *host]])
        yield Case(argv + _json_flag(rng), files, "domain.xml")


def hostjson(seed: int, n: int):
    rng = random.Random(seed)
    seeds = list(HOSTS.values())
    for _ in range(n):
        base = rng.choice(seeds)
        data = (m.json_mutate if rng.random() < 0.7 else m.mutate_bytes)(base, rng, seeds)
        files = {"host.json": data, "laptop.bin": LAPTOP, "small.cfg": SMALL}
        argv = rng.choice([
            ["host", "--dmar", "{in}/laptop.bin", "--host-json", "{in}/host.json"],
            ["create", "{in}/small.cfg", "--dmar", "{in}/laptop.bin", "--host-json",
             "{in}/host.json", "--dry-run"]])
        yield Case(argv + _json_flag(rng), files, "host.json")


def _snapshot_members(rng: random.Random) -> list:
    members = [("README", b"xlrmrr host snapshot\n"), ("DMAR", LAPTOP), ("host.json", SNAP_JSON)]
    op = rng.randrange(10)
    if op in (0, 1, 2):
        i = 2 if op < 2 else 1
        name, data = members[i]
        mut = m.json_mutate if name == "host.json" else m.dmar_mutate
        members[i] = (name, mut(data, rng))
    elif op == 3:
        del members[rng.choice([1, 2])]
    elif op == 4:                   # a member of another type under a known name
        name = rng.choice(["DMAR", "host.json"])
        typ = rng.choice([tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE,
                          tarfile.CHRTYPE])
        members = [x for x in members if x[0] != name] + [
            (name, b"", typ, rng.choice(["/etc/passwd", "../../x", "README"]))]
    elif op == 5:                   # names as other tools write them
        members = [(rng.choice(["./", "/", "x/", "./././"]) + x[0], *x[1:]) for x in members]
    elif op == 6:                   # duplicated members
        members = members + [rng.choice(members[1:])]
    elif op == 7:                   # many members
        members = members + [(f"extra{i}", b"x") for i in range(rng.choice([10, 1000]))]
    elif op == 8:
        members[2] = ("host.json", rng.choice([b"", b"[]", b"null", b"{}", b"\xff\xfe",
                                               b"[" * 100000, b'{"devices": [' + b"{}," * 5]))
    else:
        members[1] = ("DMAR", rng.choice([b"", b"DMAR", bytes(48), LAPTOP * 100]))
    return members


def snapshot(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        members = _snapshot_members(rng)
        mode = rng.choice(["w:gz", "w:gz", "w:gz", "w", "w:bz2", "w:xz"])
        data = snapshot_bytes(members, mode)
        if rng.random() < 0.35:     # the tar (or its compression) itself damaged
            data = m.mutate_bytes(data, rng)
        files = {"snap.tar.gz": data, "small.cfg": SMALL}
        argv = rng.choice([["host", "--snapshot", "{in}/snap.tar.gz"],
                           ["create", "{in}/small.cfg", "--snapshot", "{in}/snap.tar.gz",
                            "--dry-run"]])
        yield Case(argv + _json_flag(rng), files, "snap.tar.gz")


def _hexnum(rng: random.Random) -> str:
    return rng.choice(["0", "e8", "eb", "ab80a", "ffffffffffffffff", "1" + "0" * 16,
                       "0x" + "f" * rng.choice([1, 13, 40]), "", "-1", "g", "9" * 400])


def _sbdf_text(rng: random.Random) -> str:
    return rng.choice(["00:14.0", "0000:00:1a.0", "00:1d.0", "ffff:ff:1f.7", "10000:00:00.0",
                       "00:20.0", "00:00.8", "0:0.0", "zz:zz.z", "00:14", "", "00:14.0@3",
                       "00:14.0,00:1a.0", "0" * 300 + ":00.0", "\u0661:00.0", "00:14.0\x00"])


def _rmrr_spec(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.choice([1, 1, 2, 3, 11, 30])):
        r = _hexnum(rng)
        if rng.random() < 0.5:
            r += "-" + _hexnum(rng)
        devs = ",".join(_sbdf_text(rng) for _ in range(rng.choice([1, 2, 21])))
        parts.append(r + rng.choice(["=", "=", "", "==", ":"]) + devs)
    text = rng.choice([";", ";", ",", ";;"]).join(parts)
    if rng.random() < 0.3:
        text = m.mutate_bytes(text.encode(), rng).decode("latin-1")
    return text


def _arg(text: str) -> str:
    return text.replace("\x00", "")     # argv cannot carry NUL


def rmrr(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        spec = _arg(_rmrr_spec(rng))
        files = {"small.cfg": SMALL, **_host_files()}
        argv = rng.choice([["host", *HOST_ARGS], ["create", "{in}/small.cfg", *HOST_ARGS,
                                                   "--dry-run"]])
        argv += ["--rmrr", spec] * rng.choice([1, 1, 2, 11])
        yield Case(argv + _json_flag(rng), files, "--rmrr")


def _version_text(rng: random.Random) -> str:
    text = rng.choice(["4.17", "4.16.1", "4.6", "4.22", "4.5", "4.23", "5.0", "4", "4.17.",
                       "4.17.999" + "9" * rng.choice([10, 5000]), "9" * 5000 + ".1",
                       "4." + "1" * 4400, "4.17-rc1", "4.17+", " 4.17 ", "4.\u0661\u0667",
                       "04.017", "4.17.3.2", "-4.17", "", "x", "4.17\n", "\u00e9"])
    if rng.random() < 0.3:
        text = m.mutate_bytes(text.encode(), rng).decode("latin-1")
    return _arg(text)


def xen_version(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        v = _version_text(rng)
        files = {"small.cfg": SMALL, **_host_files()}
        argv = rng.choice([["cfg", "{in}/small.cfg"], ["host", *HOST_ARGS],
                           ["dmar", "{in}/laptop.bin"],
                           ["create", "{in}/small.cfg", *HOST_ARGS, "--dry-run"],
                           ["check", "{in}/small.cfg", *HOST_ARGS],
                           ["pci-attach", "{in}/small.cfg", "00:1a.0", *HOST_ARGS, "-n"]])
        opt = ["--xen-version", v] if rng.random() < 0.5 else [f"--xen-version={v}"]
        yield Case(argv + opt + _json_flag(rng), files, "--xen-version")


def _addr_text(rng: random.Random) -> str:
    text = rng.choice(["0xe0000", "0xf0000", "0xfc00a000", "0", "-1", "0x", "0x" + "f" * 17,
                       "9" * 5000, "0b101", "0o777", "1_000", "0xFC00A000", "1e5", "",
                       "0x100000000", "0xfffff", "00", "0x-1", " 0x1 "])
    if rng.random() < 0.3:
        text = m.mutate_bytes(text.encode(), rng).decode("latin-1")
    return _arg(text)


def firmware(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        files = {"small.cfg": SMALL, **_host_files()}
        argv = ["create", "{in}/small.cfg", *HOST_ARGS, "--dry-run"]
        opts = rng.sample(["--acpi-end", "--bios-base"], rng.choice([1, 2]))
        subject = "|".join(opts)
        for o in opts:
            argv += [o, _addr_text(rng)] if rng.random() < 0.5 else [f"{o}={_addr_text(rng)}"]
        yield Case(argv + _json_flag(rng), files, subject)


def sbdf(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        s = _sbdf_text(rng)
        if rng.random() < 0.4:
            s = m.mutate_bytes(s.encode(), rng).decode("latin-1")
        s = _arg(s)
        files = {"small.cfg": SMALL, **_host_files()}
        argv = ["pci-attach", "{in}/small.cfg", s, *HOST_ARGS, "--dry-run"]
        yield Case(argv + _json_flag(rng), files, "SBDF")


EMIT_NAMES = ("hvm_info.bin", "memory_map.bin", "e820.bin", "plan.json")


def _emit_setup(kind: str, name: str, rng_state: int):
    def setup(indir: Path) -> None:
        rng = random.Random(rng_state)
        out = indir / "out"
        outside = indir / "outside"
        outside.mkdir()
        (outside / "victim").write_bytes(b"precious\n")
        if kind == "file":
            out.write_bytes(b"not a directory\n")
        elif kind == "symlink-dir":
            os.symlink(outside, out)
        elif kind == "dangling":
            os.symlink(indir / "nowhere", out)
        elif kind in ("existing", "symlinks", "readonly", "dirs", "foreign"):
            out.mkdir()
            for n in rng.sample(EMIT_NAMES, rng.randint(1, 4)):
                p = out / n
                if kind == "symlinks":
                    os.symlink(outside / "victim", p)
                elif kind == "dirs":
                    p.mkdir()
                else:
                    p.write_bytes(b"old\n")
            if kind == "readonly":
                os.chmod(out, 0o555)
        elif kind == "parent-missing":
            pass
    return setup


def emit(seed: int, n: int):
    rng = random.Random(seed)
    kinds = ["fresh", "file", "symlink-dir", "dangling", "existing", "symlinks", "readonly",
             "dirs", "foreign", "parent-missing", "again"]
    for _ in range(n):
        kind = rng.choice(kinds)
        guest = rng.choice(list(GUESTS))
        files = {"guest.cfg": GUESTS[guest], **_host_files()}
        target = "{in}/a/b/out" if kind == "parent-missing" else "{in}/out"
        argv = ["create", "{in}/guest.cfg", *HOST_ARGS, "--dry-run", "--emit", target]
        if rng.random() < 0.3:
            argv.append("--force")
        if kind == "again":
            argv = argv + ["--xen-version", rng.choice(["4.6", "4.17", "4.22"])]
        # Only DIR itself may change; with a symlink DIR that is the directory it points to.
        may = ("out", "outside") if kind == "symlink-dir" else ("out", "a")
        yield Case(argv + _json_flag(rng), files, "--emit",
                   may_write=may, setup=_emit_setup(kind, guest, rng.randrange(1 << 30)),
                   note=f"emit case {kind}")


READERS = {
    "xlcfg": xlcfg, "dmar": dmar, "acpidump": acpidump, "bootlog": bootlog,
    "hostjson": hostjson, "snapshot": snapshot, "rmrr": rmrr, "xen-version": xen_version,
    "firmware": firmware, "sbdf": sbdf, "emit": emit, "libvirt": libvirt,
}
