"""Hypervisor stage: assigning 1,000 devices over 10,000 RMRRs, against the plain per-device
walk of Xen's RMRR list (host.model.reserved_device_memory_map) in the same run; scaling in n;
cost independent of guest RAM size.

    python benchmarks/bench_hypervisor.py
"""

from __future__ import annotations

from _util import best

from xlrmrr.common import Sbdf, XenVersion
from xlrmrr.host.model import Host, Rmrr, reserved_device_memory_map
from xlrmrr.hypervisor.assignment import assign_devices
from xlrmrr.xlcfg.domain import DomainConfig, PciDevice

V = XenVersion(4, 22)
FOUR_GB = 1 << 32


def setup(n_rmrr: int, n_dev: int, ram_end: int):
    devs = [Sbdf(0, 1 + i // 256, (i // 8) % 32, i % 8) for i in range(n_dev)]
    rmrrs = tuple(Rmrr(FOUR_GB + i * 0x10000, FOUR_GB + i * 0x10000 + 0x3FFF, 0,
                       (devs[i % n_dev],), 1) for i in range(n_rmrr))
    host = Host(rmrrs=rmrrs)
    pci = tuple(PciDevice(spec=str(s), sbdf=s, rdm_policy="relaxed") for s in devs)
    domain = DomainConfig(xen_version=V, name="bench", type="hvm", pci=pci)
    populated = ((0, 0xA0000), (0xC0000, 0xF0000000), (FOUR_GB, ram_end))
    return domain, host, populated


def main() -> None:
    domain, host, populated = setup(10_000, 1_000, FOUR_GB + (1 << 30))
    t_assign = best(lambda: assign_devices(domain, host, (), populated))
    t_walk = best(lambda: [reserved_device_memory_map(host, d.sbdf) for d in domain.pci], 1)
    print(f"assign_devices, 10,000 RMRRs x 1,000 devices: {t_assign:.3f} s")
    print(f"baseline: per-device walk of the RMRR list (queries only): {t_walk:.3f} s; "
          f"ratio assign/walk = {t_assign / t_walk:.2f}")
    d2, h2, p2 = setup(20_000, 2_000, FOUR_GB + (1 << 30))
    t2 = best(lambda: assign_devices(d2, h2, (), p2))
    print(f"doubling RMRRs and devices: {t2:.3f} s, ratio {t2 / t_assign:.2f} (2.0 = linear)")
    big = setup(10_000, 1_000, FOUR_GB + (16 << 40))[2]
    t_big = best(lambda: assign_devices(domain, host, (), big))
    print(f"16 TiB guest instead of 5 GiB: {t_big:.3f} s, ratio {t_big / t_assign:.2f}")


if __name__ == "__main__":
    main()
