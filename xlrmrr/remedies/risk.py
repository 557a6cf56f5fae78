"""What relaxing a device's RMRR risks, by device class (devices.classify)."""

from __future__ import annotations


def device_class_risk(host, devices) -> str:
    """One clause per device (at most four): what its firmware's DMA to the RMRR hits once the
    range is guest RAM."""
    risks = []
    for sbdf in list(devices)[:4]:
        pf = host.device(sbdf)
        cls = pf.class_code >> 8 if pf and pf.class_code is not None else None
        if cls == 0x0C03:
            risks.append(f"{sbdf} is a USB controller: its RMRR is the BIOS's legacy keyboard/mouse "
                         f"emulation buffer; DMA there after handoff lands in guest RAM (usually harmless "
                         f"once the guest driver owns the controller)")
        elif cls == 0x0300 and pf.vendor == 0x8086:
            risks.append(f"{sbdf} is Intel integrated graphics: its RMRR is stolen memory / GTT; "
                         f"relaxed means the GPU writes guest RAM there: display corruption, GPU hangs, "
                         f"guest memory corruption")
        elif cls is not None and (cls >> 8) == 0x01:
            risks.append(f"{sbdf} is a storage controller: firmware-initiated DMA into guest RAM can "
                         f"corrupt guest memory")
        else:
            risks.append(f"{sbdf}: device DMA to its RMRR lands in guest RAM (memory corruption, "
                         f"device malfunction)")
    return "; ".join(risks)
