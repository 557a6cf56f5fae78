"""Binary layouts Xen exchanges in the RDM flow, as construct Structs (docs/xen/flow.md#binary-layouts):
the hvm_info_table, the packed e820entry and xen_foreign_memory_map."""

from __future__ import annotations

from construct import Array, Bytes, Const, Int8ul, Int16ul, Int32ul, Int64ul, Padding, Struct

from xlrmrr.common import HVM_MAX_VCPUS, E820Entry, InputError

HVM_INFO_SIGNATURE = b"HVM INFO"
HVM_INFO_LENGTH = 48
HVM_INFO_PFN = 0x09F
HVM_INFO_OFFSET = 0x800
HVM_INFO_PADDR = (HVM_INFO_PFN << 12) + HVM_INFO_OFFSET
RESERVED_MEM_PGSTART = 0xFEFF0   # ioreq_server_pfn(0)

hvm_info_table = Struct(
    "signature" / Const(HVM_INFO_SIGNATURE),
    "length" / Int32ul,
    "checksum" / Int8ul,
    "apic_mode" / Int8ul,
    Padding(2),
    "nr_vcpus" / Int32ul,
    "low_mem_pgend" / Int32ul,
    "reserved_mem_pgstart" / Int32ul,
    "high_mem_pgend" / Int32ul,
    "vcpu_online" / Bytes(HVM_MAX_VCPUS // 8),
)

e820entry = Struct("addr" / Int64ul, "size" / Int64ul, "type" / Int32ul)   # packed: 20 bytes

xen_foreign_memory_map = Struct(
    "domid" / Int16ul,
    Padding(6),
    "nr_entries" / Int32ul,
    Padding(4),
    "buffer" / Int64ul,
)


def hvm_info_bytes(low_mem_pgend: int, high_mem_pgend: int, nr_vcpus: int, vcpus_online: int,
                   apic_mode: bool = True, reserved_mem_pgstart: int = RESERVED_MEM_PGSTART) -> bytes:
    """The table as libxl leaves it after hvm_build_set_params: checksum makes the byte sum 0."""
    online = bytearray(HVM_MAX_VCPUS // 8)
    for cpu in range(min(vcpus_online, HVM_MAX_VCPUS)):
        online[cpu >> 3] |= 1 << (cpu & 7)
    fields = dict(length=HVM_INFO_LENGTH, checksum=0, apic_mode=int(apic_mode), nr_vcpus=nr_vcpus,
                  low_mem_pgend=low_mem_pgend, reserved_mem_pgstart=reserved_mem_pgstart,
                  high_mem_pgend=high_mem_pgend, vcpu_online=bytes(online))
    raw = bytearray(hvm_info_table.build(fields))
    raw[12] = (-sum(raw)) & 0xFF
    return bytes(raw)


def parse_hvm_info(data: bytes, what: str = "hvm_info") -> dict:
    """Parse and validate like hvmloader's validate_hvm_info."""
    if len(data) < HVM_INFO_LENGTH or data[:8] != HVM_INFO_SIGNATURE:
        raise InputError(f"{what}: Bad hvm info signature")
    info = hvm_info_table.parse(data)
    if info.length < HVM_INFO_LENGTH:
        raise InputError(f"{what}: Bad hvm info length")
    if sum(data[:info.length]) & 0xFF:
        raise InputError(f"{what}: Bad hvm info checksum")
    return {k: v for k, v in info.items() if not k.startswith("_")}


def e820_bytes(entries) -> bytes:
    """An array of packed 20-byte e820entry, as XENMEM_set_memory_map's buffer holds them."""
    return b"".join(e820entry.build(dict(addr=e.addr, size=e.size, type=e.type)) for e in entries)


def parse_e820(data: bytes, what: str = "e820") -> tuple[E820Entry, ...]:
    if len(data) % e820entry.sizeof():
        raise InputError(f"{what}: {len(data)} bytes is not a whole number of 20-byte e820 entries")
    parsed = Array(len(data) // 20, e820entry).parse(data)
    return tuple(E820Entry(e.addr, e.size, e.type) for e in parsed)


def foreign_memory_map_bytes(domid: int, nr_entries: int, buffer: int = 0) -> bytes:
    """The 24-byte XENMEM_set_memory_map argument (the buffer is a guest handle; 0 here)."""
    return xen_foreign_memory_map.build(dict(domid=domid, nr_entries=nr_entries, buffer=buffer))


def parse_foreign_memory_map(data: bytes) -> dict:
    m = xen_foreign_memory_map.parse(data)
    return {"domid": m.domid, "nr_entries": m.nr_entries, "buffer": m.buffer}
