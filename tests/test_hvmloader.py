"""hvmloader stage (tools/firmware/hvmloader/e820.c, pci.c): e820 built by hand from
build_e820_table's rules."""

from xlrmrr.common import FOUR_GB, E820Entry, Sbdf, XenVersion
from xlrmrr.host.model import Bar, Host, PciFunction, Rmrr
from xlrmrr.hvmloader.e820 import exchange_sort
from xlrmrr.hvmloader.main import build
from xlrmrr.hvmloader.model import dump_e820_table
from xlrmrr.libxl.layout import build as libxl_build
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice, RdmReserve

IGD = Sbdf(0, 0, 2, 0)
NEW = XenVersion(4, 22)


def run(mem_mb=4096, host=None, version=NEW, **kw):
    host = host or Host(rmrrs=())
    d = DomainConfig(version, type="hvm", target_memkb=mem_mb * 1024, **kw)
    lx = libxl_build(d, host, version)
    return lx, build(lx, d, host, version)


def test_plain_4gib_seabios_e820_and_dump():
    # build_e820_table: RAM [0,0xa0000); RESERVED [0xe0000 (SeaBIOS 128 KiB), 1M); 4.15+: NVS
    # [0xfc000000, ACPI_END=0xfc00a000); RESERVED [ACPI_END, 4G); then libxl's RAM entries; sorted.
    _lx, h = run()
    assert h.e820 == (
        E820Entry(0, 0xA0000, 1), E820Entry(0xE0000, 0x20000, 2), E820Entry(0x100000, 0xEFF00000, 1),
        E820Entry(0xFC000000, 0xA000, 4), E820Entry(0xFC00A000, 0x3FF6000, 2),
        E820Entry(FOUR_GB, 0xF800000, 1))
    assert h.dump() == (
        "E820 table:\n"
        " [00]: 00000000:00000000 - 00000000:000a0000: RAM\n"
        " HOLE: 00000000:000a0000 - 00000000:000e0000\n"
        " [01]: 00000000:000e0000 - 00000000:00100000: RESERVED\n"
        " [02]: 00000000:00100000 - 00000000:f0000000: RAM\n"
        " HOLE: 00000000:f0000000 - 00000000:fc000000\n"
        " [03]: 00000000:fc000000 - 00000000:fc00a000: NVS\n"
        " [04]: 00000000:fc00a000 - 00000001:00000000: RESERVED\n"
        " [05]: 00000001:00000000 - 00000001:0f800000: RAM\n")
    assert not h.failed and h.pci_mem_start == 0xF0000000


def test_before_4_15_no_nvs_entry_and_other_bioses():
    _lx, h = run(version=XenVersion(4, 14))
    assert E820Entry(0xFC000000, 0x4000000, 2) in h.e820
    assert all(e.type != 4 for e in h.e820)
    _lx, h = run(bios="ovmf")
    assert E820Entry(0xF0000, 0x10000, 2) in h.e820
    _lx, h = run(bios="rombios")
    # ROMBIOS: (E820, 0x9e000, 0xe0000): RAM [0,0x9e000), RESERVED [0x9e000,0xa0000)
    assert h.e820[:3] == (E820Entry(0, 0x9E000, 1), E820Entry(0x9E000, 0x2000, 2),
                          E820Entry(0xE0000, 0x20000, 2))


def test_exchange_sort_is_not_stable():
    # i=0: j=2 swaps C in front of A, leaving B before A: equal keys end up reversed.
    a, b, c = E820Entry(2, 1, 1), E820Entry(2, 2, 2), E820Entry(1, 1, 1)
    assert exchange_sort([a, b, c]) == (c, b, a)


def test_overlap_in_hvmloader_area_is_kept():
    e = (E820Entry(0xFC000000, 0x4000000, 2), E820Entry(0xFD000000, 0x1000, 2))
    assert " OVERLAP!!" in dump_e820_table(e)


