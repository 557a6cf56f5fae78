"""libvirt domain XML read as libvirt's libxl driver builds libxl_domain_config.

Each fixtures/libvirt/NAME.xml has NAME.libxl.json: the libxl_domain_config (c_info, b_info,
pcidevs, in libxl's JSON form) worked out by hand from libvirt's libxl_conf.c and checked
against the forms of libvirt's own tests/libxlxml2domconfigdata pairs (moredevs-hvm: interface
hostdev first, writeFiltering='no' as "permissive": true, "rdm_policy": "invalid" and an empty
"rdm"; basic-hvm: <graphics> without <video> gives cirrus with 8192 KiB; efi-hvm: "bios":
"ovmf"; basic-pvh: "type": "pvh")."""

import json

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.common import InputError
from xlrmrr.xlcfg import is_domain_xml, load_domain
from xlrmrr.xlcfg.libvirt import load_domain as load_xml

LV = FIXTURES / "libvirt"
CASES = sorted(p.stem for p in LV.glob("*.xml") if not p.stem.startswith("bad-"))
LAPTOP = ["--dmar", str(FIXTURES / "dmar/laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts/laptop.json")]


def read(name):
    return (LV / f"{name}.xml").read_bytes()


@pytest.mark.parametrize("name", CASES)
def test_translation_matches_the_expected_libxl_config(name):
    expected = json.loads((LV / f"{name}.libxl.json").read_text())
    _domain, _findings, lv = load_xml(read(name), name)
    for section in ("c_info", "b_info"):
        for key, want in expected[section].items():
            assert lv.libxl[section].get(key) == want, f"{section}.{key}"
        assert set(lv.libxl[section]) == set(expected[section]), section
    assert lv.libxl.get("pcidevs", []) == expected.get("pcidevs", [])


def test_cases_cover_every_guest_type():
    types = {json.loads((LV / f"{n}.libxl.json").read_text())["c_info"]["type"] for n in CASES}
    assert types == {"hvm", "pv", "pvh"}


def test_domain_config_fields():
    d, findings, _ = load_xml(read("nics-hvm"), "nics-hvm.xml")
    assert (d.type, d.name, d.max_memkb, d.target_memkb) == ("hvm", "nics-hvm", 1024000, 786432)
    assert (d.vcpus, d.max_vcpus, d.hap, d.apic, d.acpi) == (4, 6, False, False, False)
    assert (d.vga, d.video_memkb, d.bios, d.gfx_passthru) == ("stdvga", 32768, "seabios", None)
    # the driver's fixed RDM settings
    assert (d.rdm.strategy, d.rdm.policy, d.rdm_mem_boundary_memkb) == ("ignore", "invalid", None)
    assert [(str(p.sbdf), p.permissive, p.rdm_policy, p.vdevfn) for p in d.pci] == [
        ("0000:0a:10.1", False, "invalid", 0), ("0000:0a:08.0", True, "invalid", 0)]
    assert {f.code for f in findings} >= {"libvirt-rdm-fixed", "libvirt-no-apic",
                                          "libvirt-memory-rounded"}


def test_detected_by_content_and_xl_configs_unchanged():
    assert is_domain_xml(b"\xef\xbb\xbf\n  <domain type='xen'/>")
    assert not is_domain_xml(b'# <domain>\nname = "x"\n')
    d, _, parse = load_domain(read("usb-hvm"), "g.xml")
    assert d.name == "usb-hvm" and parse.ok and not parse.settings
    d, _, parse = load_domain(b'name = "x"\ntype = "hvm"\nmemory = 512\n', "g.cfg")
    assert d.target_memkb == 512 * 1024 and "memory" in parse.settings


XML = "<domain type='xen'><name>g</name>{mem}<vcpu>1</vcpu><os><type>hvm</type></os>{dev}</domain>"


def dom(mem="<memory>1048576</memory>", dev=""):
    return XML.format(mem=mem, dev=dev).encode()


@pytest.mark.parametrize("mem,kib", [
    ("<memory unit='KiB'>1048576</memory>", 1048576),
    ("<memory unit='k'>1048577</memory>", 1049600),          # rounded up to whole MiB
    ("<memory unit='KB'>1000</memory>", 1024),                # 1,000,000 bytes: 977 KiB -> 1 MiB
    ("<memory unit='M'>300</memory>", 300 * 1024),
    ("<memory unit='GB'>1</memory>", 954 * 1024),   # 10^9 bytes = 976562.5 KiB = 953.7 MiB
    ("<memory unit='bytes'>1</memory>", 1024),
    ("<memory unit='TiB'>1</memory>", 1 << 30),
])
def test_memory_units(mem, kib):
    d, _, _ = load_xml(dom(mem), "g.xml")
    assert d.max_memkb == kib and d.target_memkb == kib


