"""What relaxing a device's RMRR risks, by device class (devices.classify)."""

from __future__ import annotations


def device_class_risk(host, devices) -> str:
    """One clause per device (at most four): what its firmware's DMA to the RMRR hits once the
    range is guest RAM."""
    from xlrmrr import devices as dc

    risks = []
    for sbdf in list(devices)[:4]:
        pf = host.device(sbdf)
        kind = dc.classify(pf).kind
        if kind == dc.KIND_USB:
            risks.append(f"{sbdf} is a USB controller: its RMRR is the BIOS's legacy keyboard/mouse "
                         f"emulation buffer; DMA there after handoff lands in guest RAM (usually harmless "
                         f"once the guest driver owns the controller)")
        elif kind == dc.KIND_IGD:
            risks.append(f"{sbdf} is Intel integrated graphics: its RMRR is stolen memory / GTT; "
                         f"relaxed means the GPU writes guest RAM there: display corruption, GPU hangs, "
                         f"guest memory corruption")
        elif kind == dc.KIND_OTHER and pf.class_code >> 16 == 0x01:
            risks.append(f"{sbdf} is a storage controller: firmware-initiated DMA into guest RAM can "
                         f"corrupt guest memory")
        else:
            risks.append(f"{sbdf}: device DMA to its RMRR lands in guest RAM (memory corruption, "
                         f"device malfunction)")
    return "; ".join(risks)
