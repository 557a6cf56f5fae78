"""The fuzz harness: run xlrmrr's CLI in process on hostile inputs and check the reliability
contract (DESIGN.md "Reliability") for every run.

One run is `xlrmrr.cli.main(argv)` with stdout and stderr captured, the exit status taken from
its return value or SystemExit, inside a fresh empty working directory and a private temporary
directory, under a per-input time limit (SIGALRM). After the run the harness checks that the
process state it can see is as before (working directory, environment, open signal handler),
so no run leaks into the next; tests/fuzz/test_fuzz_quick.py also replays a sample in fresh
processes and compares.

The contract (violations() names the kind of each breach):
  traceback      any exception other than SystemExit out of main()
  hang           the run exceeded the time limit
  slow           more than 1 s for an input below 1 MB (counted, reported by the long run)
  exit-status    an exit status outside 0-3
  invalid-json   with --json, stdout is not exactly one JSON object
  json-keys      with --json, the top-level keys differ from an earlier run of the same
                 command (the error object of a usage error or bad input is its own shape)
  multi-line     exit 2 with other than one error line on stderr (argparse's usage block
                 before the error line of a usage error is allowed)
  unnamed        exit 2 whose error line does not name the input (file, option) and where in it
                 (line, byte offset, JSON path, tar member, character)
  wrote-outside  a file appeared, changed or vanished anywhere the command was not asked to write
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
SLOW_SECONDS = 1.0
SLOW_BELOW = 1 << 20


class Hang(BaseException):
    """Raised by the alarm inside a run that outlived its time limit."""


@dataclass
class Result:
    argv: list
    rc: int | None = None
    out: str = ""
    err: str = ""
    seconds: float = 0.0
    trace: str | None = None
    hang: bool = False
    leaks: list = field(default_factory=list)


def _on_alarm(signum, frame):
    raise Hang()


def _capture() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape",
                            write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8", "surrogateescape")


def run_cli(argv: list, cwd: str, limit: float = 10.0) -> Result:
    """main(argv) in this process with cwd as working directory: exit status, captured output,
    time, and any traceback, hang or leaked process state."""
    from xlrmrr.cli import main

    res = Result([str(a) for a in argv])
    out, err = _capture(), _capture()
    before_cwd, before_env = os.getcwd(), dict(os.environ)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    os.chdir(cwd)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                res.rc = main(res.argv)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except SystemExit as e:
        res.rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except Hang:
        res.hang = True
    except BaseException:       # noqa: BLE001 - the point is to catch everything
        res.trace = traceback.format_exc()
    res.seconds = time.perf_counter() - t0
    os.chdir(before_cwd)
    if signal.getsignal(signal.SIGALRM) is not _on_alarm:
        res.leaks.append("SIGALRM handler changed")
    signal.signal(signal.SIGALRM, old)
    if dict(os.environ) != before_env:
        res.leaks.append("os.environ changed")
        os.environ.clear()
        os.environ.update(before_env)
    res.out, res.err = _text(out), _text(err)
    return res


def _tree(root: Path) -> dict:
    """path -> (kind, size, mtime_ns, symlink target) of everything below root."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            isdir = os.path.isdir(p) and not os.path.islink(p)
            state[os.path.relpath(p, root)] = (     # a directory changes through its entries
                st.st_mode, None if isdir else st.st_size, None if isdir else st.st_mtime_ns,
                os.readlink(p) if os.path.islink(p) else None)
    return state


@dataclass
class Case:
    """One input: the argv, the files it needs (name -> bytes, written below the input
    directory; "{in}" in argv stands for that directory), what an error line must name, and
    the names the command may write (relative to the input directory)."""

    argv: list
    files: dict = field(default_factory=dict)
    subject: str = ""               # a file name in `files`, or an argument such as --rmrr
                                    # or SBDF ("|" between alternatives: --acpi-end|--bios-base)
    may_write: tuple = ()
    setup: Callable | None = None   # setup(indir: Path) for trees files cannot express
    note: str = ""

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.files.values())


# What an error line may use to say where the problem is, after naming the input.
_LOCATOR = re.compile(
    r"(:\d+\b|\bline \d+|\blines? \d+|offset (0x)?[0-9a-f]+|\bbyte \d+|\bcharacter \d+"
    r"|\[\d+\]|\bmember\b|:[\w.-]+(\.json|DMAR)\b|\bcolumn \d+|\bat \d+"
    # a JSON path right after the file name: "host.json: xen_version: ...", "e820[2].type: ..."
    r"|^: [A-Za-z_]\w*(\[\d+\])*(\.[A-Za-z_]\w*(\[\d+\])*)*: )", re.I)