def test_current_memory_larger_than_memory_is_memory():
    d, f, _ = load_xml(dom("<memory>1048576</memory><currentMemory>2097152</currentMemory>"), "x")
    assert d.target_memkb == 1048576 and "libvirt-current-memory" in {x.code for x in f}


@pytest.mark.parametrize("xml,where,what", [
    (b"<?xml version='1.0'?>\n<!DOCTYPE d [<!ENTITY a 'x'>]>\n<domain/>", ":2:", "DOCTYPE"),
    (b"<domain type='xen'>\n<name>&lol;</name></domain>", ":2:", "undefined entity"),
    (b"<domain type='xen'>\n<name>g</name>\n</domian>", ":3:", "mismatched tag"),
    (b"<domain type='kvm'><name>g</name></domain>", ":1:", "type='xen'"),
    (b"<network><name>g</name></network>", ":1:", "not <domain>"),
    (dom("<memory unit='furlong'>1</memory>"), ":1:", "unknown unit"),
    (dom(""), ":1:", "no <memory>"),
    (XML.format(mem="<memory>1024</memory>", dev="").replace("<vcpu>1</vcpu>", "<vcpu current='3'>"
     "2</vcpu>").encode(), ":1:", "exceeds the maximum 2"),
    (dom(dev="<devices><video><model type='vga' vram='8192'/></video></devices>"), ":1:",
     "at least 16MB for VGA"),
    (dom(dev="<devices><video><model type='virtio'/></video></devices>"), ":1:", "not supported"),
    (dom(dev="<devices>\n<hostdev mode='subsystem' type='pci'><source><address bus='0x100'/>"
         "</source></hostdev></devices>"), ":2:", "out of range"),
    (dom(dev="<devices><hostdev mode='capabilities' type='storage'/></devices>"), ":1:",
     "mode='capabilities'"),
])
def test_bad_input_is_one_line_with_file_and_line(xml, where, what):
    with pytest.raises(InputError) as e:
        load_xml(xml, "dom.xml")
    msg = str(e.value)
    assert msg.startswith("dom.xml" + where) and what in msg and "\n" not in msg


def test_billion_laughs_is_refused_before_expansion():
    with pytest.raises(InputError, match="DOCTYPE declaration is refused"):
        load_xml((LV / "bad-doctype.xml").read_bytes(), "bad-doctype.xml")


def test_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    xml = (f"<!DOCTYPE domain [<!ENTITY x SYSTEM 'file://{secret}'>]>"
           "<domain type='xen'><name>&x;</name></domain>").encode()
    with pytest.raises(InputError) as e:
        load_xml(xml, "x.xml")
    assert "s3cret" not in str(e.value) and "refused" in str(e.value)


def test_cli_bad_xml_exit_2_one_line(capsys):
    for cmd in (["cfg"], ["create", "--dry-run", *LAPTOP], ["check", *LAPTOP]):
        rc = main([*cmd, str(LV / "bad-not-well-formed.xml")])
        err = capsys.readouterr().err
        assert rc == 2, cmd
        assert err.count("\n") == 1 and "bad-not-well-formed.xml:5: not well-formed XML" in err


def test_cfg_text_uses_libxl_field_names(capsys):
    assert main(["cfg", str(LV / "nics-hvm.xml")]) == 0
    out = capsys.readouterr().out
    for field in ("c_info.hap", "b_info.max_memkb", "b_info.avail_vcpus", "b_info.u.hvm.vga.kind",
                  "b_info.u.hvm.rdm.strategy", "b_info.u.hvm.rdm_mem_boundary_memkb",
                  "pcidevs[0]", "pcidevs[1]"):
        assert field in out
    assert "0000:0a:08.0 permissive rdm_policy=invalid (libxl makes it strict)" in out


