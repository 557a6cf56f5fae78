"""Regression tests for what the fuzz harness found, each from its minimal input: exit 2 with
one stderr line naming the input and where, --json always one object of the command's shape."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest
from harness import FIXTURES

from xlrmrr.cli import main

DMAR = str(FIXTURES / "dmar" / "laptop-typical.bin")
HOST = str(FIXTURES / "hosts" / "laptop.json")
SMALL = str(FIXTURES / "guests" / "small.cfg")


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("version", ["4.17.9" + "9" * 5000, "4." + "1" * 4400, "9" * 5000 + ".1",
                                     "4.\u0661\u0667"])
def test_huge_or_non_ascii_xen_version(capsys, version):
    """int() refuses over 4300 digits (a ValueError traceback before); \\d took Arabic-Indic
    digits for 4.17."""
    rc, out, err = run(capsys, "create", SMALL, "--dmar", DMAR, "--dry-run",
                       f"--xen-version={version}", "--json")
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("xlrmrr create: error: --xen-version: ") and "is not a Xen release" in err
    assert json.loads(out)["ok"] is False


def test_cfg_json_with_a_bad_xen_version(capsys):
    """cfg prints its own object once it read the file; before that, the error object."""
    rc, out, err = run(capsys, "cfg", SMALL, "--xen-version", "-4.17", "--json")
    assert rc == 2 and err.count("\n") == 1 and json.loads(out)["exit_status"] == 2


@pytest.mark.parametrize("opt", ["--bios-base", "--acpi-end"])
def test_create_option_after_the_config_with_json(capsys, opt):
    """Options after GUEST.cfg are parsed by create itself: --json after the bad one was never
    parsed, so nothing was printed on stdout."""
    rc, out, err = run(capsys, "create", SMALL, "--dmar", DMAR, "--dry-run", opt, "100a000",
                       "--json")
    assert rc == 2 and err == f"xlrmrr create: error: argument {opt}: not a number: '100a000'\n"
    assert json.loads(out)["error"] == f"argument {opt}: not a number: '100a000'"


def test_cfg_json_keys_do_not_depend_on_the_outcome(capsys, tmp_path):
    bad, good = tmp_path / "bad.cfg", tmp_path / "good.cfg"
    bad.write_bytes(b"memory = [\n")
    good.write_bytes(b'name = "g"\n')
    keys = []
    for p in (bad, good, tmp_path / "missing.cfg"):
        run(capsys, "cfg", p, "--json")
        keys.append(list(json.loads(capsys.readouterr().out or "{}") or {}))
    rc, out, _ = run(capsys, "cfg", bad, "--json")
    rc2, out2, _ = run(capsys, "cfg", good, "--json")
    rc3, out3, _ = run(capsys, "cfg", tmp_path / "missing.cfg", "--json")
    assert (rc, rc2, rc3) == (2, 0, 2)
    assert list(json.loads(out)) == list(json.loads(out2)) == list(json.loads(out3))


def test_create_json_keys_when_a_stage_is_not_reached(capsys, tmp_path):
    """hvmloader, hypervisor and xen_verdict are null, not missing, when the plan stops early."""
    strict = tmp_path / "strict.cfg"
    strict.write_bytes((FIXTURES / "guests" / "usb-strict-boundary.cfg").read_bytes())
    _, ok, _ = run(capsys, "create", SMALL, "--dmar", DMAR, "--host-json", HOST, "--dry-run",
                   "--json")
    rc, blocked, _ = run(capsys, "create", strict, "--dmar", DMAR, "--host-json", HOST,
                         "--dry-run", "--json")
    assert rc == 1 and list(json.loads(ok)) == list(json.loads(blocked))


@pytest.mark.parametrize("text, where", [
    (b'{"devices":' + b"[" * 100000, "line 1 column 75 (char 74)"),
    (b'{"devices": [\n' + b"[" * 70, "line 2 column 63 (char 76)"),
])
def test_deeply_nested_host_json(capsys, tmp_path, text, where):
    """json.loads raised RecursionError (a traceback) past about 1,000 levels."""
    p = tmp_path / "h.json"
    p.write_bytes(text)
    rc, out, err = run(capsys, "host", "--dmar", DMAR, "--host-json", p)
    assert rc == 2 and err == (f"xlrmrr host: error: {p}: not JSON: nested deeper than 64 "
                               f"levels at {where}; a host description nests 4\n")


def _tar(members, compress=True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def test_snapshot_with_deeply_nested_host_json(capsys, tmp_path):
    p = tmp_path / "s.tar.gz"
    p.write_bytes(_tar([("host.json", b"[" * 100000)]))
    rc, _, err = run(capsys, "host", "--snapshot", p)
    assert rc == 2 and err == (f"xlrmrr host: error: {p}:host.json: not JSON: nested deeper than "
                               f"64 levels at line 1 column 65 (char 64); a host description "
                               f"nests 4\n")


def test_snapshot_with_damaged_gzip_names_the_offset(capsys, tmp_path):
    """tarfile said only "file could not be opened successfully"."""
    data = bytearray(_tar([("host.json", json.dumps({"devices": []}).encode() * 50)]))
    data[30] ^= 0xFF
    p = tmp_path / "s.tar.gz"
    p.write_bytes(bytes(data))
    rc, _, err = run(capsys, "host", "--snapshot", p)
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"xlrmrr host: error: {p}: not a snapshot (a tar.gz of `xlrmrr host "
                          f"snapshot`): damaged gzip data at byte offset 0x")
    offset = int(err.rsplit("0x", 1)[1], 16)
    assert 30 <= offset < len(data)     # deflate sees the bit flipped at 30 there or later


def test_snapshot_truncated_gzip(capsys, tmp_path):
    data = _tar([("host.json", b'{"devices": []}')])
    p = tmp_path / "s.tar.gz"
    p.write_bytes(data[:len(data) - 6])
    rc, _, err = run(capsys, "host", "--snapshot", p)
    assert rc == 2 and err == (f"xlrmrr host: error: {p}: not a snapshot (a tar.gz of `xlrmrr "
                               f"host snapshot`): the gzip data ends early, at byte offset "
                               f"{len(data) - 6:#x} (truncated file?)\n")


def test_snapshot_tar_header_damage_names_the_offset(capsys, tmp_path):
    raw = bytearray(_tar([("README", b"x" * 600), ("host.json", b'{"devices": []}')], False))
    raw[0x600 + 148:0x600 + 156] = b"garbage!"      # the second header (512 + 1024 bytes on)
    p = tmp_path / "s.tar"
    p.write_bytes(bytes(raw))
    rc, _, err = run(capsys, "host", "--snapshot", p)
    assert rc == 2 and err.count("\n") == 1 and "(tar header at byte offset 0x600 of the tar)" in err


def test_input_error_carries_its_location():
    """issue 9: the location as fields, the message text as before."""
    from xlrmrr.acpi.dmar import decode
    from xlrmrr.acpi.readers import dmar_from_acpidump, parse_rmrr_option
    from xlrmrr.common import InputError
    from xlrmrr.host.topology import parse_json

    with pytest.raises(InputError) as e:
        decode(b"DMAR\x10\x00\x00\x00" + bytes(40), "t.bin")
    assert (e.value.source, e.value.offset, e.value.line) == ("t.bin", 4, None)
    assert str(e.value) == "t.bin: table Length 0x10 at offset 0x4 is shorter than the 48-byte DMAR header"
    with pytest.raises(InputError) as e:
        dmar_from_acpidump("DMAR @ 0x0\n    0000: 44 4D zz\n", "d.txt")
    assert (e.value.source, e.value.line) == ("d.txt", 2)
    with pytest.raises(InputError) as e:
        parse_json(b'{"devices":\n [1,]}', "h.json")
    assert (e.value.source, e.value.line, e.value.column, e.value.offset) == ("h.json", 2, 5, 16)
    with pytest.raises(InputError) as e:
        parse_rmrr_option("e8=00:14.0;zz=00:1a.0", "--rmrr")
    assert e.value.source == "--rmrr" and e.value.column == 12


@pytest.mark.parametrize("value", ["9" * 4945, "0" * 5000 + "1000", "0x" + "f" * 5000])
def test_config_number_with_thousands_of_digits(capsys, tmp_path, value):
    """libxlu's getters use strtol: a number past 64 bits is ERANGE, xl warns and ignores the
    line (libxl's default memory then). int() refused the 4,945 digits (ValueError traceback,
    fuzz xlcfg seed 2). 0...01000 is octal 1000 = 512 MiB and must still be read: mem_size is
    512 - 8 (videoram) MiB."""
    cfg = tmp_path / "g.cfg"
    cfg.write_text(f'name = "g"\ntype = "hvm"\nmemory = {value}\n')
    rc, out, err = run(capsys, "create", cfg, "--dmar", DMAR, "--host-json", HOST, "--dry-run",
                       "--json")
    plan = json.loads(out)
    warned = [f["message"] for f in plan["findings"] if "could not be parsed" in f["message"]]
    if value.startswith("0" * 10):
        assert rc == 0 and not warned and plan["mem_size"] == (512 - 8) << 20
    else:
        assert rc == 0 and warned == [f"{cfg}:3: warning: parameter `memory' could not be parsed "
                                      "as a number: Numerical result out of range"]


@pytest.mark.parametrize("old, new", [
    ("<vcpu>4</vcpu>", "<vcpu>" + "9" * 5000 + "</vcpu>"),
    ("<memory unit='GiB'>20", "<memory unit='GiB'>" + "9" * 5000),
])
def test_domain_xml_number_with_thousands_of_digits(capsys, tmp_path, old, new):
    """libvirt's virStrToLong_* refuse a number past 64 bits; int() refused 5,000 digits
    (ValueError traceback in the domain XML reader, the libvirt hook's too)."""
    xml = (FIXTURES / "libvirt" / "igd-efi.xml").read_text()
    assert old in xml
    path = tmp_path / "d.xml"
    path.write_text(xml.replace(old, new, 1))
    rc, out, err = run(capsys, "cfg", path)
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"xlrmrr cfg: error: {path}:") and "does not fit in 64 bits" in err


