"""xl config parsing: throughput against Xen's own C parser (libxlutil.so.4.17 via ctypes, in the
same process) per file and per KB over the corpus (target within 8x) and on dense input (short
tokens, no comments or blank lines: DENSE; target within 15x), the cold process time of
`python -m xlrmrr cfg FILE` against `python3 -c "import ply.yacc"` (target within 1.15x), and the
start-up cost of the shipped parse tables against building them in memory with ply.yacc.

    python benchmarks/bench_xlcfg.py
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import statistics
import sys
import tempfile

from _util import REPO, best, cold

from xlrmrr.xlcfg import parse_config

CORPUS = REPO.parent / "shared" / "corpus" / "xlcfg"
LIBXLU = "/usr/lib/x86_64-linux-gnu/libxlutil.so.4.17"


def c_parser():
    xlu = ctypes.CDLL(LIBXLU)
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fopen.restype = ctypes.c_void_p
    devnull = libc.fopen(b"/dev/null", b"w")
    xlu.xlu_cfg_init.restype = ctypes.c_void_p
    xlu.xlu_cfg_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    xlu.xlu_cfg_readdata.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlu.xlu_cfg_destroy.argtypes = [ctypes.c_void_p]

    def parse(data: bytes, name: bytes):
        cfg = xlu.xlu_cfg_init(devnull, name)
        xlu.xlu_cfg_readdata(cfg, data, len(data))
        xlu.xlu_cfg_destroy(cfg)
    return parse


def dense(lines: int = 4000) -> bytes:
    """About 150 KB of short tokens: assignments of numbers, strings and lists, two to a line."""
    out = []
    for i in range(lines):
        out.append(f'k{i}=[1,"a",0x2f,\'b\',{i},"c,d"];s{i}="v{i}"\n')
    return "".join(out).encode()


def throughput() -> None:
    files = sorted(CORPUS.glob("*.cfg"))
    if not files or not os.path.exists(LIBXLU):
        print("corpus or libxlutil.so.4.17 absent: skipping the throughput comparison")
        return
    cparse = c_parser()
    ratios, ours_total, c_total, kb = [], 0.0, 0.0, 0.0
    for path in files:
        data = path.read_bytes()
        name = path.name.encode()
        n = 20
        t_ours = best(lambda d=data, s=path.name: parse_config(d, s), 5, n)
        t_c = best(lambda d=data, s=name: cparse(d, s), 5, n * 10)
        ratios.append((t_ours / t_c, path.name, len(data), t_ours, t_c))
        ours_total += t_ours
        c_total += t_c
        kb += len(data) / 1024
    ratios.sort()
    print(f"corpus: {len(files)} files, {kb:.1f} KB")
    print(f"  per KB: xlrmrr {ours_total / kb * 1e6:.0f} us/KB, libxlutil "
          f"{c_total / kb * 1e6:.1f} us/KB, ratio {ours_total / c_total:.1f}x (target <= 8x)")
    rs = [r[0] for r in ratios]
    print(f"  per file ratio: median {statistics.median(rs):.1f}x, min {rs[0]:.1f}x "
          f"({ratios[0][1]}), max {rs[-1]:.1f}x ({ratios[-1][1]})")
    for _, name, size, t_o, t_c in (ratios[0], ratios[len(ratios) // 2], ratios[-1]):
        print(f"    {name}: {size} B, xlrmrr {t_o * 1e6:.0f} us, libxlutil {t_c * 1e6:.1f} us")
    data = dense()
    assert parse_config(data, "dense.cfg").ok
    t_ours = best(lambda: parse_config(data, "dense.cfg"), 5, 2)
    t_c = best(lambda: cparse(data, b"dense.cfg"), 5, 20)
    print(f"  dense ({len(data) / 1024:.0f} KB): xlrmrr {t_ours / (len(data) / 1024) * 1e6:.0f} us/KB, "
          f"libxlutil {t_c / (len(data) / 1024) * 1e6:.1f} us/KB, ratio {t_ours / t_c:.1f}x "
          f"(target <= 15x)")
    accepted = [p.read_bytes() for p in files if parse_config(p.read_bytes(), p.name).ok]
    big = b"\n".join(accepted) + b"\n"
    assert parse_config(big, "big.cfg").ok
    for factor in (1, 10):
        data = big * factor
        t = best(lambda d=data: parse_config(d, "big.cfg"), 5, 2)
        print(f"  linearity: {len(data) / 1024:.0f} KB in {t * 1e3:.1f} ms "
              f"({t / (len(data) / 1024) * 1e6:.0f} us/KB)")


def startup(pycache: str) -> None:
    cfg = REPO / "fixtures" / "guests" / "small.cfg"
    py = sys.executable
    bare, base, ours, shipped, built = (statistics.median(t) for t in cold([
        [py, "-c", "pass"],
        [py, "-c", "import ply.yacc"],
        [py, "-m", "xlrmrr", "cfg", str(cfg)],
        [py, "-c", "from xlrmrr.xlcfg import parse_config; parse_config(b'a=1\\n', 'x')"],
        [py, "-c", "from xlrmrr.xlcfg.gentables import parse_tables; parse_tables(); "
                   "from xlrmrr.xlcfg import parse_config; parse_config(b'a=1\\n', 'x')"],
    ], pycache, n=11))
    print(f"cold process (medians of 11, interleaved): `python3 -c pass` {bare * 1e3:.0f} ms, "
          f"`python3 -c 'import ply.yacc'` {base * 1e3:.0f} ms, "
          f"`python -m xlrmrr cfg {cfg.name}` {ours * 1e3:.0f} ms: ratio {ours / base:.2f}x (target <= 1.15)")
    print(f"tables: shipped parsetab.py {shipped * 1e3:.0f} ms, built in memory by ply.yacc "
          f"(write_tables=False, debug=False) {built * 1e3:.0f} ms")


if __name__ == "__main__":
    throughput()
    with tempfile.TemporaryDirectory(prefix="xlrmrr-bench-pycache-") as pycache:
        startup(pycache)