def test_cfg_json(capsys):
    assert main(["cfg", str(LV / "igd-efi.xml"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["libxl_domain_config"] == json.loads((LV / "igd-efi.libxl.json").read_text())
    assert doc["domain"]["bios"] == "ovmf" and doc["domain"]["rdm"]["strategy"] == "ignore"


def test_boundary_default_makes_the_laptop_usb_guest_work(capsys):
    """The same 8 GiB guest with xHCI 00:14.0: as an xl config with rdm_mem_boundary = 4096 it
    fails (usb-strict-boundary.cfg), through libvirt libxl's default boundary (2048 MiB, below
    the RMRR at 0xab80a000) moves lowmem_end below the RMRR to 0xab800000 (2 MiB aligned)."""
    assert main(["create", str(LV / "usb-hvm.xml"), "--dry-run", "--json", *LAPTOP]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["verdict"] == "ok"
    text = json.dumps(plan)
    assert "0xab800000" in text
    assert main(["create", str(FIXTURES / "guests/usb-strict-boundary.cfg"), "--dry-run",
                 *LAPTOP]) == 1
    capsys.readouterr()


def test_blocked_guest_gets_xml_changes_only(capsys, tmp_path):
    host = ["--dmar", str(FIXTURES / "dmar/rmrr-above-4g.bin")]
    assert main(["create", str(LV / "igd-efi.xml"), "--dry-run", *host]) == 1
    out = capsys.readouterr().out
    assert "RDM conflict at 0x480000000." in out
    change = ("<memory unit='MiB'>18184</memory> and <currentMemory unit='MiB'>18184"
              "</currentMemory>")
    assert f"[recommended] {change}" in out
    assert "rdm_mem_boundary =" not in out and "pci = [" not in out
    # relaxing the IGD's RMRR (its stolen memory) is never proposed, for xl or libvirt alike
    assert "[libvirt-xl-only-fix]" not in out and "libvirt's libxl driver sets none" not in out
    # the proposed change, applied to the XML, plans clean: 18184 MiB ends highmem at
    # 4 GiB + (18184 - 8) MiB - (4 GiB - 0xf0000000) = 0x480000000, the RMRR's start
    fixed = tmp_path / "fixed.xml"
    fixed.write_bytes(read("igd-efi").replace(b"<memory unit='GiB'>20</memory>",
                                              b"<memory unit='MiB'>18184</memory>"))
    assert main(["create", str(fixed), "--dry-run", *host]) == 0
    capsys.readouterr()


def test_create_without_dry_run_and_xl_items_refused(capsys):
    assert main(["create", str(LV / "usb-hvm.xml"), *LAPTOP]) == 2
    assert "virsh create" in capsys.readouterr().err
    assert main(["create", str(LV / "usb-hvm.xml"), "--dry-run", *LAPTOP, "memory=512"]) == 2
    assert "do not apply" in capsys.readouterr().err


def test_check_and_pci_attach_accept_xml(capsys):
    shared = ["--dmar", str(FIXTURES / "dmar/usb-shared.bin"),
              "--host-json", str(FIXTURES / "hosts/laptop.json")]
    assert main(["check", str(LV / "usb-shared.xml"), str(LV / "nics-hvm.xml"), *shared]) == 1
    out = capsys.readouterr().out
    assert "usb-shared.xml (usb-shared): blocked" in out
    assert main(["pci-attach", str(LV / "usb-hvm.xml"), "00:02.0", "--dry-run", *LAPTOP]) == 0
    out = capsys.readouterr().out
    assert "0000:00:02.0 into usb-hvm" in out
    assert main(["pci-attach", str(LV / "usb-hvm.xml"), "00:02.0", *LAPTOP]) == 2
    assert "virsh attach-device" in capsys.readouterr().err


def test_memory_from_numa_cells_when_no_memory_element():
    xml = (b"<domain type='xen'><name>n</name><vcpu>2</vcpu><os><type>hvm</type></os><cpu><numa>"
           b"<cell id='0' cpus='0' memory='512' unit='MiB'/><cell id='1' cpus='1' memory='524288'/>"
           b"</numa></cpu></domain>")
    d, _, _ = load_xml(xml, "n.xml")
    assert d.max_memkb == d.target_memkb == 1024 * 1024


def test_create_json_carries_xml_changes(capsys):
    host = ["--dmar", str(FIXTURES / "dmar/rmrr-above-4g.bin")]
    assert main(["create", str(LV / "igd-efi.xml"), "--dry-run", "--json", *host]) == 1
    plan = json.loads(capsys.readouterr().out)
    changes = [r["change"] for r in plan["remediation"]]
    assert changes == ["<memory unit='MiB'>18184</memory> and <currentMemory unit='MiB'>18184"
                       "</currentMemory>"]


def test_fix_only_xl_can_write_is_named_not_recommended(capsys):
    # usb-hvm.xml passes 00:14.0, which shares the RMRR [0xab80a000, 0xab81dfff] with 00:1a.0
    # and 00:1d.0 on usb-shared: Xen refuses it strict. The fix (the whole group, relaxed) needs
    # rdm_policy=, which libvirt's libxl driver never sets: no XML change is proposed, so none
    # is recommended, and the finding names what xl could do.
    assert main(["create", str(LV / "usb-hvm.xml"), "--dry-run", "--json", "--dmar",
                 str(FIXTURES / "dmar/usb-shared.bin")]) == 1
    plan = json.loads(capsys.readouterr().out)
    assert plan["remediation"] == []
    xl_only = [f["message"] for f in plan["findings"] if f["code"] == "libvirt-xl-only-fix"]
    assert xl_only and ("xl could also start this guest with the whole RMRR sharing group "
                        "assigned with rdm_policy=relaxed") in xl_only[0]
