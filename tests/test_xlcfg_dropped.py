"""Values xl drops with only a getter warning: the finding says what the guest then gets and what
to write instead (tools/libs/util/libxlu_cfg.c: xlu_cfg_get_long on a string that strtol cannot
read fully, xlu_cfg_get_list on a single value)."""

from __future__ import annotations

import pytest

from xlrmrr.xlcfg import load_domain

HEAD = b'name = "g"\ntype = "hvm"\n'


def _findings(body: bytes, code: str):
    dom, findings, _cfg = load_domain(HEAD + body, "g.cfg")
    return dom, [f for f in findings if f.code == code]


@pytest.mark.parametrize("value,instead", [
    # MiB is xl's unit: 4 GiB = 4 * 1024 MiB, 1 TiB = 1024 * 1024 MiB, 2048 KiB = 2 MiB
    (b'"4G"', "memory = 4096 (MiB"),
    (b'"2GiB"', "memory = 2048 (MiB"),
    (b'"512M"', "memory = 512 (MiB"),
    (b'"1T"', "memory = 1048576 (MiB"),
    (b'"2048k"', "memory = 2 (MiB"),
    (b'"512K"', "memory = 1 (MiB"),           # under 1 MiB: rounded up, never "memory = 0"
    (b'"0K"', "memory = N (MiB"),
    (b'"lots"', "memory = N (MiB"),
    (b'[ "4096" ]', "memory = 4096 (MiB"),     # a list: "is a list but should be a single value"
])
def test_memory_xl_cannot_read_says_the_consequence(value, instead):
    dom, found = _findings(b"memory = " + value + b"\n", "number-dropped")
    assert dom.target_memkb is None         # xl kept libxl's default
    assert len(found) == 1 and found[0].severity == "warning" and found[0].component == "xl"
    assert "(line 3)" in found[0].message and "libxl's default size" in found[0].message
    assert instead in found[0].message


def test_memory_that_is_a_number_gives_no_finding():
    dom, found = _findings(b'memory = "4096"\n', "number-dropped")
    assert dom.target_memkb == 4096 * 1024 and found == []


def test_pci_string_passes_no_device_and_says_write_a_list():
    dom, found = _findings(b"memory = 1024\npci = '00:14.0'\n", "pci-not-a-list")
    assert dom.pci == ()
    assert len(found) == 1 and found[0].severity == "warning"
    assert "passes no PCI device through" in found[0].message
    assert "write pci = [ '00:14.0' ]" in found[0].message


def test_pci_list_gives_no_finding():
    dom, found = _findings(b"memory = 1024\npci = [ '00:14.0' ]\n", "pci-not-a-list")
    assert len(dom.pci) == 1 and found == []