class Contract:
    """The checks over one harness run (all readers): JSON key sets are compared per command."""

    def __init__(self):
        from xlrmrr.cli import error_json

        self.error_keys = frozenset(json.loads(error_json("x")))
        self.keys: dict = {}                        # command -> first report key set
        self.first: dict = {}                       # command -> argv that set it

    def violations(self, case: Case, res: Result, indir: Path) -> list[tuple[str, str]]:
        v = []
        if res.trace:
            last = res.trace.strip().splitlines()[-1]
            v.append(("traceback", last[:200]))
        if res.hang:
            v.append(("hang", f"over the time limit after {res.seconds:.1f} s"))
        if res.leaks:
            v.append(("state-leak", "; ".join(res.leaks)))
        if res.trace or res.hang:
            return v
        if case.size < SLOW_BELOW and res.seconds > SLOW_SECONDS:
            v.append(("slow", f"{res.seconds:.2f} s for {case.size} bytes"))
        if not isinstance(res.rc, int) or not 0 <= res.rc <= 3:
            v.append(("exit-status", repr(res.rc)))
        if "--json" in res.argv:
            v.extend(self._json(res))
        if res.rc == 2:
            v.extend(self._error_line(case, res, indir))
        return v

    def _json(self, res: Result) -> list:
        try:
            obj = json.loads(res.out)
        except RecursionError:
            # valid JSON nested deeper than Python's parser goes (cfg --json of a list nested
            # 30,000 deep): checked without recursion
            obj = _shallow_object(res.out)
            if obj is None:
                return [("invalid-json", f"deeply nested, not one object; stdout "
                                         f"{res.out[:80]!r}")]
        except ValueError as e:
            return [("invalid-json", f"{e}; stdout {res.out[:80]!r}")]
        if not isinstance(obj, dict):
            return [("invalid-json", f"not an object: {type(obj).__name__}")]
        keys = frozenset(obj)
        if keys == self.error_keys and res.rc == 2:
            return []
        command = res.argv[0]
        if command == "host" and len(res.argv) > 1 and res.argv[1] == "snapshot":
            command = "host snapshot"
        known = self.keys.setdefault(command, keys)
        self.first.setdefault(command, res.argv)
        if keys != known:
            return [("json-keys", f"{command}: {sorted(keys ^ known)} differ from the run of "
                                  f"{self.first[command][:3]}")]
        return []

    def _error_line(self, case: Case, res: Result, indir: Path) -> list:
        lines = res.err.splitlines()
        body = _strip_usage(lines)
        if len(body) != 1 or not res.err.endswith("\n"):
            return [("multi-line", f"{len(body)} error lines: {res.err[:160]!r}")]
        line = body[0]
        if case.subject and case.subject not in case.files:
            # an argument: naming it (and quoting its text) is enough
            if not any(s in line for s in case.subject.split("|")):
                return [("unnamed", f"does not name {case.subject}: {line[:200]!r}")]
            return []
        subject = str(indir / case.subject) if case.subject else ""
        if subject and subject not in line:
            return [("unnamed", f"does not name {case.subject}: {line[:200]!r}")]
        rest = line.split(subject, 1)[1] if subject else line
        if not _LOCATOR.search(rest) and not _whole_file(rest):
            return [("unnamed", f"no line/offset/path/member: {line[:200]!r}")]
        return []


def _shallow_object(text: str) -> dict | None:
    """The top-level keys of a JSON object too deeply nested for json.loads (each mapped to
    None), after checking without recursion that the text is one object: every value is a JSON
    scalar or a balanced structure of them. None when it is not."""
    decoder = json.JSONDecoder()
    scalar = re.compile(r'\s*(?:"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?'
                        r"|true|false|null)")
    if not text.lstrip().startswith("{"):
        return None
    stack, keys, i, n = [], {}, 0, len(text)
    expect_key = False
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c in "[{":
            stack.append(c)
            expect_key = c == "{"
            i += 1
        elif c in "]}":
            if not stack or "[{"["]}".index(c)] != stack.pop():
                return None
            i += 1
            if not stack:
                return keys if text[i:].strip() == "" else None
        elif c == ",":
            expect_key = stack[-1:] == ["{"]
            i += 1
        elif c == ":":
            i += 1
        else:
            m = scalar.match(text, i)
            if m is None or not stack:
                return None
            if expect_key:
                if len(stack) == 1:
                    keys[decoder.decode(m.group().strip())] = None
                expect_key = False
            i = m.end()
    return None


