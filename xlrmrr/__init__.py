"""xlrmrr: plan Xen PCI passthrough around host RMRRs before `xl create`."""

__version__ = "0.1.0"
