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


def key_typos(settings) -> tuple[tuple[str, str], ...]:
    """(key as written, key meant) for each key of a file's settings that xl does not know but
    that is one edit from a key it does (near_key), where the file does not set the key meant
    as well (then the misspelt line changes nothing)."""
    out = []
    for name in sorted(settings):
        if name in KNOWN_KEYS or name == "rdm_forcecheck":
            continue
        meant = near_key(name)
        if meant is not None and meant not in settings:
            out.append((name, meant))
    return tuple(out)


def near_key(name: str) -> str | None:
    """The key xl knows that an unknown key was most likely meant to be, or None: the closest by
    difflib's ratio (at least 0.8) that is also one edit away (a letter added, dropped or
    changed, or two neighbours swapped; two edits for a name of 12 characters or more), so that
    a key of another toolstack (xm's `parallel`, `hostname`) or a different word of similar
    letters (`boot_order`: ratio 0.8 to `bootloader`, but two edits) is not taken for a typo."""
    import difflib

    limit = 1 if len(name) < 12 else 2
    for cand in difflib.get_close_matches(name, sorted(KNOWN_KEYS), n=3, cutoff=0.8):
        if _edits(name, cand) <= limit:
            return cand
    return None


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
    neighbouring characters."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]
