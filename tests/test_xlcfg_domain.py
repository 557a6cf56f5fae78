"""The typed domain config: xl's getters (against libxlutil) and parse_config_data's semantics."""

from __future__ import annotations

import libxlu_oracle as oracle
import pytest
from conftest import need

from xlrmrr.common import XenVersion
from xlrmrr.xlcfg import load_domain, parse_config
from xlrmrr.xlcfg.getters import Getters

V = XenVersion.parse

NUMBERS = ["512", "0x10", "010000", "08", "' 12'", "'-5'", "'+7'", "'12 '", "12abc", "1e3",
           "'0x'", "''", "'0b11'", "99999999999999999999", "'-99999999999999999999'", "[1]",
           "0", "0x7fffffffffffffff", "0x8000000000000000", "'\t3'", "'0x1g'"]


@pytest.mark.parametrize("value", NUMBERS)
def test_get_long_matches_libxlu(value):
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    data = f"memory = {value}\nmaxmem = 1\nmaxmem += 2\n".encode()
    want = oracle.parse(data, "g.cfg", getters=("memory", "maxmem", "absent"))
    g = Getters(parse_config(data, "g.cfg"))
    got = {name: list(g.get_long(name)) for name in ("memory", "maxmem", "absent")}
    assert got == want["longs"]
    assert "".join(g.report) == want["getter_report"]


def dom(text: str, version: str = "4.17"):
    return load_domain(text.encode(), "g.cfg", V(version))


def codes(findings):
    return [f.code for f in findings]


def test_hvm_guest_fields():
    d, f, _ = dom('name = "g"\ntype = "hvm"\nmemory = 4096\nmaxmem = 8192\nvcpus = 2\n'
                  'maxvcpus = 4\nvideoram = 16\nvga = "stdvga"\nshadow_memory = 8\nhap = 0\n'
                  'mmio_hole = 1024\nrdm_mem_boundary = 0x800\ngfx_passthru = "IGD"\n'
                  'bios = "OVMF"\nacpi = 0\napic = 0\nacpi_firmware = "a.bin"\n'
                  'smbios_firmware = "s.bin"\ndevice_model_version = "qemu-xen"\n')
    assert (d.name, d.type, d.target_memkb, d.max_memkb) == ("g", "hvm", 4096 * 1024, 8192 * 1024)
    assert (d.vcpus, d.max_vcpus, d.video_memkb, d.vga) == (2, 4, 16 * 1024, "stdvga")
    assert (d.shadow_memkb, d.hap, d.mmio_hole_memkb) == (8 * 1024, False, 1024 * 1024)
    assert d.rdm_mem_boundary_memkb == 2048 * 1024
    assert (d.gfx_passthru, d.bios, d.acpi, d.apic) == ("igd", "ovmf", False, False)
    assert (d.acpi_firmware, d.smbios_firmware) == ("a.bin", "s.bin")
    assert not [x for x in f if x.severity == "error"]


def test_type_prefix_and_builder():
    assert dom('name="g"\ntype=""\n')[0].type == "hvm"
    assert dom('name="g"\ntype="p"\n')[0].type == "pv"
    assert dom('name="g"\ntype="pvh"\n')[0].type == "pvh"
    assert dom('name="g"\nbuilder="gen"\n')[0].type == "pv"
    assert dom('name="g"\n')[0].type == "pv"
    d, f, _ = dom('name="g"\ntype="hvmx"\n')
    assert "Invalid domain type hvmx." in f[0].message and f[0].severity == "error"
    d, f, _ = dom('name="g"\ntype="hvm"\nbuilder="generic"\n')
    assert 'Contradicting "builder" and "type" options specified.' in f[0].message


def test_type_key_before_4_10():
    d, f, _ = dom('name="g"\ntype="hvm"\n', "4.9")
    assert d.type == "pv" and "type-unknown" in codes(f)
    assert dom('name="g"\nbuilder="hvm"\n', "4.9")[0].type == "hvm"


def test_mandatory_name_and_bounds():
    _, f, _ = dom('type="hvm"\n')
    assert f[0].message.startswith("Domain name must be specified.")
    _, f, _ = dom('name="g"\ntype="hvm"\nmmio_hole=255\n')
    assert f[0].message.startswith('g.cfg:3: ERROR: invalid value 255 for "mmio_hole"')
    assert dom('name="g"\ntype="hvm"\nmmio_hole=3840\n')[0].mmio_hole_memkb == 3840 * 1024
    _, f, _ = dom('name="g"\nvcpus=4\nmaxvcpus=2\n')
    assert f[0].message.startswith("g.cfg:3: xl: maxvcpus < vcpus")