def test_rdm_in_dynamic_area_is_an_hvmloader_bug():
    host = Host(rmrrs=(Rmrr(0xFD000000, 0xFD0FFFFF, 0, (IGD,), 1),))
    _lx, h = run(host=host, pci=(PciDevice("00:02.0", IGD),))
    assert h.failed
    msgs = [f.message for f in h.findings]
    assert "Fail to setup memory map due to conflict on dynamic reserved memory range." in msgs


def test_bars_skip_an_rdm_in_the_mmio_hole():
    # RDM [0xf0000000, 0xf1000000). Largest first: cirrus 32 MiB: aligned 0xf0000000 overlaps ->
    # align_up(0xf1000000, 32M) = 0xf2000000; then xen-platform 16 MiB at 0xf4000000, the
    # passthrough device (assumed 16 MiB) at 0xf5000000, cirrus' 4 KiB MMIO BAR at 0xf6000000.
    host = Host(rmrrs=(Rmrr(0xF0000000, 0xF0FFFFFF, 0, (IGD,), 1),))
    lx, h = run(host=host, pci=(PciDevice("00:02.0", IGD),))
    assert lx.rdms[0].exposed
    got = [(b.device, b.size, b.base) for b in h.bars]
    assert got == [("vga", 0x2000000, 0xF2000000), ("xen-platform", 0x1000000, 0xF4000000),
                   ("0000:00:02.0", 0x1000000, 0xF5000000), ("vga", 0x1000, 0xF6000000)]


def test_pci_mem_start_drops_to_low_mem_end_when_an_rdm_is_in_the_hole():
    # 2 GiB guest: low_mem_end 0x7f800000 < 0xf0000000 and a RESERVED entry overlaps
    # [0xf0000000, 0xfc000000) -> pci_mem_start = low_mem_end.
    host = Host(rmrrs=(Rmrr(0xF8000000, 0xF80FFFFF, 0, (IGD,), 1),))
    _lx, h = run(2048, host=host, pci=(PciDevice("00:02.0", IGD),))
    assert h.pci_mem_start == 0x7F800000


def test_mmio_hole_size_sets_pci_mem_start():
    _lx, h = run(mmio_hole_memkb=1024 * 1024)
    assert h.pci_mem_start == 0xC0000000
    assert any("pci_mem_start=0xc0000000 (was 0xf0000000) for mmio_hole_size=0x40000000" in f.message
               for f in h.findings)


def test_real_bar_sizes_from_host_and_64bit_relocation():
    igd = PciFunction(IGD, class_code=0x030000, vendor=0x8086,
                      bars=(Bar(0, 1 << 31, is_64bit=True, prefetchable=True),))
    host = Host(rmrrs=(), devices=(igd,))
    _lx, h = run(host=host, pci=(PciDevice("00:02.0", IGD),), gfx_passthru="igd")
    big = [b for b in h.bars if b.size == 1 << 31]
    # a 2 GiB 64-bit BAR is above BAR_RELOC_THRESH: placed above highmem (0x10f800000 -> 2G aligned)
    assert big[0].high and big[0].base == 0x180000000
    # IGD with gfx_passthru: OpRegion NVS at 0xfdffc000 (3 pages), reserved around it
    assert h.opregion == 0xFDFFC000
    assert E820Entry(0xFDFFC000, 0x3000, 4) in h.e820
    assert E820Entry(0xFC00A000, 0xFDFFC000 - 0xFC00A000, 2) in h.e820
    assert E820Entry(0xFDFFF000, FOUR_GB - 0xFDFFF000, 2) in h.e820


def test_zero_size_highmem_entry_4_7_to_4_13_only():
    host = Host(rmrrs=(Rmrr(0xAD000000, 0xAF7FFFFF, 0, (IGD,), 1),))
    for version, present in ((XenVersion(4, 13), True), (XenVersion(4, 7), True),
                             (XenVersion(4, 6), False), (XenVersion(4, 14), False)):
        _lx, h = run(2048, host=host, version=version, rdm=RdmReserve("host", "relaxed"))
        assert (E820Entry(FOUR_GB, 0, 1) in h.e820) is present, version


