"""The only file I/O below the CLI: reading inputs with clear errors, writing atomically."""

from __future__ import annotations

import os
import tempfile

from xlrmrr.common import InputError

MAX_INPUT = 256 << 20


def read_input(path: str, what: str = "file", limit: int = MAX_INPUT) -> bytes:
    """Read a whole input file, or raise InputError naming it."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file ({what} expected)") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read {what}: {e.strerror or e}") from None
    if len(data) > limit:
        raise InputError(f"{path}: {what} is larger than {limit >> 20} MiB; refusing to read it")
    return data


def write_atomic(path: str, data: bytes) -> None:
    """Write data to path via a temporary file in the same directory and rename()."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".xlrmrr-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
