"""The host: PCI topology, device-scope resolution, reserved device memory, sharing groups.

Entry point for the other stages: load_host() (xlrmrr.host.load); which RMRRs a device gets,
xlrmrr.host.index (RmrrIndex); sharing groups, xlrmrr.host.groups. model.py holds the contract
types.
"""


def load_host(*args, **kwargs):
    """See xlrmrr.host.load.load_host (imported lazily: construct is only loaded when needed)."""
    from xlrmrr.host.load import load_host as _load_host

    return _load_host(*args, **kwargs)