def test_bug_on_low_mem_end_below_2mib():
    host = Host(rmrrs=(Rmrr(0x180000, 0x18FFFF, 0, (IGD,), 1),))
    _lx, h = run(host=host, pci=(PciDevice("00:02.0", IGD),), rdm_mem_boundary_memkb=0)
    assert h.failed and any("BUG_ON(low_mem_end < 2 MiB)" in f.message for f in h.findings)


def test_sixteen_entry_scratch_buffer_overflow():
    rmrrs = tuple(Rmrr(0xF0000000 + i * 0x100000, 0xF0000FFF + i * 0x100000, 0, (Sbdf(0, 1, i, 0),), 1)
                  for i in range(11))
    _lx, h = run(host=Host(rmrrs=rmrrs), rdm=RdmReserve("host", "relaxed"))
    # 4 fixed + low RAM + 11 RDMs + high RAM = 17 > 16
    assert h.failed and any(f.code == "e820-overflow" for f in h.findings)
    _lx, h = run(host=Host(rmrrs=rmrrs[:10]), rdm=RdmReserve("host", "relaxed"))
    assert not any(f.code == "e820-overflow" for f in h.findings)


def test_before_4_10_only_the_first_rdm_is_avoided():
    # A [0xf0000000, 0xf0100000), B [0xf2000000, 0xf2100000). 4.10+: cirrus' 32 MiB BAR skips A
    # to 0xf2000000, overlaps B, skips to 0xf4000000. 4.9: find_next_rmrr(pci_mem_start) keeps
    # returning A, so the BAR stays at 0xf2000000, on top of B.
    # (strategy=host,policy=strict: before 4.14 a device's INVALID policy would keep its RMRRs out
    # of the map, and only its first RMRR would be queried)
    host = Host(rmrrs=(Rmrr(0xF0000000, 0xF00FFFFF, 0, (IGD,), 1),
                       Rmrr(0xF2000000, 0xF20FFFFF, 0, (IGD,), 1)))
    for version, where in ((NEW, 0xF4000000), (XenVersion(4, 10), 0xF4000000),
                           (XenVersion(4, 9), 0xF2000000)):
        _lx, h = run(host=host, version=version, rdm=RdmReserve("host", "strict"))
        vga = [b for b in h.bars if b.device == "vga" and b.size == 0x2000000][0]
        assert vga.base == where, version
        assert any(f.code == "bar-over-rdm" for f in h.findings) is (where == 0xF2000000)


def test_64bit_bars_relocate_only_while_the_rest_does_not_fit():
    # 3 x 1 GiB 64-bit BARs (not above BAR_RELOC_THRESH, so counted): mmio_total 3 GiB + 48 MiB
    # of emulated BARs does not fit [pci_mem_start, 0xfc000000) even at 0x80000000 (hole stops at
    # low_mem_end 0xf0000000 for a 4 GiB guest): "Low MMIO hole not large enough"; the 64-bit BARs
    # go high one by one while the remaining total exceeds the space left.
    igd = PciFunction(IGD, class_code=0x038000, vendor=0x10DE,
                      bars=tuple(Bar(i * 2, 1 << 30, is_64bit=True, prefetchable=True) for i in range(3)))
    _lx, h = run(host=Host(rmrrs=(), devices=(igd,)), pci=(PciDevice("00:02.0", IGD),))
    assert any(f.code == "bars-to-64bit" for f in h.findings)
    gb = [b for b in h.bars if b.size == 1 << 30]
    assert all(b.high for b in gb)
    assert [b.base for b in gb] == [0x140000000, 0x180000000, 0x1C0000000]


