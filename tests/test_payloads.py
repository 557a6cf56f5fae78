"""Binary layouts against Xen's headers (tools/include/xenctrl.h, xen/include/public/memory.h,
xen/include/public/hvm/hvm_info_table.h): offsets, sizes, and checksums worked out by hand
from build_hvm_info and hvm_build_set_params."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xlrmrr.common import E820Entry, InputError
from xlrmrr.payloads import (
    e820_bytes,
    e820entry,
    foreign_memory_map_bytes,
    hvm_info_bytes,
    hvm_info_table,
    parse_e820,
    parse_foreign_memory_map,
    parse_hvm_info,
    xen_foreign_memory_map,
)


def test_sizes_match_the_abi():
    # 2.1: packed e820entry 20 bytes; 2.2: hvm_info_table 48; 2.3: xen_foreign_memory_map 24.
    assert e820entry.sizeof() == 20
    assert hvm_info_table.sizeof() == 48
    assert xen_foreign_memory_map.sizeof() == 24


@pytest.mark.parametrize("low,high,checksum", [
    # xg_dom_x86.c:build_hvm_info + libxl_dom.c:hvm_build_set_params, by hand (vcpus = maxvcpus = 1,
    # apic on).
    (0xF0000, 0x20F800, 0x81),
    (0xAB800, 0x254000, 0x81),
    (0xAB80A, 0x253FF6, 0x82),
    (0x7F800, 0, 0xA9),
    (0xAD000, 0x152800, 0x91),
])
def test_hvm_info_checksum_reference(low, high, checksum):
    raw = hvm_info_bytes(low, high, nr_vcpus=1, vcpus_online=1)
    assert raw[12] == checksum
    assert sum(raw) % 256 == 0


def test_hvm_info_offsets_by_hand():
    raw = hvm_info_bytes(0xAB800, 0x254000, nr_vcpus=4, vcpus_online=2, apic_mode=True)
    assert raw[:8] == b"HVM INFO"
    assert struct.unpack_from("<I", raw, 8)[0] == 48
    assert raw[13] == 1 and raw[14:16] == b"\0\0"
    assert struct.unpack_from("<IIII", raw, 16) == (4, 0xAB800, 0xFEFF0, 0x254000)
    assert raw[32] == 0b11 and raw[33:48] == bytes(15)


def test_hvm_info_validation_like_hvmloader():
    raw = bytearray(hvm_info_bytes(0xF0000, 0, 1, 1))
    assert parse_hvm_info(bytes(raw))["low_mem_pgend"] == 0xF0000
    raw[20] ^= 1
    with pytest.raises(InputError, match="Bad hvm info checksum"):
        parse_hvm_info(bytes(raw))
    with pytest.raises(InputError, match="Bad hvm info signature"):
        parse_hvm_info(b"HVM INFX" + bytes(40))
    bad = bytearray(hvm_info_bytes(0xF0000, 0, 1, 1))
    bad[8] = 40
    bad[12] = (bad[12] + 8) & 0xFF
    with pytest.raises(InputError, match="Bad hvm info length"):
        parse_hvm_info(bytes(bad))


def test_e820_layout_by_hand():
    raw = e820_bytes([E820Entry(0x100000, 0xEFF00000, 1), E820Entry(0xAD000000, 0x2800000, 2)])
    assert raw[:20] == struct.pack("<QQI", 0x100000, 0xEFF00000, 1)
    assert raw[20:] == struct.pack("<QQI", 0xAD000000, 0x2800000, 2)
    with pytest.raises(InputError, match="20-byte"):
        parse_e820(raw[:-1])


def test_foreign_memory_map_layout():
    raw = foreign_memory_map_bytes(7, 4, 0x1234)
    assert struct.unpack_from("<H", raw, 0)[0] == 7
    assert struct.unpack_from("<I", raw, 8)[0] == 4
    assert struct.unpack_from("<Q", raw, 16)[0] == 0x1234
    assert parse_foreign_memory_map(raw) == {"domid": 7, "nr_entries": 4, "buffer": 0x1234}


entries = st.lists(st.builds(E820Entry, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
                             st.integers(0, 2**32 - 1)), max_size=20)


@given(entries)
def test_e820_round_trip(es):
    assert parse_e820(e820_bytes(es)) == tuple(es)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(1, 128), st.integers(0, 128),
       st.booleans())
def test_hvm_info_round_trip(low, high, nr, online, apic):
    raw = hvm_info_bytes(low, high, nr, online, apic)
    info = parse_hvm_info(raw)
    assert (info["low_mem_pgend"], info["high_mem_pgend"], info["nr_vcpus"], info["apic_mode"]) == \
        (low, high, nr, int(apic))
    assert bin(int.from_bytes(info["vcpu_online"], "little")).count("1") == online
    assert hvm_info_table.build(hvm_info_table.parse(raw)) == raw
