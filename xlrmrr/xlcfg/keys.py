"""The keys xl (tools/xl/xl_parse.c, 4.17) reads from a domain config, for the unknown-key lint."""

# Keys xl reads with xlu_cfg_get_long/get_defbool/get_bounded_long (a += makes them unreadable).
NUMBER_KEYS = frozenset("""
hap oos pvshim cpu_weight cap period slice latency extratime memory maxmem vcpus maxvcpus
max_grant_frames max_maptrack_frames e820_host pci_msitranslate pci_power_mgmt pci_permissive
pci_seize shadow_memory nomigrate tsc_mode rtc_timeoffset vncviewer localtime videoram
max_event_channels driver_domain acpi timer_mode nestedhvm pae acpi_s3 acpi_s4
acpi_laptop_slate nx hpet vpt_align apic viridian mmio_hole altp2mhvm rdm_mem_boundary altp2m
vmtrace_buf_kb claim_mode device_model_stubdomain_override stubdomain_memory vnc vncunused
sdl opengl spice spiceport spicetls_port spicedisable_ticketing spiceagent_mouse
spicevdagent spice_clipboard_sharing spiceusbredirection nographic gfx_passthru usb
usbversion vkb_device xen_platform_pci stdvga xend_suspend_evtchn_compat msr_relaxed
dm_restrict llc_colors vpmu trap_unmapped_accesses
""".split())

KNOWN_KEYS = NUMBER_KEYS | frozenset("""
name type builder uuid pool seclabel init_seclabel pvshim_path pvshim_cmdline pvshim_extra
cpus cpus_soft cpu_affinity vnuma on_poweroff on_reboot on_watchdog on_crash on_soft_reset
pci rdm dtdev passthrough kernel ramdisk device_tree cmdline root extra bootloader
bootloader_args firmware_override bios_path_override bios firmware smbios_firmware
acpi_firmware ms_vm_genid mca_caps ioports irqs iomem disk vif vtpm p9 pvcalls vfb vkb
channel usbctrl usbdev vdispl vsnd vdisplay virtio cpuid device_model device_model_override
device_model_version device_model_stubdomain_seclabel device_model_user stubdomain_kernel
stubdomain_ramdisk stubdomain_cmdline device_model_args device_model_args_pv
device_model_args_hvm vnclisten vncdisplay vncpasswd keymap display xauthority vga hdtype
spicehost spicepasswd spice_image_compression spice_streaming_video serial boot usbdevice
soundhw vendor_device gic_version tee arm_sci sve nr_spis dm_restrict vuart
viridian_enable viridian_disable altp2m_mode xen_platform_pci max_grant_version
cpuid_policy migration_stream_version vcpu_hard_affinity vcpu_soft_affinity
""".split())
