"""files.read_input refuses what is not a regular file at once, with one line and exit 2: a
FIFO without a writer used to block `open` forever, a character device to read 256 MiB."""

from __future__ import annotations

import os
import threading

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.common import InputError
from xlrmrr.files import read_input


def test_fifo_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "dmar.fifo"
    os.mkfifo(fifo)
    done = []
    t = threading.Thread(target=lambda: done.append(main(["dmar", str(fifo)])), daemon=True)
    t.start()
    t.join(30)
    if t.is_alive():        # blocked in open(): a writer releases it; the message decides
        with open(fifo, "wb"):
            pass
        t.join()
    err = capsys.readouterr()[1]
    assert done == [2]
    assert err == (f"xlrmrr dmar: error: {fifo}: is a FIFO (named pipe), not a file "
                   f"(DMAR table expected); copy it to a file first\n")


def test_character_device_and_directory(tmp_path):
    with pytest.raises(InputError, match=r"^/dev/zero: is a character device, not a file "
                                         r"\(DMAR table expected\)"):
        read_input("/dev/zero", "DMAR table")
    with pytest.raises(InputError, match=r": is a directory, not a file \(boot log expected\)$"):
        read_input(str(tmp_path), "boot log")
    with pytest.raises(InputError, match=r"missing: cannot read snapshot: No such file"):
        read_input(str(tmp_path / "missing"), "snapshot")


def test_regular_files_and_procfs_still_read(tmp_path):
    raw = (FIXTURES / "dmar" / "laptop-typical.bin").read_bytes()
    assert read_input(str(FIXTURES / "dmar" / "laptop-typical.bin")) == raw
    link = tmp_path / "link.bin"
    link.symlink_to(FIXTURES / "dmar" / "laptop-typical.bin")
    assert read_input(str(link)) == raw
    # procfs files report size 0 but are regular: they must be read, not refused
    assert read_input("/proc/self/status").startswith(b"Name:")
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(2 << 20)
    with pytest.raises(InputError, match="larger than 1 MiB"):
        read_input(str(big), "x", limit=1 << 20)
