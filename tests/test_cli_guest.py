"""Bad guest configs are bad input (exit 2, one line naming the file) for every command that
reads one: a file xl cannot parse, and a size no guest can have."""

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main

DMAR = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin")]


@pytest.fixture
def broken(tmp_path):
    p = tmp_path / "broken.cfg"
    p.write_text('name = "x"\ntype = "hvm"\nmemory = 1.5\n')   # `.5': libxlu lexical error
    return str(p)


@pytest.fixture
def huge(tmp_path):
    # 99999999999999999 MiB fits xl's long, but x 1024 x 1024 bytes exceeds 2**64: libxl's
    # byte arithmetic cannot describe it.
    p = tmp_path / "huge.cfg"
    p.write_text('name = "x"\ntype = "hvm"\nmemory = 99999999999999999\npci = [ "00:02.0" ]\n')
    return str(p)


@pytest.mark.parametrize("argv", [
    lambda c: ["create", c, "--dry-run", *DMAR],
    lambda c: ["check", c, str(FIXTURES / "guests/igd-passthrough.cfg"), *DMAR],
    lambda c: ["pci-attach", c, "00:02.0", "--dry-run", *DMAR],
])
def test_unparsable_config_is_exit_2(capsys, broken, argv):
    assert main(argv(broken)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "broken.cfg:3: config parsing error near `.5': lexical error" in err


@pytest.mark.parametrize("command", ["create", "check", "pci-attach"])
def test_impossible_memory_is_exit_2_with_line(capsys, huge, command):
    argv = {"create": [huge, "--dry-run"], "check": [huge],
            "pci-attach": [huge, "00:14.0", "--dry-run"]}[command]
    assert main([command, *argv, *DMAR]) == 2
    err = capsys.readouterr().err
    assert "huge.cfg:3: memory = 99999999999999999 MiB is impossible" in err
    assert "Traceback" not in err


def test_garbage_snapshot_is_one_line(capsys, tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(bytes(range(256)) * 8)
    assert main(["host", "--snapshot", str(junk)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "junk.tar.gz: not a snapshot" in err