def test_damaged_gzip_is_located_in_one_pass():
    """A 200 KB snapshot damaged near its end took 1.4-10 s (a long-run hang): the damage was
    located by bisection, each step decompressing a prefix anew. It is now one pass plus a
    bisection inside the failing 4 KiB chunk, from a copy of the decompressor's state there:
    the work (bytes fed to zlib) is about the file's size, and the offset is the same."""
    import os
    import zlib

    from xlrmrr.host.snapshot import _first_bad

    raw = os.urandom(150_000) + bytes(50_000)
    data = bytearray(gzip.compress(raw, mtime=0))
    data[-2000] ^= 0x40
    data = bytes(data)
    fed = [0]

    class Counting:
        def __init__(self, d=None):
            self.d = d or zlib.decompressobj(16 + zlib.MAX_WBITS)

        def decompress(self, chunk, *limit):
            fed[0] += len(chunk)
            return self.d.decompress(chunk, *limit)

        def copy(self):
            return Counting(self.d.copy())

    bad = _first_bad(data, Counting, (zlib.error,))
    assert fed[0] <= len(data) + 13 * 4096     # one pass, then log2(4096) partial chunks
    # the bisection's answer: the longest prefix zlib accepts
    zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[:bad])
    with pytest.raises(zlib.error):
        zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[:bad + 1])