def test_qemu_traditional_relocates_ram_for_the_hole():
    # 3 x 512 MiB 32-bit BARs + 48 MiB emulated: 0x63000000 bytes. qemu-xen-traditional: no
    # allow-memory-relocate = 0, so the hole grows 0xf0000000 -> 0xe0000000 -> 0xc0000000 ->
    # 0x80000000 (room 0x7c000000 fits) and RAM [0x80000000, 0xf0000000) moves above highmem.
    # (traditional cirrus has 4 MiB videoram: mem_size 4092 MiB, highmem_end 0x10fc00000)
    # high 0x10fc00000 + 0x70000000 = 0x17fc00000.
    dev = PciFunction(IGD, class_code=0x020000, vendor=0x8086,
                      bars=tuple(Bar(i, 512 << 20) for i in range(3)))
    host = Host(rmrrs=(), devices=(dev,))
    _lx, h = run(host=host, pci=(PciDevice("00:02.0", IGD),), device_model_version="qemu-xen-traditional")
    assert (h.pci_mem_start, h.low_mem_end, h.high_mem_end) == (0x80000000, 0x80000000, 0x17FC00000)
    assert E820Entry(0x100000, 0x7FF00000, 1) in h.e820 and E820Entry(FOUR_GB, 0x7FC00000, 1) in h.e820
    # qemu-xen (libxl writes allow-memory-relocate = 0): the hole stops at low_mem_end
    _lx, h = run(host=host, pci=(PciDevice("00:02.0", IGD),))
    assert (h.pci_mem_start, h.low_mem_end) == (0xF0000000, 0xF0000000)
    assert any(f.code == "bars-to-64bit" for f in h.findings)


def test_firmware_parameter_limits():
    from xlrmrr.hvmloader.model import firmware_parameter_error as bad
    # edges: ACPI end in [0xfc001000, 0xfc100000], BIOS base in [0xa0000, 0x100000), both 4 KiB-aligned
    assert bad(0xA0000, 0xFC001000) is None and bad(0xFF000, 0xFC100000) is None
    for bios in (0x9F000, 0x100000, 0xE0800, -0x1000):
        assert bad(bios, None).startswith("--bios-base")
    for acpi in (0xFC000000, 0xFC101000, 0xFC001800):
        assert bad(None, acpi).startswith("--acpi-end")


def test_pci_setup_sees_only_what_hvmloader_sees():
    """hvmloader.main.run takes hvm_info, the memory map, libxl's xenstore keys and the guest PCI
    bus, nothing of libxl's own records. Two reserved entries below 4 GiB, [0xf0000000, 0xf0100000)
    and [0xf1000000, 0xf1100000); low RAM ends at 0xf0000000, so the hole stays at 0xf0000000.
    One 16 MiB BAR: aligned to 0xf0000000, find_next_rmrr (pci.c) finds the first entry, the BAR
    moves to 0xf1000000, then the second entry, so 0xf2000000. Before 4.10 (ecc607b185) the
    search starts from pci_mem_start each time and finds the first entry again, which no longer
    overlaps: the BAR stays at 0xf1000000, over the second entry (bar-over-rdm)."""
    from xlrmrr.host.model import Bar
    from xlrmrr.hvmloader.main import run
    from xlrmrr.hvmloader.model import GuestPciDevice, HvmInfo, Xenstore

    mmap = (E820Entry(0, 0xF0000000, 1), E820Entry(0xF0000000, 0x100000, 2),
            E820Entry(0xF1000000, 0x100000, 2))
    bus = (GuestPciDevice("0000:01:00.0", (Bar(0, 0x1000000),), False),)
    keys = Xenstore(allow_memory_relocate=False, mmio_hole_size=0, bios="seabios", acpi=True)
    info = HvmInfo(0xF0000000, 0)
    new = run(info, mmap, keys, bus, NEW)
    assert [b.base for b in new.bars] == [0xF2000000] and new.rdm_overlaps == ()
    old = run(info, mmap, keys, bus, XenVersion(4, 9))
    assert [b.base for b in old.bars] == [0xF1000000]
    assert [(o.code, o.rdm_start) for o in old.rdm_overlaps] == [("bar-over-rdm", 0xF1000000)]
    assert [f.code for f in old.findings if f.code == "bar-over-rdm"] == ["bar-over-rdm"]
