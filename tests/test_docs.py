"""Documents a user has (issue 11 item 4): the project cites its own docs/ and Xen's source,
never the fact sheets that live outside the repository, and what xlrmrr prints names no file of
this source tree.

1. No file of the project mentions the fact sheets by name (xen-rdm.md, xlcfg.md, and dmar.md
   other than the project's own docs/dmar.md) or the shared reference directory.
2. Every docs/<file>.md#<anchor> cited anywhere, and every link inside docs/, names a file that
   exists and a heading of it (the anchor as GitHub renders the heading).
3. Messages, help texts, the man page and the snapshot README name no path of this repository
   (xlrmrr/host/topology.py and the like): checked on every string constant of the package that
   is not a docstring, and on the real output of the messages that used to cite the sheets.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO, need

from xlrmrr.cli import main

THIS = Path(__file__).resolve()
# the sheets by name; "dmar.md" separately, since docs/dmar.md is the project's own page
SHEETS = re.compile(r"xen-rdm\.md|xlcfg\.md|shared/reference")
DMAR_MD = re.compile(r"[\w./-]*dmar\.md")
# Paths into this source tree, as a user-visible text might name them. Not matched: installed
# paths (/usr/share/xlrmrr/grammar: the lookbehind), module names (xlrmrr.host.topology), and
# Xen's own tree (docs/misc/vtd.txt, tools/..., xen/...).
REPO_PATH = re.compile(r"(?<![\w./])(?:(?:xlrmrr|tests|fixtures|benchmarks|contrib|debian|grammar)/[\w./-]+"
                       r"|docs/(?:xen/|dmar\.md|index\.md|json\.md)[\w./#-]*)")
DOC_CITE = re.compile(r"(?<![\w/.-])docs/((?:[\w-]+/)*[\w-]+\.md)(?:#([\w-]+))?")
MD_LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)")
# Generated-file headers are for the developer who regenerates them, not for users.
# Strings of the build tools (run by developers and packagers in a checkout, never by the
# installed command): they name the checkout's files on purpose.
NOT_USER_VISIBLE = {("xlrmrr/xlcfg/gentables.py", "xlrmrr/xlcfg/parser.py."),
                    ("xlrmrr/acpi/gencompiled.py", "xlrmrr/acpi/structs.py"),
                    ("xlrmrr/_build/__main__.py", "xlrmrr/libxl_sites.py"),
                    ("xlrmrr/_build/libxl_sites.py", "xlrmrr/_build/libxl_sites.py")}


def _project_files() -> list[Path]:
    """The tracked files (git ls-files) or, outside a git checkout (a package build), every
    file under the checkout except build products."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.strip()
        if Path(top).resolve() == REPO:
            out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                                 capture_output=True).stdout.decode()
            return [REPO / f for f in out.split("\0") if f and (REPO / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        pass
    skip = {".git", "__pycache__", ".tox", ".pybuild", "build", "dist", ".venv", ".hypothesis",
            "generated", ".debhelper"}
    return [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.relative_to(REPO).parts)
            and not p.name.endswith((".egg-info", ".pyc"))]


def _texts():
    for path in _project_files():
        try:
            yield path, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue            # binary fixtures


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, blanks to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text, out, fenced = path.read_text(), set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.*)", line)):
            out.add(slug(m.group(1)))
    return out


def test_slug_is_githubs():
    # GitHub's anchors for headings of docs/xen/flow.md, as its renderer makes them
    assert slug("libxl: construct RDM") == "libxl-construct-rdm"
    assert slug("xl: rdm=") == "xl-rdm"
    assert slug("libxl: lowmem_end and highmem_end") == "libxl-lowmem_end-and-highmem_end"
    assert slug("Hypervisor: XENMEM_reserved_device_memory_map") == \
        "hypervisor-xenmem_reserved_device_memory_map"


def test_the_scan_sees_the_project():
    names = {p.relative_to(REPO).as_posix() for p in _project_files()}
    assert {"xlrmrr/libxl/layout.py", "docs/xen/flow.md", "docs/dmar.md", "grammar/rdmspec.ebnf",
            "fixtures/README.md", "tests/conftest.py"} <= names


