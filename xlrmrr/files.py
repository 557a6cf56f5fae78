"""The only file I/O below the CLI: reading inputs with clear errors, writing atomically."""

from __future__ import annotations

import os
import stat

from xlrmrr.common import InputError

MAX_INPUT = 256 << 20


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def read_input(path: str, what: str = "file", limit: int = MAX_INPUT) -> bytes:
    """Read a whole regular file, or raise InputError naming it. Opened non-blocking and
    checked before reading: a FIFO without a writer would otherwise hang, a device never end.
    (sysfs and procfs files are regular files.)"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise InputError(f"{path}: cannot read {what}: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((k for test, k in _KINDS if test(mode)), "not a regular file")
        raise InputError(f"{path}: is {kind}, not a file ({what} expected)"
                         + ("" if stat.S_ISDIR(mode) else "; copy it to a file first"))
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise InputError(f"{path}: cannot read {what}: {e.strerror or e}") from None
    if len(data) > limit:
        raise InputError(f"{path}: {what} is larger than {limit >> 20} MiB; refusing to read it")
    return data


def write_atomic(path: str, data: bytes, exclusive: bool = False, mode: int = 0o644) -> None:
    """Write data to path via a temporary file in the same directory, then rename() it over
    path, or, exclusive, link() it to path, which fails (FileExistsError) where path exists,
    even one created meanwhile: never over an existing file. tempfile (and random, which it
    loads) is imported here: only writers pay for it."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".xlrmrr-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError:     # no hard links here (vfat, some FUSE): claim the name first
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# What `create --emit DIR` writes: the binary payloads (payloads.py) and the plan.
EMIT_FILES = ("hvm_info.bin", "memory_map.bin", "e820.bin", "plan.json")


EMIT_MARK = "xlrmrr_emitted"     # plan.json key: sha256 of each payload written with it


def _emitted_by_us(directory: str) -> set:
    """The names in DIR that xlrmrr wrote and nobody changed since: plan.json carries the
    sha256 of each payload written with it."""
    import hashlib
    import json
    import os

    try:
        with open(os.path.join(directory, "plan.json"), "rb") as f:
            mark = json.loads(f.read(1 << 26)).get(EMIT_MARK)
    except (OSError, ValueError, AttributeError, RecursionError):
        return set()
    if not isinstance(mark, dict):
        return set()
    ours = {"plan.json"}
    for name, digest in mark.items():
        if name not in EMIT_FILES:
            continue
        try:
            with open(os.path.join(directory, name), "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() == digest:
                    ours.add(name)
        except OSError:
            pass
    return ours


def _with_mark(files: dict) -> dict:
    import hashlib
    import json

    plan = json.loads(files["plan.json"])
    plan[EMIT_MARK] = {n: hashlib.sha256(b).hexdigest() for n, b in files.items() if n != "plan.json"}
    return {**files, "plan.json": (json.dumps(plan, indent=2) + "\n").encode()}


def write_payloads(directory: str, files: dict, force: bool = False) -> None:
    """Write the payloads into DIR all or nothing: each into a temporary directory inside DIR,
    then renamed over the old one, restoring every old file if any step fails. Only the four
    names are touched, and of those only files xlrmrr wrote (see plan.json) unless --force."""
    import os
    import shutil
    import tempfile

    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"--emit {directory}: exists and is not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise InputError(f"--emit {directory}: cannot create it: {e.strerror}") from None
    present = [n for n in EMIT_FILES if os.path.lexists(os.path.join(directory, n))]
    for name in present:
        path = os.path.join(directory, name)
        if os.path.islink(path) or not os.path.isfile(path):
            raise InputError(f"--emit {directory}: {name} exists and is not a regular file; "
                             f"not replacing it")
    ours = _emitted_by_us(directory)
    foreign = [n for n in present if n not in ours]
    if foreign and not force:
        raise InputError(f"--emit {directory}: {foreign[0]} exists and was not written by xlrmrr "
                         f"(or was changed since); not replacing it: name a new or empty directory, "
                         f"or add --force")
    files = _with_mark(files)
    try:
        tmp = tempfile.mkdtemp(prefix=".xlrmrr-emit-", dir=directory)
    except OSError as e:
        raise InputError(f"--emit {directory}: cannot write there: {e.strerror}") from None
    done: list = []        # (name, backup path or None)
    try:
        for name, data in files.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(os.path.join(tmp, name), 0o644)
        for name in EMIT_FILES:
            path = os.path.join(directory, name)
            backup = None
            if name in present:
                backup = os.path.join(tmp, name + ".old")
                shutil.copy2(path, backup)
            if name in files:
                os.replace(os.path.join(tmp, name), path)
                done.append((name, backup))
            elif backup is not None:    # a payload of an earlier plan that this plan does not reach
                os.unlink(path)
                done.append((name, backup))
    except OSError as e:
        for name, backup in reversed(done):
            path = os.path.join(directory, name)
            try:
                if backup is not None:
                    os.replace(backup, path)
                else:
                    os.unlink(path)
            except OSError:
                pass
        raise InputError(f"--emit {directory}: cannot write the payloads: {e.strerror or e}; "
                         f"nothing was changed") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
