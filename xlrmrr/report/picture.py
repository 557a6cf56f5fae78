"""The picture of a guest's physical address space in `xlrmrr create`'s report: one character
per slice of the address space, the most important content of the slice winning (RDM over MMIO
over RAM over hole). Below each bar a row marks lowmem_end (L), rdm_mem_boundary (B) and each
RDM (1-9, in the RDM table's order) in a column of its own, however small the RDM and however
close the marks: marks nearer than a column apart are drawn in adjacent columns, in address
order, and the slices between them are stretched or squeezed to fit (so the bar is to scale
except next to such marks). A scale in GiB is above each bar."""

from __future__ import annotations

from xlrmrr.common import FOUR_GB, GB, MB, hexa, size_str

LEGEND = (("#", "RAM"), ("R", "RDM in the guest e820"), ("!", "RDM dropped or in conflict: RAM over it"),
          ("m", "MMIO hole (BARs)"), ("f", "hvmloader reserved [0xfc000000, 4G)"), (".", "unused"))

# Mark kinds in the order they take columns when their addresses are equal.
MARK_ORDER = {"B": 0, "L": 1, "R": 2}
MAX_NUMBERED = 9        # RDMs beyond this many are all marked ^


def _regions(plan):
    lx = plan.libxl
    out = []    # (start, end, char, priority)
    for s, e in _ram(plan):
        out.append((s, e, "#", 1))
    if lx.guest_type == "hvm":
        h = plan.hvmloader
        pci_start = h.pci_mem_start if h and h.bug != "memory_map_setup" else lx.mmio_start
        out.append((pci_start, 0xFC000000, "m", 2))
        out.append((0xFC000000, FOUR_GB, "f", 2))
    else:
        out.append((lx.mmio_start, FOUR_GB, "m", 2))
    for r in lx.rdms:
        bad = r.conflict or not r.exposed
        out.append((r.start, r.end, "!" if bad else "R", 4 if bad else 3))
    return out


def _ram(plan):
    lx = plan.libxl
    if lx.guest_type != "hvm":
        ram = [(0, lx.lowmem_end)]
    elif lx.lowmem_end > 0x100000:
        ram = [(0, 0xA0000), (0x100000, lx.lowmem_end)]
    else:
        ram = [(0, 0xA0000)]
    if lx.highmem_end > FOUR_GB:
        ram.append((FOUR_GB, lx.highmem_end))
    return ram


