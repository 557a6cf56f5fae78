"""The README's walk-through of `create --fix` (section "Fixing a guest that will not start") is
what the commands print: every `$ xlrmrr ...` transcript in it is run, in order, in a copy of
fixtures/ (--write really writes the .new file there), and its output compared byte for byte
(stderr where the command sends stdout to /dev/null); the two pictures are the full reports'
"Guest physical address space" sections of the file before and after the fix. So the README
cannot go stale (issue 11: a README walk-through of --fix on the shipped failing example)."""

from __future__ import annotations

import shutil

from conftest import FIXTURES, REPO

from xlrmrr.cli import main

SECTION = "### Fixing a guest that will not start"


def walkthrough() -> list[str]:
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    end = text.index("\nA USB controller whose RMRR is shared", start)
    return text[start:end].splitlines()


def blocks(lines: list[str]) -> list[list[str]]:
    """The indented blocks (4 spaces), without the indent."""
    out, cur = [], None
    for line in lines + [""]:
        if line.startswith("    "):
            cur = cur if cur is not None else []
            cur.append(line[4:])
        elif cur is not None:
            out.append(cur)
            cur = None
    return out


def transcripts(block: list[str]) -> list[tuple[list[str], str]]:
    """(argv, expected output) per `$ ` line of a block."""
    out = []
    for line in block:
        if line.startswith("$ "):
            out.append((line[2:].split(), []))
        else:
            out[-1][1].append(line)
    return [(argv, "\n".join(lines) + "\n") for argv, lines in out]


def picture(out: str) -> str:
    lines = out.splitlines()
    start = lines.index("Guest physical address space")
    return "\n".join(lines[start:lines.index("", start)]) + "\n"


def test_walkthrough_is_real_output(capsys, monkeypatch, tmp_path):
    shutil.copytree(FIXTURES / "guests", tmp_path / "guests")
    for sub in ("dmar", "hosts"):
        (tmp_path / sub).symlink_to(FIXTURES / sub)
    monkeypatch.chdir(tmp_path)
    ran, pictures = [], []
    for block in blocks(walkthrough()):
        if block[0].startswith("$ "):
            for argv, expected in transcripts(block):
                assert argv[0] == "xlrmrr"
                argv = argv[1:]
                quiet = argv[-2:] == [">", "/dev/null"]
                if quiet:
                    argv = argv[:-2]
                main(argv)
                out, err = capsys.readouterr()
                assert (err if quiet else out) == expected, " ".join(argv)
                ran.append(argv)
        elif block[0] == "Guest physical address space":
            pictures.append("\n".join(block) + "\n")
    # the walk-through: the failing report in short, the diff, --write, the fixed file planned
    assert [a[1] for a in ran] == ["guests/usb-strict-boundary.cfg"] * 3 + [
        "guests/usb-strict-boundary.cfg.new"]
    assert "--brief" in ran[0] and "--fix" in ran[1] and "--write" in ran[2]
    assert (tmp_path / "guests/usb-strict-boundary.cfg.new").exists()
    host = ["--dmar", "dmar/laptop-typical.bin", "--host-json", "hosts/laptop.json"]
    assert len(pictures) == 2
    for cfg, shown in zip(("guests/usb-strict-boundary.cfg", "guests/usb-strict-boundary.cfg.new"),
                          pictures):
        main(["create", cfg, "--dry-run", *host])
        assert picture(capsys.readouterr().out) == shown, cfg