# Errors about a file as a whole (it cannot be opened, is too large, lacks its one required
# part) name the file and nothing else: there is no line or offset to give.
_WHOLE_FILE = re.compile(
    r"cannot read|is a directory|is not a file|not a regular file|larger than|is empty"
    r"|no DMAR table|no line of one|not a Xen or Linux boot log|no \"devices\"|no host\.json"
    r"|has no DMAR|unknown top-level key|is a JSON object, got|exceeds|no RMRR"
    # xl's refusal of a file without name= (xl_parse.c parse_config_data): no line to name
    r"|Domain name must be specified"
    # host data given to the wrong option: what the file as a whole is (xlrmrr/host/kinds.py)
    r"|^: this is .+, not .+ \(--[a-z-]+\): give it with --")


def _whole_file(rest: str) -> bool:
    return bool(_WHOLE_FILE.search(rest))


def _strip_usage(lines: list) -> list:
    """The lines after argparse's usage block (`usage: ...` and its indented continuation)."""
    out, in_usage = [], False
    for ln in lines:
        if ln.startswith("usage: "):
            in_usage = True
            continue
        if in_usage and (ln.startswith(" ") or not ln.strip()):
            continue
        in_usage = False
        out.append(ln)
    return out


@dataclass
class Tally:
    """Per reader: inputs tried and violations by kind, with the first examples kept."""

    tried: Counter = field(default_factory=Counter)
    kinds: dict = field(default_factory=lambda: defaultdict(Counter))
    examples: dict = field(default_factory=lambda: defaultdict(list))
    seconds: dict = field(default_factory=lambda: defaultdict(float))
    slowest: dict = field(default_factory=dict)

    def add(self, reader: str, case: Case, res: Result, found: list) -> None:
        self.tried[reader] += 1
        self.seconds[reader] += res.seconds
        if res.seconds > self.slowest.get(reader, (0.0, 0))[0]:
            self.slowest[reader] = (res.seconds, case.size)
        for kind, why in found:
            self.kinds[reader][kind] += 1
            if len(self.examples[reader]) < 20:
                self.examples[reader].append((kind, why, case))


def run_case(contract: Contract, case: Case, limit: float) -> tuple[Result, list]:
    """Write the case's files into a fresh directory, run it, check the contract and that
    nothing outside case.may_write changed (inputs, working directory, temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="xlrmrr-fuzz-") as top:
        top = Path(top)
        indir, cwd, tmp = top / "in", top / "cwd", top / "tmp"
        for d in (indir, cwd, tmp):
            d.mkdir()
        for name, data in case.files.items():
            p = indir / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        if case.setup:
            case.setup(indir)
        argv = [str(a).replace("{in}", str(indir)) for a in case.argv]
        before = _tree(top)
        saved_tmp, tempfile.tempdir = tempfile.tempdir, str(tmp)
        try:
            res = run_cli(argv, str(cwd), limit)
        finally:
            tempfile.tempdir = saved_tmp
        found = contract.violations(case, res, indir)
        after = _tree(top)
        allowed = tuple(os.path.join("in", w) for w in case.may_write)
        changed = sorted(p for p in set(before) | set(after)
                         if before.get(p) != after.get(p)
                         and not any(p == a or p.startswith(a + os.sep) for a in allowed))
        if changed:
            found.append(("wrote-outside", ", ".join(changed[:5])))
        _restore_modes(top)
    return res, found


def _restore_modes(top: Path) -> None:
    """Cases make directories read-only; make them removable again."""
    for dirpath, dirnames, _ in os.walk(top):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o755)


def run_reader(contract: Contract, tally: Tally, reader: str, cases: Iterator[Case],
               limit: float = 10.0) -> None:
    for case in cases:
        res, found = run_case(contract, case, limit)
        tally.add(reader, case, res, found)


def describe(case: Case) -> str:
    """A violation's input, short enough for an assertion message."""
    files = {k: (v[:120] + b"..." if len(v) > 120 else v) for k, v in case.files.items()}
    return f"argv={case.argv} files={files} {case.note}"


if __name__ == "__main__":      # pragma: no cover - run by hand: python harness.py READER N
    sys.path.insert(0, str(Path(__file__).parent))
    from readers import READERS

    reader, n = sys.argv[1], int(sys.argv[2])
    c, t = Contract(), Tally()
    run_reader(c, t, reader, READERS[reader](seed=1, n=n))
    print(dict(t.tried), {k: dict(v) for k, v in t.kinds.items()})
    for kind, why, case in t.examples[reader]:
        print(kind, why, "\n   ", describe(case)[:400])
