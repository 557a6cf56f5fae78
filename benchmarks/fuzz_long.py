"""The long fuzz run (issue 13): N inputs per reader (default 10,000) through the CLI in
process, every one checked against the reliability contract of tests/fuzz/harness.py, and one
table of figures per reader: inputs tried, tracebacks, hangs, slow inputs (> 1 s below 1 MB),
invalid JSON, JSON key-set changes, multi-line or unnamed errors, writes outside what was
asked. Examples of each violation go to FILE with --examples FILE.

    python benchmarks/fuzz_long.py [--n 10000] [--seed 1] [--limit 10] [--reader NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "fuzz")]

from harness import Contract, Tally, describe, run_reader  # noqa: E402
from readers import READERS  # noqa: E402

COLUMNS = ("traceback", "hang", "slow", "invalid-json", "json-keys", "multi-line", "unnamed",
           "wrote-outside", "exit-status", "state-leak")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit", type=float, default=10.0, help="per-input time limit, seconds")
    p.add_argument("--reader", action="append", choices=sorted(READERS))
    p.add_argument("--examples", metavar="FILE")
    a = p.parse_args()
    contract, tally = Contract(), Tally()
    readers = a.reader or list(READERS)
    print("| reader | inputs | " + " | ".join(COLUMNS) + " | seconds | slowest |")
    print("|---" * (len(COLUMNS) + 4) + "|")
    for r in readers:
        t0 = time.perf_counter()
        run_reader(contract, tally, r, READERS[r](seed=a.seed, n=a.n), limit=a.limit)
        k = tally.kinds[r]
        slow_s, slow_size = tally.slowest.get(r, (0.0, 0))
        print(f"| {r} | {tally.tried[r]} | " + " | ".join(str(k[c]) for c in COLUMNS)
              + f" | {time.perf_counter() - t0:.0f} | {slow_s:.2f} s ({slow_size} B) |",
              flush=True)
    if a.examples:
        with open(a.examples, "w") as f:
            for r in readers:
                for kind, why, case in tally.examples[r]:
                    f.write(f"{r}\t{kind}\t{why}\n    {describe(case)[:600]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
