"""The hvmloader stage, in Xen's own functions (tools/firmware/hvmloader/;
docs/xen/flow.md#hvmloader-memory-map-setup and the hvmloader sections after it).

hvmloader sees little: hvm_info (low_mem_pgend, high_mem_pgend), the memory map libxl set
(XENMEM_memory_map), a few xenstore keys libxl wrote (hvmloader/allow-memory-relocate,
platform/mmio_hole_size, hvmloader/bios, platform/acpi) and the PCI bus the device model
presents. model.py holds those inputs and the result (and dump_e820_table, which prints it);
bus.py derives the inputs from libxl's layout, the config and the host; e820.py is e820.c
(memory_map_setup, adjust_memory_map, build_e820_table), pci.py is pci.c (pci_setup,
find_next_rmrr); main.py runs them in hvmloader.c:main's order and holds them against libxl's
RDMs, which hvmloader never sees.
"""