def test_host_json_number_with_thousands_of_digits_is_located(capsys, tmp_path):
    """json.loads raises a bare ValueError (int()'s 4,300-digit limit) with no position: the
    error named no line (fuzz hostjson, 3 of 10,000). The number is found and its line,
    column and character offset given."""
    text = (FIXTURES / "hosts" / "laptop.json").read_text()
    assert '"size": "0x9f000"' in text
    bad = text.replace('"size": "0x9f000"', '"size": ' + "9" * 5000, 1)
    path = tmp_path / "host.json"
    path.write_text(bad)
    at = bad.index("9" * 5000)
    line = bad.count("\n", 0, at) + 1
    column = at - bad.rfind("\n", 0, at)
    rc, out, err = run(capsys, "host", "--dmar", DMAR, "--host-json", path)
    assert rc == 2 and err == (f"xlrmrr host: error: {path}: not JSON: a number of 5000 digits "
                               f"at line {line} column {column} (char {at}); no address or size "
                               f"has that many\n")


def test_domain_xml_nested_past_libxml2s_limit(capsys, tmp_path):
    """100,000 nested elements in a domain XML took 7-12 s in create (the XML read once per
    release band, 700,000 elements each time; fuzz libvirt: 35 hangs). libvirt's parser,
    libxml2, refuses a document nested deeper than 256 levels: so does this reader, naming the
    line; 256 levels are still read."""
    xml = (FIXTURES / "libvirt" / "igd-efi.xml").read_text()
    at = xml.index("</domain>")
    deep = tmp_path / "deep.xml"
    deep.write_text(xml[:at] + "<x>\n" * 300 + "</x>" * 300 + xml[at:])
    line = xml[:at].count("\n") + 1 + 255
    rc, out, err = run(capsys, "cfg", deep)
    assert rc == 2 and err == (f"xlrmrr cfg: error: {deep}:{line}: elements nested deeper than 256 "
                               f"levels: libvirt's XML parser (libxml2) refuses the document "
                               f"('Excessive depth in document'); a domain XML nests about 6\n")
    ok = tmp_path / "ok.xml"
    ok.write_text(xml[:at] + "<x>" * 254 + "</x>" * 254 + xml[at:])    # <domain> is level 1
    assert run(capsys, "cfg", ok)[0] == 0


