"""`xlrmrr cfg` end to end: output shape, exit status, and bad input without tracebacks."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from conftest import CORPUS, REPO, need

from xlrmrr.cli import main

GOOD = b"""# a passthrough guest
name = "g"
type = "hvm"
memory = 2048
rdm = "strategy=host,policy=relaxed"
pci = [ '01:00.0,rdm_policy=strict', ['02:00.0'] ]
frobnicate = 1
"""


def run(capsys, tmp_path, data: bytes, *args: str, name: str = "g.cfg"):
    path = tmp_path / name
    path.write_bytes(data)
    rc = main(["cfg", str(path), *args])
    out, err = capsys.readouterr()
    return rc, out, err, str(path)


def run_binary(capsysbinary, tmp_path, data: bytes, *args: str):
    path = tmp_path / "bad.cfg"
    path.write_bytes(data)
    rc = main(["cfg", str(path), *args])
    out, err = capsysbinary.readouterr()
    return rc, out, err.decode()


def test_text_output(capsys, tmp_path):
    rc, out, err, path = run(capsys, tmp_path, GOOD, "--xen-version", "4.17")
    assert rc == 0 and err == ""
    assert f"{path}: xl accepts this file (6 settings)" in out
    assert "  line 6    pci = [\"01:00.0,rdm_policy=strict\", [\"02:00.0\"]]" in out
    assert "rdm                     strategy=ignore policy=invalid" in out
    assert "[rdm-ignored]" in out and "[pci-nested-list]" in out and "[unknown-key]" in out


# Every cfg object's keys, in order, whatever the outcome (docs/json.md).
KEYS = ["schema_version", "command", "config", "guest", "format", "ok", "settings", "diagnostics",
        "domain", "libxl_domain_config", "findings", "encoding"]


def test_json_shape(capsys, tmp_path):
    rc, out, _, path = run(capsys, tmp_path, GOOD, "--json", "--xen-version", "4.14")
    doc = json.loads(out)
    assert rc == 0 and list(doc) == KEYS
    assert doc["ok"] is True and doc["diagnostics"] == "" and doc["format"] == "xl"
    assert doc["config"] == path and doc["guest"] == "g" and doc["libxl_domain_config"] is None
    assert doc["settings"]["pci"] == {"kind": "list", "value": ["01:00.0,rdm_policy=strict",
                                                               ["02:00.0"]],
                                      "line": 6, "op": "="}
    assert doc["settings"]["memory"] == {"kind": "string", "value": "2048", "line": 4, "op": "="}
    assert doc["domain"]["rdm"] == {"strategy": "host", "policy": "relaxed"}
    assert doc["domain"]["pci"][0]["sbdf"] == "0000:01:00.0"
    assert doc["domain"]["target_memkb"] == 2048 * 1024 and doc["domain"]["xen_version"] == "4.14"
    for f in doc["findings"]:
        assert set(f) == {"severity", "code", "component", "message"}
        assert f["component"] == "xl" and f["severity"] in ("error", "warning", "info")


def test_rejected_file_exit_2_and_no_settings(capsys, tmp_path):
    rc, out, err, path = run(capsys, tmp_path, b"memory = 1.5\n", "--json")
    doc = json.loads(out)
    # the keys of an accepted file's object, settings empty: xl discards what it stored
    assert rc == 2 and doc["ok"] is False and doc["settings"] == {}
    assert list(doc) == KEYS and doc["config"] == path
    assert doc["diagnostics"].startswith(f"{path}:1: config parsing error near `.5': lexical error")
    assert err.count("\n") == 1 and err.startswith("xlrmrr cfg: error: xl would not accept")


def test_xl_exit_is_exit_2(capsys, tmp_path):
    rc, out, err, _ = run(capsys, tmp_path, b'type = "hvm"\n')
    assert rc == 2 and "Domain name must be specified." in err


BAD = {
    "all-bytes": bytes(range(256)) * 64,
    "random": random.Random(1).randbytes(4096),
    "deep": b"a = " + b"[" * 100000 + b"]" * 100000 + b"\n",
    "nul": b"a = 'x\x00'\n",
    "utf16": b"\xff\xfe" + "name = '\u00e9'\n".encode("utf-16-le"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_input_is_a_clean_exit_2(capsysbinary, tmp_path, name):
    for extra in ((), ("--json",)):
        rc, out, err = run_binary(capsysbinary, tmp_path, BAD[name], *extra)
        assert rc == 2 and "Traceback" not in err and err.count("\n") == 1
        if extra:
            json.loads(out)


def test_deep_but_legal_nesting_prints_without_recursion(capsysbinary, tmp_path):
    data = b"a = " + b"[" * 4000 + b"'x'" + b"]" * 4000 + b"\nname = 'g'\n"
    for extra in ((), ("--json",)):
        rc, out, err = run_binary(capsysbinary, tmp_path, data, *extra)
        assert rc == 0 and err == ""
        assert b"[" * 4000 + b'"x"' + b"]" * 4000 in out


def test_huge_file_is_refused(capsys, tmp_path):
    path = tmp_path / "big.cfg"
    with open(path, "wb") as f:
        f.truncate(50 << 20)
    rc = main(["cfg", str(path)])
    _, err = capsys.readouterr()
    assert rc == 2 and "larger than 4 MiB" in err


@pytest.mark.parametrize("make, why", [
    (lambda p: None, "cannot read xl config: No such file or directory"),
    (lambda p: p.mkdir(), "is a directory, not a file"),
    (lambda p: p.write_bytes(b"#" * ((4 << 20) + 1)), "larger than 4 MiB"),
])
def test_json_for_an_unreadable_file(capsys, tmp_path, make, why):
    """stdout still carries one object with the keys of every cfg object (ok false, no
    settings, no domain, nothing from libxlu, one error); stderr the usual one line; exit 2."""
    path = tmp_path / "x.cfg"
    make(path)
    assert main(["cfg", str(path), "--json"]) == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert list(doc) == KEYS and doc["config"] == str(path) and doc["guest"] is None
    assert doc["ok"] is False and doc["settings"] == {} and doc["domain"] is None
    assert doc["diagnostics"] == "" and len(doc["findings"]) == 1 and doc["encoding"] == "utf-8"
    f = doc["findings"][0]
    assert f["severity"] == "error" and f["code"] == "unreadable" and f["component"] == "xl"
    assert f["message"].startswith(f"{path}: ") and why in f["message"]
    assert err == f"xlrmrr cfg: error: {f['message']}\n"


def test_unreadable_paths(capsys, tmp_path):
    assert main(["cfg", str(tmp_path / "missing.cfg")]) == 2
    assert "cannot read xl config" in capsys.readouterr()[1]
    assert main(["cfg", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr()[1]


def test_corpus_files_run_clean(capsys):
    need((CORPUS / "xlcfg").is_dir(), "shared corpus absent")
    for path in sorted((CORPUS / "xlcfg").glob("*.cfg")):
        rc = main(["cfg", str(path), "--json"])
        out, err = capsys.readouterr()
        doc = json.loads(out)
        assert rc in (0, 2) and "Traceback" not in err
        assert (rc == 0) == (doc["ok"] and not any(
            f["code"] in ("xl-exit", "xl-abort") for f in doc["findings"]))


def test_cold_process_prints_nothing_extra(tmp_path):
    """A fresh interpreter: no ply warnings on stderr, no table files written."""
    path = tmp_path / "g.cfg"
    path.write_bytes(GOOD)
    before = set(os.listdir(REPO / "xlrmrr" / "xlcfg"))
    p = subprocess.run([sys.executable, "-m", "xlrmrr", "cfg", str(path)], cwd=tmp_path,
                       capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert p.returncode == 0 and p.stderr == ""
    assert set(os.listdir(REPO / "xlrmrr" / "xlcfg")) - before <= {"__pycache__"}
    assert not (tmp_path / "parsetab.py").exists() and not (tmp_path / "lextab.py").exists()


def _one_clean_line(err: str) -> None:
    assert err.count("\n") == 1 and err.endswith("\n")
    assert not any(c < " " and c != "\t" for c in err[:-1])
    assert not any("\x7f" <= c <= "\x9f" or c in "\u2028\u2029" or "\udc80" <= c <= "\udcff"
                   for c in err)


@pytest.mark.parametrize("data, near", [
    # CRLF: the \r before the first newline is xl's first lexical error, on line 1.
    (b'name = "g"\r\ntype = "hvm"\r\n', r"near `\r': lexical error"),
    # A stray form feed (str.splitlines() would split there) is a lexical error too.
    (b"a = 1\x0c\n", r"near `\f': lexical error"),
    (b"a = 1\x1c\n", r"near `\x1c': lexical error"),
])
def test_parse_error_on_stderr_is_whole_and_one_line(capsys, tmp_path, data, near):
    rc, out, err, path = run(capsys, tmp_path, data)
    assert rc == 2
    _one_clean_line(err)
    assert err.endswith(f"{path}:1: config parsing error {near}\n")
    assert f"[xl-parse-error] xl cannot parse this file: `Failed to parse config: Invalid " \
           f"argument'; first error: {path}:1: config parsing error {near}" in out


def test_xl_exit_message_with_newline_escape_and_ansi_is_one_line(capsys, tmp_path):
    # type is line 2; "\n" is dequoted to a newline and the raw ESC byte passes through
    # (libxlu is 8-bit clean), so xl's message would span two lines and colour the terminal.
    data = b'name = "g"\ntype = "x\\nline2\x1b[31m\xe2\x80\xa8"\n'
    rc, out, err, path = run(capsys, tmp_path, data)
    assert rc == 2
    _one_clean_line(err)
    assert f"{path}:2: Invalid domain type x\\nline2\\x1b[31m\\u2028." in err
    assert "\x1b" not in out and "\u2028" not in out
    assert all(line.isprintable() for line in out.split("\n"))


def test_text_output_escapes_values_and_foreign_bytes(capsys, tmp_path):
    data = b'name = "g"\nfoo = "\x1b]0;owned\x07\\r\x7f\xc2\x9b\xe9"\n'
    rc, out, err, _ = run(capsys, tmp_path, data)
    assert rc == 0 and err == ""
    # value_json escapes C0 as JSON does; DEL, C1 and the non-UTF-8 byte 0xe9 are escaped after.
    assert 'line 2    foo = "\\u001b]0;owned\\u0007\\r\\x7f\\u009b\\xe9"' in out
    assert all(line.isprintable() for line in out.split("\n"))


@pytest.mark.parametrize("data, line, message", [
    (b'name = "g"\ntype = "hvm"\nmmio_hole = 100\n', 3, 'ERROR: invalid value 100 for "mmio_hole"'),
    (b'name = "g"\ntype = "hvm"\n\npci = [ "01:00.0",\n "zz" ]\n', 4,
     "unable to parse PCI_SPEC_STRING `zz' for passthrough"),
    (b'name = "g"\n# c\ntype = "hvm"\nbuilder = "generic"\n', 4,
     'Contradicting "builder" and "type" options specified.'),
    (b'name = "g"\ntype = "hvm"\ngfx_passthru = "nvidia"\n', 3,
     'ERROR: invalid value "nvidia" for "gfx_passthru"'),
])
def test_xl_exit_names_the_line_of_the_setting(capsys, tmp_path, data, line, message):
    rc, out, err, path = run(capsys, tmp_path, data, "--xen-version", "4.17")
    assert rc == 2
    assert err.startswith(f"xlrmrr cfg: error: xl would not accept {path}: {path}:{line}: {message}")


def test_missing_name_names_the_file_only(capsys, tmp_path):
    rc, out, err, path = run(capsys, tmp_path, b'type = "hvm"\n')
    assert err.startswith(f"xlrmrr cfg: error: xl would not accept {path}: Domain name must be "
                          "specified. (xl stops here")


def test_json_of_a_non_utf8_file_is_latin1_and_gives_the_bytes_back(capsysbinary, tmp_path):
    raw = b"g\xe9\xc2\x85\xff"
    data = b'name = "' + raw + b'"\nbad = "\xe9\\q"\n'
    rc, out, err = run_binary(capsysbinary, tmp_path, data, "--json")
    assert rc == 2 and out.isascii()
    doc = json.loads(out.decode("utf-8"))
    assert doc["encoding"] == "latin-1"
    path = str(tmp_path / "bad.cfg").encode()
    assert doc["diagnostics"].encode("latin-1") == \
        path + b':2: config parsing error near `"\xe9\\q"\': invalid character after backlash ' \
        b"in quoted string\n"
    rc, out, err = run_binary(capsysbinary, tmp_path, b'name = "' + raw + b'"\n', "--json")
    doc = json.loads(out.decode("utf-8"))
    assert rc == 0 and doc["settings"]["name"]["value"].encode("latin-1") == raw
    assert doc["domain"]["name"].encode("latin-1") == raw


def test_json_of_a_utf8_file_says_utf8(capsys, tmp_path):
    rc, out, _, _ = run(capsys, tmp_path, 'name = "gé\u2028"\n'.encode(), "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["encoding"] == "utf-8" and doc["settings"]["name"]["value"] == "gé\u2028"


@pytest.mark.parametrize("data, said", [
    # tools/xl/xl_parse.c:parse_config_data (4.17): no name= -> "Domain name must be
    # specified." and exit(1); gfx_passthru = "nvidia" -> 'ERROR: invalid value "nvidia" for
    # "gfx_passthru"' and exit(1). libxlutil itself parses both files (2 and 3 settings).
    (b'type = "hvm"\nmemory = 512\n',
     "libxlutil parses it (2 settings), but xl then exits: Domain name must be specified."),
    (b'name = "g"\ntype = "hvm"\ngfx_passthru = "nvidia"\n',
     'libxlutil parses it (3 settings), but xl then exits on line 3: ERROR: invalid value '
     '"nvidia" for "gfx_passthru"'),
])
def test_headline_agrees_with_the_refusal(capsys, tmp_path, data, said):
    # Issue 11 item 2: the first line said "xl accepts this file" while stderr said "xl would
    # not accept" and the status was 2. Now all three say xl refuses it, and why.
    import libxlu_oracle as oracle

    rc, out, err, path = run(capsys, tmp_path, data, "--xen-version", "4.17")
    first = out.splitlines()[0]
    assert rc == 2 and err.startswith(f"xlrmrr cfg: error: xl would not accept {path}")
    assert first == f"{path}: xl would not accept this file: {said}"
    assert "xl accepts" not in out
    assert "as far as xl read it before exiting (xl hands nothing to libxl)" in out
    if oracle.available():      # the file does parse in Xen's own libxlutil
        assert oracle.parse(data)["ok"] is True
