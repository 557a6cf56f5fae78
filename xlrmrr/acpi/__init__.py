"""ACPI DMAR: construct structures, decoding and building, readers, firmware checks."""