def mark_columns(addrs: list[int], lo: int, hi: int, width: int) -> list[int]:
    """The column of each mark (addresses in [lo, hi], sorted): the column its address falls in,
    moved right just enough that no two marks share one (then left where that runs past the
    last column). A mark at hi itself sits on the bar's closing edge, column `width`. With more
    marks than columns, each keeps the column its address falls in."""
    ideal = [min(width, (a - lo) * width // (hi - lo)) for a in addrs]
    last = [width if a >= hi else width - 1 for a in addrs]
    if len(addrs) > width:
        return [min(c, m) for c, m in zip(ideal, last)]
    cols: list[int] = []
    for c in ideal:
        cols.append(max(c, cols[-1] + 1) if cols else c)
    limit = width
    for i in reversed(range(len(cols))):
        cols[i] = limit = min(cols[i], last[i], limit)
        limit -= 1
    return cols


def _cells(lo: int, hi: int, width: int, marks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The address slice [start, end) of each column: equal slices of [lo, hi), except that a
    marked column (column, address) starts at its mark's address (mark_columns keeps the
    slices in order)."""
    bounds = [lo + (hi - lo) * c // width for c in range(width + 1)]
    for c, a in marks:
        if c < width:
            bounds[c] = a
    return list(zip(bounds, bounds[1:]))


def _bar(regions, cells) -> str:
    out = []
    for s, e in cells:
        e = max(e, s + 1)       # a squeezed slice shows what is at its address
        best, pri = ".", 0
        for rs, re_, ch, p in regions:
            if rs < e and s < re_ and p > pri:
                best, pri = ch, p
        out.append(best)
    return "".join(out)


def _gib(address: int) -> str:
    return f"{address / GB:.2f}".rstrip("0").rstrip(".")


def _scale(lo: int, hi: int, cells, width: int) -> str:
    """The labels above a bar: whole GiB (every 2^k GiB where they would crowd), at the column
    where that address starts, and the end of the bar in GiB."""
    def col(a: int) -> int:
        return next((c for c, (s, _) in enumerate(cells) if s >= a), width)

    row = [" "] * (width + 8)
    end = f"{_gib(hi)} GiB"
    stop = width + 2 - len(end)          # where the end label starts (right-aligned on the |)
    step = GB
    while (hi - lo) // step * 6 > width:
        step *= 2
    free = 0
    for a in [lo, *range(lo // step * step + step, hi, step)]:
        text = _gib(a) + (" GiB" if a == lo else "")
        c = 0 if a == lo else col(a) + 1
        if c >= free and c + len(text) < stop - 1:
            row[c:c + len(text)] = text
            free = c + len(text) + 1
    row[stop:stop + len(end)] = end
    return "  " + "".join(row).rstrip()


def _one_bar(regions, lo: int, hi: int, marks, width: int, unit: str) -> list[str]:
    """A bar over [lo, hi): its scale, the bar and the row of marks (kind, address, symbol)."""
    # a line (not an RDM) at 4 GiB is drawn on the first bar's closing edge, not on the second
    inside = sorted((m for m in marks if lo < m[1] < hi or (m[1] == lo and (lo == 0 or m[0] == "R"))
                     or (m[1] == hi == FOUR_GB and m[0] != "R")),
                    key=lambda m: (m[1], MARK_ORDER[m[0]]))
    cols = mark_columns([m[1] for m in inside], lo, hi, width)
    crowded = len(inside) > width       # marks share columns: the slices stay equal
    cells = _cells(lo, hi, width, [] if crowded else [(c, m[1]) for m, c in zip(inside, cols)])
    row = [" "] * (width + 2)
    for m, c in zip(inside, cols):
        row[c + 1] = m[2]
    lines = [_scale(lo, hi, cells, width), f"  |{_bar(regions, cells)}|  1 column = {unit}"]
    if inside:
        lines.append("  " + "".join(row).rstrip())
    ideal = [min(width, (m[1] - lo) * width // (hi - lo)) for m in inside]
    return lines, cols != ideal and not crowded


def _wrap(items: list[str], width: int = 96) -> list[str]:
    """Legend items two spaces apart, on lines of at most `width` characters."""
    out = [""]
    for item in items:
        if out[-1] and len(out[-1]) + 2 + len(item) > width:
            out.append("")
        out[-1] += ("  " if out[-1] else "") + item
    return ["  " + line for line in out]


def picture(plan, width: int = 64) -> list[str]:
    lx = plan.libxl
    regions = _regions(plan)
    numbered = len(lx.rdms) <= MAX_NUMBERED
    marks = [("L", lx.lowmem_end, "L"), ("B", lx.rdm_mem_boundary, "B")]
    marks += [("R", r.start, str(i) if numbered else "^") for i, r in enumerate(lx.rdms, 1)]
    lines, moved = _one_bar(regions, 0, FOUR_GB, marks, width, size_str(FOUR_GB // width))
    end = FOUR_GB
    top = max([lx.highmem_end] + [r.end for r in lx.rdms])
    if top > FOUR_GB:
        span = top - FOUR_GB
        gran = GB if span >= GB else MB
        end = FOUR_GB + -(-span // gran) * gran
        unit = size_str((end - FOUR_GB) // width) if end - FOUR_GB >= width else "<1 B"
        more, moved_too = _one_bar(regions, FOUR_GB, end, marks, width, unit)
        lines += more
        moved = moved or moved_too
    off = " (beyond the picture)" if lx.rdm_mem_boundary > end else ""
    said = [f"L lowmem_end {hexa(lx.lowmem_end)}",
            f"B rdm_mem_boundary {hexa(lx.rdm_mem_boundary)}{off}"]
    if numbered:
        said += [f"{i} RDM {hexa(r.start)} ({size_str(r.size)})" for i, r in enumerate(lx.rdms, 1)]
    elif lx.rdms:
        said.append(f"^ each of the {len(lx.rdms)} RDMs in the table above")
    if moved:
        said.append("(marks under a column apart: adjacent columns, in address order)")
    lines += _wrap(said)
    lines.append("  " + "  ".join(f"{c} {what}" for c, what in LEGEND[:3]))
    lines.append("  " + "  ".join(f"{c} {what}" for c, what in LEGEND[3:]))
    return lines