def test_bad_number_only_warns_and_keeps_default():
    d, f, _ = dom('name="g"\nmemory="1g"\nmaxmem = 010000\n')
    assert d.target_memkb is None and d.max_memkb == 4096 * 1024
    assert f[0].message == "g.cfg:2: warning: parameter `memory' is not a valid number"


def test_pci_defaults_and_global_policy_inheritance():
    text = ('name="g"\ntype="hvm"\npci_permissive=1\nrdm="strategy=host,policy=relaxed"\n'
            'pci=["01:00.0", "02:00.0,rdm_policy=strict,permissive=0"]\n')
    d14 = dom(text, "4.12")[0]        # 4.6-4.12: rdm= first, devices inherit relaxed
    assert d14.rdm.strategy == "host" and d14.rdm.policy == "relaxed"
    assert [(p.rdm_policy, p.permissive) for p in d14.pci] == [("relaxed", True),
                                                               ("strict", False)]
    d13 = dom(text, "4.13")[0]        # 4.13.0-4.16.0: pci= first, no inheritance
    assert [p.rdm_policy for p in d13.pci] == ["invalid", "strict"]
    d17, f17, _ = dom(text, "4.17")   # 4.15+: the policy makes xl drop rdm= entirely
    assert d17.rdm.strategy == "ignore" and "rdm-ignored" in codes(f17)
    assert [p.rdm_policy for p in d17.pci] == ["invalid", "strict"]
    d = dom('name="g"\ntype="hvm"\nrdm="strategy=host"\npci=["01:00.0"]\n')[0]
    assert d.rdm.policy == "unset" and d.pci[0].rdm_policy == "unset"


def test_pci_failures_and_nested_lists():
    _, f, _ = dom('name="g"\ntype="hvm"\npci=["01:00.0, rdm_policy=strict"]\n')
    assert [x.message for x in f if x.code == "xl-pci-message"] == \
        ["Unknown PCI_SPEC_STRING option:  rdm_policy"]
    assert any("unable to parse PCI_SPEC_STRING `01:00.0, rdm_policy=strict' for passthrough"
               in x.message and "status 6" in x.message for x in f)
    _, f, _ = dom('name="g"\ntype="hvm"\npci=["01:00.0"]\n', "4.14")
    assert not [x for x in f if x.severity == "error"]
    _, f, _ = dom('name="g"\ntype="hvm"\npci=["bdf=01:00.0"]\n', "4.14")
    assert any("unable to parse PCI BDF `bdf=01:00.0' for passthrough" in x.message for x in f)
    d, f, _ = dom('name="g"\ntype="hvm"\npci=["01:00.0", ["02:00.0"], "03:00.0"]\n')
    assert [str(p.sbdf) for p in d.pci] == ["0000:01:00.0"]
    assert "pci-nested-list" in codes(f)
    d, _, _ = dom('name="g"\ntype="hvm"\npci=["name=gpu", "0001:02:03.*@4"]\n')
    assert d.pci[0].sbdf is None and d.pci[0].name == "gpu"
    assert d.pci[1].vfunc_mask == 0xFFFFFFFF and d.pci[1].vdevfn == 4 << 3


def test_rdm_forcecheck():
    d, f, _ = dom('name="g"\ntype="hvm"\nrdm_forcecheck=1\npci=["01:00.0"]\n')
    assert (d.rdm.strategy, d.rdm.policy, d.rdm_forcecheck) == ("host", "strict", 1)
    assert d.pci[0].rdm_policy == "strict"
    msg = [x for x in f if x.code == "rdm-forcecheck"][0].message
    assert "does not know this key" in msg and 'rdm = "strategy=host"' in msg
    d, f, _ = dom('name="g"\ntype="hvm"\nrdm_forcecheck=1\n', "4.10")
    assert 'rdm = "strategy=host,policy=strict"' in [x for x in f
                                                      if x.code == "rdm-forcecheck"][0].message
    d, _, _ = dom('name="g"\nrdm_forcecheck=0\n')
    assert d.rdm.strategy == "ignore" and d.rdm_forcecheck == 0


