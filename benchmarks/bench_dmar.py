"""DMAR decoding: the whole corpus in-process against `iasl -d` per table and against one
`iasl -d` process over all of the corpus tables (target: at or below it; same run), process
against process on a sample, synthetic tables of 1,000 / 10,000 / 20,000 RMRRs to show the
decoder is linear in table size (structure Length is u16, the table Length u32), and the cost
per RMRR against `iasl -d` on the same 1,000 and 10,000-RMRR tables (target: at or below 1.0x).

    python benchmarks/bench_dmar.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "dmar"
sys.path.insert(0, str(REPO))

from _util import best  # noqa: E402

from xlrmrr.acpi.dmar import Dmar, Scope, Structure, build, decode  # noqa: E402
from xlrmrr.acpi.spec import DmarType, DrhdFlags, ScopeType  # noqa: E402


def synthetic(n: int) -> bytes:
    rmrrs = tuple(Structure(type=DmarType.RMRR, base=0x100000000 + i * 0x10000,
                            end=0x100000000 + i * 0x10000 + 0x3FFF,
                            scopes=(Scope(type=ScopeType.ENDPOINT, bus=1 + i // 256,
                                          path=((i // 8 % 32, i % 8),)),))
                  for i in range(n))
    drhd = Structure(type=DmarType.DRHD, flags=DrhdFlags.INCLUDE_PCI_ALL, register_base=0xFED91000)
    return build(Dmar(structures=(drhd,) + rmrrs))


def iasl_per_table(tables: list[bytes]) -> float:
    iasl = shutil.which("iasl")
    with tempfile.TemporaryDirectory() as tmp:
        for i, raw in enumerate(tables):
            Path(tmp, f"t{i}.bin").write_bytes(raw)
        t = time.perf_counter()
        for i in range(len(tables)):
            subprocess.run([iasl, "-d", f"t{i}.bin"], cwd=tmp, capture_output=True, check=False)
        return (time.perf_counter() - t) / len(tables)


def iasl_all(tables: list[bytes], repeat: int = 5) -> float:
    """Seconds of one `iasl -d` process disassembling every table (best of `repeat`)."""
    iasl = shutil.which("iasl")
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for i, raw in enumerate(tables):
            Path(tmp, f"t{i}.bin").write_bytes(raw)
            names.append(f"t{i}.bin")
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run([iasl, "-d", *names], cwd=tmp, capture_output=True, check=False)
            times.append(time.perf_counter() - t)
        return min(times)


def main() -> int:
    tables = [p.read_bytes() for p in sorted(CORPUS.glob("*.bin"))]
    print(f"corpus: {len(tables)} tables, {sum(map(len, tables))} bytes")
    t0 = time.perf_counter()
    import xlrmrr.acpi.structs  # noqa: F401  (the construct import, paid once per process)
    print(f"import construct + structures: {time.perf_counter() - t0:.3f} s")
    ours = best(lambda: [decode(t) for t in tables]) / len(tables)
    print(f"xlrmrr decode, in process:     {ours * 1e3:.3f} ms/table")
    if shutil.which("iasl"):
        theirs = iasl_per_table(tables)
        print(f"iasl -d, one process a table:  {theirs * 1e3:.3f} ms/table  "
              f"-> ratio xlrmrr/iasl {ours / theirs:.3f}")
        every = iasl_all(tables)
        print(f"one iasl -d process over all {len(tables)} tables: {every * 1e3:.1f} ms "
              f"({every / len(tables) * 1e3:.3f} ms/table) -> ratio xlrmrr in process / iasl "
              f"{ours * len(tables) / every:.2f} (target <= 1.0)")
        sample = [p for p in sorted(CORPUS.glob("*.bin"))][::34]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        t = time.perf_counter()
        for p in sample:
            subprocess.run([sys.executable, "-m", "xlrmrr", "dmar", str(p), "--json"],
                           capture_output=True, check=True, env=env)
        proc = (time.perf_counter() - t) / len(sample)
        it = iasl_per_table([p.read_bytes() for p in sample])
        print(f"process vs process ({len(sample)} tables): xlrmrr dmar --json {proc * 1e3:.1f} ms, "
              f"iasl -d {it * 1e3:.1f} ms -> ratio {proc / it:.2f}")
    from xlrmrr.host.build import build_host

    base = hbase = None
    for n in (1000, 10000, 20000):
        raw = synthetic(n)
        t = best(lambda raw=raw: decode(raw), repeat=3)
        base = base or t / n
        d = decode(raw)
        h = best(lambda d=d: build_host(d), repeat=3)
        hbase = hbase or h / n
        print(f"{n:>6} RMRRs ({len(raw):>7} bytes): decode {t:.3f} s, "
              f"{t / n * 1e6:.1f} us/RMRR ({t / n / base:.2f}x the 1,000 case per RMRR); "
              f"Xen model (build_host) {h:.3f} s ({h / n / hbase:.2f}x per RMRR)")
    if shutil.which("iasl"):
        for n in (1000, 10000):
            raw = synthetic(n)
            it = iasl_all([raw], repeat=3)
            t = best(lambda raw=raw: decode(raw), repeat=3)
            print(f"{n:>6} RMRRs: iasl -d {it:.3f} s ({it / n * 1e6:.1f} us/RMRR, process "
                  f"included); xlrmrr decode {t / n * 1e6:.1f} us/RMRR -> ratio {t / it:.2f} "
                  f"(target <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