def test_no_file_cites_the_fact_sheets():
    bad = []
    for path, text in _texts():
        if path == THIS:
            continue
        rel = path.relative_to(REPO).as_posix()
        for m in SHEETS.finditer(text):
            bad.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}")
        for m in DMAR_MD.finditer(text):
            token = m.group(0)
            if rel.startswith("docs/") and not token.startswith("docs/"):
                ok = (path.parent / token).resolve() == REPO / "docs" / "dmar.md"
            else:
                ok = token.endswith("docs/dmar.md") or token == "/usr/share/doc/xlrmrr/dmar.md"
            if not ok:
                bad.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {token}")
    assert not bad, "cite Xen's source or docs/ instead:\n" + "\n".join(bad)


def test_the_guard_catches_what_it_forbids():
    # the patterns themselves, on the citations this repository used to carry
    assert SHEETS.search("libxl: RDM conflict (xen-rdm.md 8 step 8)")
    assert SHEETS.search("facts from xlcfg.md") and SHEETS.search("../shared/reference/dmar.md")
    assert [m.group(0) for m in DMAR_MD.finditer("(dmar.md 4) and docs/dmar.md#device-scopes")] \
        == ["dmar.md", "docs/dmar.md"]
    assert REPO_PATH.search("(format: xlrmrr/host/topology.py)")
    assert REPO_PATH.search("see docs/xen/flow.md#xl-rdm")
    assert not REPO_PATH.search("/usr/share/xlrmrr/grammar, /usr/share/doc/xlrmrr/xen/flow.md")
    assert not REPO_PATH.search("as in docs/misc/vtd.txt's own example")
    assert not REPO_PATH.search("tools/libs/light/libxl_dm.c:libxl__domain_device_construct_rdm")


def test_every_cited_docs_section_exists():
    docs = REPO / "docs"
    need(docs.is_dir(), "docs/ is not next to the tests (a build without it)")
    missing, cited = [], 0
    for path, text in _texts():
        rel = path.relative_to(REPO).as_posix()
        for m in DOC_CITE.finditer(text):
            target, anchor = docs / m.group(1), m.group(2)
            cited += 1
            if not target.is_file():
                missing.append(f"{rel}: docs/{m.group(1)} does not exist")
            elif anchor and anchor not in anchors(target):
                missing.append(f"{rel}: docs/{m.group(1)} has no heading #{anchor}")
    assert cited >= 20, cited             # the code does cite docs/ sections
    assert not missing, "\n".join(missing)


def test_links_inside_docs_resolve():
    docs = REPO / "docs"
    need(docs.is_dir(), "docs/ is not next to the tests (a build without it)")
    missing, links = [], 0
    for page in sorted(docs.rglob("*.md")):
        for m in MD_LINK.finditer(page.read_text()):
            if re.match(r"[a-z]+:", m.group(1)):
                continue                  # http: and the like
            target = (page.parent / m.group(1)).resolve() if m.group(1) else page
            links += 1
            where = f"{page.relative_to(REPO)}: ({m.group(0)[2:-1]})"
            if not target.is_file():
                missing.append(f"{where}: no such file")
            elif m.group(2) and m.group(2) not in anchors(target):
                missing.append(f"{where}: no such heading")
    assert links >= 20, links
    assert not missing, "\n".join(missing)