def test_lint_findings():
    _, f, _ = dom('name="g"\r\nmemory=1\r\n')
    assert "crlf" in codes(f)
    _, f, _ = dom('name="g"\nmemory=512\nmemory+=256\nfrobnicate=1\nrdm="strategy=host, '
                  'policy=strict"\n')
    assert {"plus-equals-number", "unknown-key", "space-after-comma", "rdm-ignored"} <= \
        set(codes(f))
    _, f, _ = dom("def f():\n  pass\nname = 'g'\n")
    assert codes(f)[:2] == ["xl-parse-error", "python"]
    _, f, _ = dom("name = 'g\x00'\n")
    assert codes(f) == ["xl-abort"]


@pytest.mark.parametrize("version, inherits", [
    # 4.14.x reads rdm="strategy=host,policy=relaxed" (libxlu_pci.c:xlu_rdm_parse); whether the pci= entry
    # inherits the relaxed policy depends on the parse order: pci= first from 4.13.0 until the
    # backport of e45ad0b1b0 in 4.14.5 (xl_parse.c:parse_config_data), so 4.14 means 4.14.0.
    ("4.14", False), ("4.14.4", False), ("4.14.5", True), ("4.14.9", True), ("4.12", True),
    ("4.13.5", False)])
def test_pci_before_rdm_follows_the_point_release(version, inherits):
    d, f, _ = dom('name="g"\ntype="hvm"\nrdm="strategy=host,policy=relaxed"\n'
                  'pci=["01:00.0"]\n', version)
    assert d.rdm.policy == "relaxed"
    assert d.pci[0].rdm_policy == ("relaxed" if inherits else "invalid")
    assert ("pci-before-rdm" in codes(f)) is not inherits


def test_pci_before_rdm_on_4_16_point_releases():
    text = 'name="g"\ntype="hvm"\nrdm="strategy=host"\npci=["01:00.0"]\n'
    f = dom(text, "4.16")[1]
    msg = [x.message for x in f if x.code == "pci-before-rdm"]
    assert msg and "give it as --xen-version X.Y.Z" in msg[0]
    assert "pci-before-rdm" not in codes(dom(text, "4.16.1")[1])
    assert "give it as" not in [x.message for x in dom(text, "4.16.0")[1]
                                if x.code == "pci-before-rdm"][0]


SPACED = 'name="g"\ntype="hvm"\npci=["01:00.0, rdm_policy=strict"]\n'


def test_space_after_comma_before_4_15_only_warns_and_keeps_the_device():
    """The <= 4.14 state machine reads the key ` rdm_policy' (blank included), warns with
    `Unknown PCI BDF option: %s' and goes on (tools/libxl/libxlu_pci.c:xlu_pci_parse_bdf at
    RELEASE-4.14.0), so the guest starts with the
    device and without its rdm_policy."""
    for version in ("4.12", "4.14"):
        d, f, _ = dom(SPACED, version)
        assert "xl-exit" not in codes(f) and len(d.pci) == 1
        assert d.pci[0].rdm_policy == "invalid"
        msg = next(x.message for x in f if x.code == "space-after-comma")
        assert f"xl of Xen {version} prints `Unknown PCI BDF option:  rdm_policy' and starts " \
               "the guest with that option ignored" in msg
        assert "refuses" not in msg and "PCI_SPEC_STRING" not in msg


def test_space_after_comma_from_4_15_refuses_the_guest():
    d, f, _ = dom(SPACED, "4.17")
    assert "xl-exit" in codes(f) and d.pci == ()
    msg = next(x.message for x in f if x.code == "space-after-comma")
    # ERROR_INVAL is -6, and xl exits with -rc.
    assert "xl of Xen 4.17 prints `Unknown PCI_SPEC_STRING option:  rdm_policy' and refuses " \
           "the guest (`unable to parse PCI_SPEC_STRING `01:00.0, rdm_policy=strict' for " \
           "passthrough', exit status 6)" in msg


def test_space_after_comma_message_is_libxlus():
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    got = oracle.pci_spec("01:00.0, rdm_policy=strict")
    assert got["rc"] == -6
    msg = next(x.message for x in dom(SPACED, "4.17")[1] if x.code == "space-after-comma")
    assert f"prints `{got['report']}'" in msg
