"""Scale (issue 14, issue 13's slow inputs): the whole `xlrmrr create --dry-run` process on
hosts and configs far larger than real ones, and plan()'s core, as ratios in one run.

    python benchmarks/bench_scale.py [--before TREE] [--rounds N]

Cases (each a separate process, byte code cached, rounds interleaved so that the load of the
shared machine hits all alike; CPU time is user + system of the process, peak RSS its own):
- pci50k: a config whose pci= lists 50,000 functions, on the laptop DMAR fixture;
- host10k: 10,000 RMRRs (above 4 GiB, 10 per device) x 1,000 relaxed devices, 64 GiB guest;
- host20k: 20,000 x 2,000 (its ratio to host10k: 2.0 linear, about 2.2 n log n);
- check200: `xlrmrr check DIR` over 200 guests (the fixture guests over and over, each its own
  file) on the laptop DMAR and host JSON fixtures (target 0.25 s);
- core10k: plan() alone (no release comparison, no remediation) on bench_create's 10,000 x
  1,000 setup, in process, best of 5.
--before TREE: a checkout of an earlier commit; every case also runs against it, interleaved,
and the report gives after/before ratios (the baseline of the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _util import REPO

FIX = REPO / "fixtures"
# Runs one command and prints its own CPU seconds, wall seconds and peak RSS (KiB) as JSON.
_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"cpu": ru.ru_utime + ru.ru_stime, "wall": wall, "rss": ru.ru_maxrss, "rc": rc}))
"""
# plan() core in the tree on PYTHONPATH, on bench_create's setup (public API only).
_CORE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from bench_create import CORE, V, setup
from xlrmrr.driver import plan
dom, host = setup(10_000, 1_000, 64 * 1024)
plan(dom, host, V, CORE)
ts = []
for _ in range(5):
    t = time.process_time(); plan(dom, host, V, CORE); ts.append(time.process_time() - t)
print(json.dumps({"cpu": min(ts), "wall": min(ts), "rss": 0, "rc": 0}))
"""


def write_inputs(tmp: Path) -> dict[str, list[str]]:
    sys.path.insert(0, str(REPO))
    from xlrmrr.acpi.dmar import Dmar, Scope, Structure, build

    def host(n: int, d: int) -> bytes:
        rmrrs = tuple(Structure(type=1, base=(1 << 32) + i * 0x100000,
                                end=(1 << 32) + i * 0x100000 + 0x3FFF,
                                scopes=(Scope(type=1, bus=1 + (i % d) // 256,
                                              path=(((i % d) // 8 % 32, (i % d) % 8),)),))
                      for i in range(n))
        return build(Dmar(structures=(Structure(type=0, flags=1, register_base=0xFED91000),)
                          + rmrrs))

    def cfg(d: int, policy: str) -> str:
        items = ", ".join(f"'{1 + i // 256:02x}:{i // 8 % 32:02x}.{i % 8}{policy}'"
                          for i in range(d))
        return (f'name = "scale"\ntype = "hvm"\nmemory = {65536 if policy else 4096}\n'
                f"pci = [ {items} ]\n")

    cases = {}
    (tmp / "pci50k.cfg").write_text(cfg(50_000, ""))
    cases["pci50k"] = ["create", str(tmp / "pci50k.cfg"), "--dry-run",
                       "--dmar", str(FIX / "dmar" / "laptop-typical.bin")]
    for n, d in ((10_000, 1_000), (20_000, 2_000)):
        (tmp / f"h{n}.bin").write_bytes(host(n, d))
        (tmp / f"g{d}.cfg").write_text(cfg(d, ",rdm_policy=relaxed"))
        cases[f"host{n // 1000}k"] = ["create", str(tmp / f"g{d}.cfg"), "--dry-run",
                                      "--dmar", str(tmp / f"h{n}.bin")]
    guests = sorted(p for p in (FIX / "guests").glob("*.cfg"))
    (tmp / "check").mkdir()
    for i in range(200):
        src = guests[i % len(guests)]
        (tmp / "check" / f"g{i:03}.cfg").write_bytes(src.read_bytes())
    cases["check200"] = ["check", str(tmp / "check"), "--dmar",
                         str(FIX / "dmar" / "laptop-typical.bin"),
                         "--host-json", str(FIX / "hosts" / "laptop.json")]
    return cases


def run(tree: Path, case: str, argv: list[str], pycache: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONPYCACHEPREFIX=pycache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if case == "core10k":
        cmd = [sys.executable, "-c", _CORE, str(REPO / "benchmarks")]
    else:
        cmd = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "xlrmrr", *argv]
    # cwd outside both trees: `python -m` and `-c` put the working directory first on sys.path
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                         cwd=pycache).stdout
    return json.loads(out.strip().splitlines()[-1])


def fmt(xs: list[float], unit: str = "s") -> str:
    return f"min {min(xs):.2f} / median {statistics.median(xs):.2f} / max {max(xs):.2f} {unit}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, help="a checkout of an earlier commit")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cases", default="pci50k,host10k,host20k,check200,core10k")
    args = ap.parse_args()
    trees = [("after", REPO)] + ([("before", args.before.resolve())] if args.before else [])
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as pycache:
        cases = write_inputs(Path(tmp))
        cases["core10k"] = []
        wanted = args.cases.split(",")
        got: dict = {(t, c): [] for t, _p in trees for c in wanted}
        for _name, path in trees:      # warm the byte code caches
            run(path, "host10k", cases["host10k"], pycache)
        for _ in range(args.rounds):
            for c in wanted:
                for name, path in trees:
                    got[name, c].append(run(path, c, cases[c], pycache))
    for c in wanted:
        print(f"{c}:")
        for name, _p in trees:
            rs = got[name, c]
            line = f"  {name:6} cpu {fmt([r['cpu'] for r in rs])}; wall {fmt([r['wall'] for r in rs])}"
            if c != "core10k":
                line += (f"; peak RSS {fmt([r['rss'] / 1024 for r in rs], 'MiB')}"
                         f"; exit {rs[0]['rc']}")
            print(line)
        if args.before:
            a = [r["cpu"] for r in got["after", c]]
            b = [r["cpu"] for r in got["before", c]]
            print(f"  after/before cpu: min {min(a) / min(b):.2f}, median "
                  f"{statistics.median(a) / statistics.median(b):.2f}")
    if "host10k" in wanted and "host20k" in wanted:
        a = statistics.median(r["cpu"] for r in got["after", "host10k"])
        b = statistics.median(r["cpu"] for r in got["after", "host20k"])
        print(f"host20k / host10k cpu (median): {b / a:.2f} (2.0 linear, ~2.2 n log n)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