def _string_constants(path: Path):
    """(line, text) of every str/bytes constant that is not a docstring (f-string parts too)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.body and isinstance(node.body[0], ast.Expr) and \
                    isinstance(node.body[0].value, ast.Constant):
                docstrings.add(id(node.body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) \
                and id(node) not in docstrings:
            value = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            yield node.lineno, value


def test_no_string_in_the_package_names_a_repository_path():
    pkg = REPO / "xlrmrr"
    bad = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if path.name in ("lextab.py", "parsetab.py"):
            continue                      # generated tables
        for line, value in _string_constants(path):
            for m in list(REPO_PATH.finditer(value)) + list(SHEETS.finditer(value)):
                if (rel, m.group(0)) not in NOT_USER_VISIBLE:
                    bad.append(f"{rel}:{line}: {m.group(0)!r} in {value[:80]!r}")
    assert not bad, "\n".join(bad)


def _run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def _findings(doc) -> list[dict]:
    """Every finding object anywhere in a JSON document."""
    if isinstance(doc, dict):
        found = [doc] if {"code", "message"} <= doc.keys() else []
        return found + [f for v in doc.values() for f in _findings(v)]
    if isinstance(doc, list):
        return [f for v in doc for f in _findings(v)]
    return []


def _clean(text: str) -> None:
    hits = [m.group(0) for m in list(REPO_PATH.finditer(text)) + list(SHEETS.finditer(text))]
    assert not hits, hits


@pytest.fixture
def guests(tmp_path):
    def write(name, body):
        p = tmp_path / f"{name}.cfg"
        p.write_text(f'name = "{name}"\n{body}')
        return str(p)
    return write


DMAR = str(FIXTURES / "dmar/laptop-typical.bin")


def test_the_uninitialised_policy_messages_cite_xen(guests):
    # rdm = "strategy=host" leaves the policy to stack garbage (xl_parse.c:parse_config_data
    # copies what xlu_rdm_parse never set); 00:14.0 inherits it. With 1 GiB its RMRR at
    # 0xab80a000 is above low RAM, so 0 and 1 are fine and any other value makes libxl refuse
    # the device (libxl_pci.c:pci_add_dm_done, "unknown rdm check flag."): the worst reading.
    cfg = guests("unset", 'type = "hvm"\nmemory = 1024\nrdm = "strategy=host"\npci = [ "00:14.0" ]\n')
    code, out, _ = _run("create", cfg, "--dry-run", "--dmar", DMAR, "--xen-version", "4.17", "--json")
    found = {f["code"]: f["message"] for f in _findings(json.loads(out))}
    assert {"rdm-policy-uninitialised", "rdm-unset", "rdm-flag-unknown"} <= found.keys(), found
    assert "tools/xl/xl_parse.c:parse_config_data" in found["rdm-policy-uninitialised"]
    assert "tools/xl/xl_parse.c:parse_config_data" in found["rdm-unset"]
    assert "tools/libs/light/libxl_pci.c:pci_add_dm_done" in found["rdm-flag-unknown"]
    _clean(out)
    _, text, _ = _run("create", cfg, "--dry-run", "--dmar", DMAR, "--xen-version", "4.17")
    assert "parse_config_data" in text
    _clean(text)


def test_the_pv_guest_message_cites_xen(guests):
    cfg = guests("pv", 'memory = 512\npci = [ "00:14.0" ]\n')
    _, out, _ = _run("create", cfg, "--dry-run", "--dmar", DMAR, "--json")
    found = {f["code"]: f["message"] for f in _findings(json.loads(out))}
    assert "xen/arch/x86/mm/physmap.c:set_identity_p2m_entry" in found["pv-guest"]
    _clean(out)


def test_host_description_errors_cite_the_man_page(tmp_path):
    bad = tmp_path / "host.json"
    bad.write_text('{"devices": [], "bogus": 1}\n')
    code, out, err = _run("host", "--dmar", DMAR, "--host-json", str(bad))
    assert code == 2 and "(format: HOST DESCRIPTION in xlrmrr(1))" in err, err
    _clean(out + err)


def test_help_man_page_and_snapshot_readme_name_no_repository_path():
    from xlrmrr._build import manpage
    from xlrmrr.cli import COMMANDS, build_parser
    from xlrmrr.host.snapshot import README

    page = manpage.render()
    _clean(page)
    _clean(README.decode())
    parser = build_parser(COMMANDS)
    _clean(parser.format_help())
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            _clean(sub.format_help())


def test_man_page_sections_cited_exist():
    # "HOST DESCRIPTION in xlrmrr(1)" and the like must name a section of the page
    from xlrmrr._build import manpage

    sections = set(re.findall(r"^\.SH (.+)$", manpage.render(), re.M))
    cited = set()
    for path in sorted((REPO / "xlrmrr").rglob("*.py")):
        for _line, value in _string_constants(path):
            cited |= set(re.findall(r"\b([A-Z][A-Z ]*[A-Z]) in xlrmrr\(1\)", value))
    assert {"HOST DESCRIPTION", "HOST SNAPSHOTS", "FILES"} <= cited, cited
    assert cited <= sections, cited - sections


def test_debian_build_runs_these_tests_with_docs():
    # the build-time test run (debian/pybuild.testfiles) needs docs/ for the section checks
    # and for tests/test_releases.py's table
    listed = (REPO / "debian" / "pybuild.testfiles").read_text().split()
    assert "docs" in listed
    assert os.path.isdir(REPO / "docs")
