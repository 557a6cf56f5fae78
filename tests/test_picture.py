"""Issue 11 item 6: the picture of the guest's physical address space marks lowmem_end (L),
rdm_mem_boundary (B) and each RDM (1, 2, ... in the RDM table's order) in a column of its own
whatever its size, above a scale labelled in GiB.

Expectations by hand: the first bar is [0, 4 GiB) in 64 columns of 64 MiB, so an address A lies in
column A // 64 MiB; a mark whose column another mark already took moves to the next free one, in
address order (at equal addresses B, then L, then the RDMs). In the printed lines the bar's `|` is
character 2 and column c is character 3 + c; the marks row uses the same positions.
"""

from __future__ import annotations

from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.common import FOUR_GB, MB
from xlrmrr.report.picture import mark_columns

LAPTOP = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]


def picture_of(capsys, *argv):
    rc = main(["create", *map(str, argv), "--dry-run"])
    out = capsys.readouterr().out.splitlines()
    start = out.index("Guest physical address space") + 1
    return rc, out[start:out.index("", start)]


def marks(row: str) -> dict[str, int]:
    """symbol -> column of a marks row."""
    return {ch: i - 3 for i, ch in enumerate(row) if i >= 3 and ch != " "}


def test_mark_columns():
    # three marks in column 42 ([0xa8000000, 0xac000000)) take 42, 43, 44
    assert mark_columns([0xab800000, 0xab800000, 0xab80a000], 0, FOUR_GB, 64) == [42, 43, 44]
    # three in the last column: moved left from the end, order kept
    assert mark_columns([0xff000000, 0xff800000, 0xffc00000], 0, FOUR_GB, 64) == [61, 62, 63]
    # a mark at 4 GiB itself sits on the closing edge (column 64)
    assert mark_columns([0x80000000, FOUR_GB], 0, FOUR_GB, 64) == [32, 64]
    # more marks than columns: each keeps its address's column
    assert mark_columns([0] * 65, 0, FOUR_GB, 64) == [0] * 65


def test_four_gib_guest_with_lowmem_end_0xa9a00000(capsys, tmp_path):
    # A 4 GiB guest with the xHCI (00:14.0, strict) on laptop-typical plus a Xen rmrr= range
    # for it at 0xa9a00000 (16 pages). Both RMRRs lie above rdm_mem_boundary (2 GiB), so libxl
    # lowers lowmem_end below the lower one: 0xa9a00000 (2714 MiB), already 2 MiB aligned.
    # mem_size = 4096 - 8 MiB videoram = 4088 MiB, so highmem_end = 4 GiB + (4088 - 2714) MiB
    # = 0x155e00000.
    # Columns: B 0x80000000 = 2048 MiB -> 32; L 2714 MiB -> 42 (2714 / 64 = 42.4); RDM 1
    # 0xa9a00000 -> 42, taken by L at the same address -> 43; RDM 2 0xab80a000 (2744 MiB) -> 42
    # -> 44. The bar: RAM up to column 41 (its slice ends at lowmem_end), R in the three marked
    # columns (L's slice is empty and shows what is at its address, RDM 1), a hole up to the
    # MMIO hole at hvmloader's pci_mem_start 0xf0000000 (column 60), m to 0xfc000000, f in
    # column 63. Second bar [4 GiB, 6 GiB) (1374 MiB rounded up to whole GiB), 32 MiB a
    # column: RAM in columns 0 to 42 (1374 / 32 = 42.9), no mark.
    cfg = tmp_path / "g4.cfg"
    cfg.write_text('name = "g4"\ntype = "hvm"\nmemory = 4096\npci = [ \'00:14.0\' ]\n')
    rc, pic = picture_of(capsys, cfg, *LAPTOP, "--rmrr", "a9a00-a9a0f=00:14.0",
                         "--xen-version", "4.17")
    assert rc == 0
    scale, bar, row, scale2, bar2, *legend = pic
    assert bar == "  |" + "#" * 42 + "RRR" + "." * 15 + "mmm" + "f" + "|  1 column = 64 MiB"
    assert marks(row) == {"B": 32, "L": 42, "1": 43, "2": 44}
    assert scale == ("  0 GiB" + " " * 12 + "1" + " " * 15 + "2" + " " * 15 + "3"
                     + " " * 11 + "4 GiB")
    assert scale.index("1") == 3 + 16 and scale.index("3") == 3 + 48
    assert scale.index("4 GiB") + len("4 GiB") == bar.index("|  1 column") + 1
    assert bar2 == "  |" + "#" * 43 + "." * 21 + "|  1 column = 32 MiB"
    assert scale2.startswith("  4 GiB") and scale2.endswith("6 GiB")
    assert scale2.index("5") == 3 + 32
    assert legend[0] == ("  L lowmem_end 0xa9a00000  B rdm_mem_boundary 0x80000000  "
                         "1 RDM 0xa9a00000 (64 KiB)")
    assert legend[1].startswith("  2 RDM 0xab80a000 (80 KiB)  (marks under a column apart: "
                                "adjacent columns")


def test_an_80_kib_rdm_has_its_column(capsys):
    # usb-strict-boundary (8 GiB, rdm_mem_boundary 4096 MiB): lowmem_end stays 0xf0000000
    # (column 60), the xHCI RMRR 0xab80a000 (80 KiB, a 800th of a column) in guest RAM is the
    # strict conflict, "!" in column 42; B (4 GiB exactly) sits on the bar's closing edge,
    # column 64, and not again on the second bar, which starts there.
    rc, pic = picture_of(capsys, FIXTURES / "guests/usb-strict-boundary.cfg", *LAPTOP)
    assert rc == 1
    scale, bar, row, scale2, bar2, legend, *_ = pic
    assert bar[3 + 42] == "!" and bar.count("!") == 1
    assert marks(row) == {"1": 42, "L": 60, "B": 64}
    assert row[3 + 64] == "B" and bar[3 + 64] == "|"
    assert bar2.startswith("  |#")         # the second bar has no marks row
    assert legend == ("  L lowmem_end 0xf0000000  B rdm_mem_boundary 0x100000000  "
                      "1 RDM 0xab80a000 (80 KiB)")


def test_boundary_beyond_the_picture(capsys, tmp_path):
    # 1 GiB, no device: lowmem_end = 1024 - 8 MiB = 0x3f800000 (column 15: 1016 / 64 = 15.9),
    # so RAM fills columns 0-14 and L's column starts at lowmem_end (a hole); rdm_mem_boundary
    # 16384 MiB, far above the one bar [0, 4 GiB): said, not drawn.
    cfg = tmp_path / "g.cfg"
    cfg.write_text('name = "g"\ntype = "hvm"\nmemory = 1024\nrdm_mem_boundary = 16384\n')
    rc, pic = picture_of(capsys, cfg, *LAPTOP, "--xen-version", "4.17")
    assert rc == 0
    scale, bar, row, legend, *_ = pic
    assert marks(row) == {"L": 15}
    assert bar == "  |" + "#" * 15 + "." * 45 + "mmmf|  1 column = 64 MiB"
    assert legend == ("  L lowmem_end 0x3f800000  B rdm_mem_boundary 0x400000000 (beyond the "
                      "picture)")
    assert 1016 * MB == 0x3f800000
