"""`xlrmrr create GUEST.cfg --dmar FILE --dry-run`: cold process time against
`python3 -c "import construct, ply.yacc"` (target within 1.5x), also with --host-json, and where
the process's time goes (`-X importtime`); the whole planner (libxl, libxc, hypervisor,
hvmloader) with 10,000 RMRRs x 1,000 devices (target < 1 s) against the plain per-device walk
of Xen's RMRR list, and its scaling; peak memory for a 4 GiB against a 16 TiB guest.

    python benchmarks/bench_create.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

from _util import REPO, best, cold

from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.driver import Options, plan
from xlrmrr.host.model import Host, Rmrr, reserved_device_memory_map
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice

FIX = REPO / "fixtures"
V = XenVersion(4, 22)
FOUR_GB = 1 << 32
CORE = Options(remediate=False, compare_versions=False)


def import_times(argv, env, n=5) -> dict[str, int]:
    """Self import time (us) of each module the command loads, the least of n runs."""
    out: dict[str, int] = {}
    for _ in range(n):
        err = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True,
                             text=True, check=False).stderr
        for line in err.splitlines():
            if line.startswith("import time:") and "|" in line and "self" not in line:
                self_us, _cum, name = line[len("import time:"):].split("|")
                name = name.strip()
                out[name] = min(out.get(name, 1 << 60), int(self_us))
    return out


def setup(n_rmrr: int, n_dev: int, mem_mb: int):
    """n_dev relaxed passthrough devices, n_rmrr RMRRs spread over guest RAM above 4 GiB: every
    RDM conflicts, is dropped (so the memory map stays small) and is checked at assignment."""
    devs = [Sbdf(0, 1 + i // 256, (i // 8) % 32, i % 8) for i in range(n_dev)]
    rmrrs = tuple(Rmrr(FOUR_GB + i * 0x100000, FOUR_GB + i * 0x100000 + 0x3FFF, 0,
                       (devs[i % n_dev],), 1) for i in range(n_rmrr))
    pci = tuple(PciDevice(spec=str(s)[5:], sbdf=s, rdm_policy="relaxed") for s in devs)
    dom = DomainConfig(V, name="bench", type="hvm", target_memkb=mem_mb * 1024, pci=pci)
    return dom, Host(rmrrs=rmrrs)


def peak(fn) -> int:
    tracemalloc.start()
    fn()
    top = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return top


def main() -> None:
    cmd = [sys.executable, "-m", "xlrmrr", "create", str(FIX / "guests/igd-passthrough.cfg"), "--dry-run",
           "--dmar", str(FIX / "dmar/laptop-typical.bin")]
    cmd_json = cmd + ["--host-json", str(FIX / "hosts/laptop.json")]
    base = [sys.executable, "-c", "import construct, ply.yacc"]
    bare = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory() as pycache:
        t_cmd, t_json, t_base, t_bare = cold([cmd, cmd_json, base, bare], pycache)
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONPYCACHEPREFIX=pycache)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        mine, theirs = import_times(cmd, env), import_times(base, env)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    t_src = time.perf_counter() - t0
    print(f"(without cached byte code, as this machine runs by default: {t_src:.3f} s)")
    for what, t in (("create --dmar --dry-run", t_cmd), ("create --dmar --host-json --dry-run", t_json)):
        print(f"cold `xlrmrr {what}`: min {min(t):.3f} s, median {statistics.median(t):.3f} s; ratio (min) "
              f"{min(t) / min(t_base):.2f}, (median) {statistics.median(t) / statistics.median(t_base):.2f}")
    print(f"baseline `import construct, ply.yacc`: min {min(t_base):.3f} s, median "
          f"{statistics.median(t_base):.3f} s; bare python: {min(t_bare):.3f} s; target ratio <= 1.15")
    own = sorted(((us, name) for name, us in mine.items() if name.split(".")[0] == "xlrmrr"), reverse=True)
    extra = sorted(((us, name) for name, us in mine.items()
                    if name not in theirs and name.split(".")[0] != "xlrmrr"), reverse=True)
    print(f"imports, self time (least of 5): xlrmrr's modules {sum(us for us, _ in own) / 1000:.1f} ms "
          f"(largest: {', '.join(f'{n} {us / 1000:.1f}' for us, n in own[:6])}); modules the baseline "
          f"does not load {sum(us for us, _ in extra) / 1000:.1f} ms "
          f"({', '.join(f'{n} {us / 1000:.1f}' for us, n in extra[:4])})")

    dom, host = setup(10_000, 1_000, 64 * 1024)
    t_plan = best(lambda: plan(dom, host, V, CORE))
    p = plan(dom, host, V, CORE)
    t_walk = best(lambda: [reserved_device_memory_map(host, d.sbdf) for d in dom.pci], 1)
    print(f"plan(), 10,000 RMRRs x 1,000 devices, every stage: {t_plan:.3f} s (verdict {p.verdict}, "
          f"{len(p.libxl.rdms)} RDMs); target < 1 s")
    print(f"baseline per-device walk of the RMRR list (queries only): {t_walk:.3f} s; "
          f"ratio {t_plan / t_walk:.2f}")
    t_full = best(lambda: plan(dom, host, V), 1)
    print(f"plan() with version comparison and remediation (default options): {t_full:.3f} s")
    d2, h2 = setup(20_000, 2_000, 64 * 1024)
    t2 = best(lambda: plan(d2, h2, V, CORE))
    print(f"20,000 x 2,000: {t2:.3f} s, ratio {t2 / t_plan:.2f} (2.0 = linear, ~2.1 = n log n)")

    small, _ = setup(10, 1, 4 * 1024)
    huge, hhost = setup(10, 1, 16 << 20)
    m_small = peak(lambda: plan(small, hhost, V, CORE))
    m_huge = peak(lambda: plan(huge, hhost, V, CORE))
    print(f"peak memory: 4 GiB guest {m_small / 1024:.0f} KiB, 16 TiB guest {m_huge / 1024:.0f} KiB, "
          f"ratio {m_huge / m_small:.2f}")


if __name__ == "__main__":
    main()
