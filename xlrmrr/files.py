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
