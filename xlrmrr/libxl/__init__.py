"""The libxl stage: defaults, guest memory layout, reserved-device-memory selection and the
XENMEM_set_memory_map payload (docs/xen/flow.md#libxl-defaults and the libxl sections after it).

Reproduces, per Xen release, libxl's own functions, one module per libxl source file:
create.py (libxl_create.c: libxl__domain_build_info_setdefault's video RAM,
libxl__domain_config_setdefault's refusals; libxl_pci.c's per-device policy default),
layout.py (the layout part of libxl__build_hvm: lowmem_end, highmem_end, the MMIO hole),
dm.py (libxl_dm.c: libxl__domain_device_construct_rdm), x86.py (libxl_x86.c:
domain_construct_memmap). model.py holds the layout and RDM records and libxl's constants.
"""
