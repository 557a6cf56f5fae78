"""The host: PCI topology, device-scope resolution, reserved device memory, sharing groups.

Entry point for the other stages: load_host() (xlrmrr.host.load), and the queries in
xlrmrr.host.query (rmrrs_of, sharing_groups). model.py holds the contract types.
"""


def load_host(*args, **kwargs):
    """See xlrmrr.host.load.load_host (imported lazily: construct is only loaded when needed)."""
    from xlrmrr.host.load import load_host as _load_host

    return _load_host(*args, **kwargs)