def test_domain_xml_with_billions_of_vcpus(capsys, tmp_path):
    """<vcpu>18446744073709551615</vcpu> fits 64 bits, and building libxl's avail_vcpus bitmap
    as a list of its bits raised OverflowError (fuzz libvirt: 3 tracebacks). Xen gives an HVM
    guest at most 128 vCPUs; the reader refuses more than 4096, naming the line."""
    xml = (FIXTURES / "libvirt" / "igd-efi.xml").read_text()
    path = tmp_path / "d.xml"
    path.write_text(xml.replace("<vcpu>4</vcpu>", "<vcpu>18446744073709551615</vcpu>", 1))
    rc, out, err = run(capsys, "cfg", path)
    assert rc == 2 and err.startswith(f"xlrmrr cfg: error: {path}:8: <vcpu>18446744073709551615"
                                      f"</vcpu>: more vCPUs than any Xen guest")
    path.write_text(xml.replace("<vcpu>4</vcpu>", "<vcpu>4096</vcpu>", 1))
    assert run(capsys, "cfg", path)[0] == 0


def test_a_pci_list_of_identical_entries_is_parsed_once(monkeypatch):
    """A 50,000-entry pci= list of one device took 2-3.5 s in cfg and 6-12 s in create (the
    xlcfg long run's slow inputs): every entry parsed, and one identical finding built, per
    entry and plan. The parse is a function of the entry's text, so each distinct text is
    parsed once per reading; the duplicates give one finding, as the report showed."""
    from xlrmrr.common import XenVersion
    from xlrmrr.pci_entries import duplicate_findings, duplicate_pci
    from xlrmrr.xlcfg import load_domain, xlparse

    calls = []
    real = xlparse.parse_spec_string
    monkeypatch.setattr(xlparse, "parse_spec_string", lambda s, p: calls.append(s) or real(s, p))
    text = 'name = "g"\ntype = "hvm"\nmemory = 512\npci = [ ' + ", ".join(["'00:14.0'"] * 1000) \
        + ", '00:1a.0' ]\n"
    domain = load_domain(text.encode(), "g.cfg", XenVersion(4, 17))[0]
    assert len(domain.pci) == 1001 and calls == ["00:14.0", "00:1a.0"]
    dups = duplicate_pci(domain)
    assert len(dups) == 999
    found = duplicate_findings(dups, "hvm")
    assert len(found) == 1 and found[0].message.startswith(
        "pci= (line 4) assigns 0000:00:14.0 twice: `00:14.0' and `00:14.0'.")
