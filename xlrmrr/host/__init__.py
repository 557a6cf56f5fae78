"""The host: PCI topology, device-scope resolution, reserved device memory, sharing groups."""
