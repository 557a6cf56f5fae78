"""libxl's FILE:LINE:FUNCTION prefixes narrow the release a log comes from (issue 15).

libxl__logv (tools/libs/light/libxl_internal.c at RELEASE-4.17.0) prints every libxl message as
"FILE:LINE:FUNCTION: [Domain N:]text" from the LOG macro's __FILE__, __LINE__ and __func__;
xlrmrr/libxl_sites.py holds where each release tag's libxl prints the messages explain
recognises. Lines below are read by hand with `git show RELEASE-X.Y.Z:FILE`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.common import XenVersion
from xlrmrr.explain.messages import recognise
from xlrmrr.explain.releases import candidate_of, located_releases, site_releases
from xlrmrr.explain.rules import RULES
from xlrmrr.libxl_sites import SITES, TAGS

LOGS = FIXTURES / "logs"
V = XenVersion.parse


def _sites_at(code, tag):
    return [(f, fn, a, b) for f, fn, a, b, spec in SITES[code]
            if any(_in(tag, part) for part in spec.split(","))]


def _in(tag, part):
    first, _, last = part.partition("-")
    return TAGS.index(first) <= TAGS.index(tag) <= TAGS.index(last or first)


@pytest.mark.parametrize("code,tag,site", [
    # tools/libs/light/libxl_dm.c:libxl__domain_device_construct_rdm, RELEASE-4.17.7 line 620:
    #     LOG(ERROR, "RDM conflict at 0x%"PRIx64".\n",   (its argument on 621)
    ("rdm-conflict", "4.17.7", ("libxl_dm.c", "libxl__domain_device_construct_rdm", 620, 621)),
    # RELEASE-4.22.0 line 651 (the fixture xl-create-rdm-conflict-4.22.log)
    ("rdm-conflict", "4.22.0", ("libxl_dm.c", "libxl__domain_device_construct_rdm", 651, 652)),
    # tools/libxl/libxl_dm.c at RELEASE-4.13.0 line 592: LOG(WARN, "Ignoring RDM conflict ...
    ("rdm-conflict-ignored", "4.13.0",
     ("libxl_dm.c", "libxl__domain_device_construct_rdm", 592, 593)),
    # tools/libxl/libxl_create.c at RELEASE-4.6.0 line 850, in initiate_domain_create
    ("pod-passthrough", "4.6.0", ("libxl_create.c", "initiate_domain_create", 850, 850)),
    # tools/libs/light/libxl_create.c at RELEASE-4.14.4: LOG(ERROR, on 1142, the text on 1143
    ("pod-passthrough", "4.14.4",
     ("libxl_create.c", "libxl__domain_config_setdefault", 1142, 1143)),
    # tools/libxl/libxl_pci.c at RELEASE-4.12.0 line 1104: do_pci_add's
    # LOGED(ERROR, domainid, "xc_assign_device failed")
    ("assign-failed", "4.11.0", ("libxl_pci.c", "do_pci_add", 1104, 1104)),
    # tools/libxl/libxl_dom.c at RELEASE-4.10.4 (libxl__build_hvm) vs libxl_x86.c from 4.11
    ("set-memmap-failed", "4.10.4", ("libxl_dom.c", "libxl__build_hvm", 1305, 1305)),
    ("set-memmap-failed", "4.11.0",
     ("libxl_x86.c", "libxl__arch_domain_finalise_hw_description", 611, 611)),
])
def test_site_read_from_the_tag(code, tag, site):
    assert _sites_at(code, tag) == [site]


def test_every_libxl_rule_has_sites_named_as_its_rule():
    # each libxl rule explain recognises has a site in every release tag, and a newest tag's
    # file and function are the ones the rule names
    libxl = {r.code: r for r in RULES if r.component == "libxl"}
    assert set(SITES) == set(libxl)
    for code, rule in libxl.items():
        for tag in TAGS:
            assert _sites_at(code, tag), (code, tag)
        # (no-iommu's second form, "cannot be assigned - no IOMMU", is libxl_pci.c's)
        assert any(f in rule.where and fn in rule.where
                   for f, fn, _a, _b in _sites_at(code, TAGS[-1])), (code, rule.where)
    assert {candidate_of(V(t)) for t in TAGS} >= {(4, m, 0) for m in range(6, 23)}


def _msg(text):
    (m,) = recognise([text], "log")
    return m


def test_a_line_narrows_to_the_releases_printing_there():
    m = _msg("libxl: warning: libxl_dm.c:592:libxl__domain_device_construct_rdm: Ignoring RDM "
             "conflict at 0xab80a000.")
    assert m.site == ("libxl_dm.c", 592, "libxl__domain_device_construct_rdm")
    assert site_releases(m) == {(4, 12, 0), (4, 13, 0)}
    # the span of a call over two lines: a compiler naming its second line fits as well
    m = _msg("libxl: warning: libxl_dm.c:593:libxl__domain_device_construct_rdm: Ignoring RDM "
             "conflict at 0xab80a000.")
    assert site_releases(m) == {(4, 12, 0), (4, 13, 0)}
    # the same line in another function is not that call
    m = _msg("libxl: warning: libxl_dm.c:592:other_function: Ignoring RDM conflict at 0x1000.")
    assert site_releases(m) == frozenset()
    # without a prefix nothing is said
    assert site_releases(_msg("Ignoring RDM conflict at 0xab80a000.")) is None


def test_lines_of_no_tag_are_not_used():
    # Debian's libxenlight 4.17.7+13 prints the PoD refusal at libxl_create.c:1195 (two lines
    # below RELEASE-4.17.7's 1193-1194: the packaging's patches): no tag's line, so the forms
    # alone decide and the note says why
    pod = ("libxl: error: libxl_create.c:1195:libxl__domain_config_setdefault: IOMMU required "
           "for device passthrough but not supported together with PoD")
    m = _msg(pod)
    assert site_releases(m) == frozenset()
    fitting = frozenset({(4, 14, 5), (4, 17, 0)})
    assert located_releases([m], fitting) == (fitting, (m,))


def explain_json(capsys, *argv):
    code = main(["explain", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_cli_models_the_release_the_lines_say(capsys):
    # "Ignoring RDM conflict" reads the same in every release: the forms fit 4.6-4.22 and
    # explain modelled 4.22; libxl_dm.c:592 is 4.12.0-4.13.5's line, so 4.13 is modelled
    code, j = explain_json(capsys, str(LOGS / "xl-create-relaxed-4.13.log"))
    assert code == 3
    assert j["releases"] == "4.6-4.22"
    assert j["releases_by_source_line"] == "4.12-4.13"
    assert j["xen_version"] == "4.13"
    assert j["messages"][0]["printed_at"] == "libxl_dm.c:592:libxl__domain_device_construct_rdm"
    assert any("FILE:LINE prefixes fit 4.12-4.13" in n for n in j["notes"])
    # two messages together: libxl_dm.c:651 is 4.21-4.22's line, libxl_dom.c:1182 4.22.0's
    _code, j = explain_json(capsys, str(LOGS / "xl-create-rdm-conflict-4.22.log"))
    assert j["releases_by_source_line"] == "4.22" and j["xen_version"] == "4.22"


def test_cli_says_a_release_asked_for_prints_elsewhere(capsys):
    _code, j = explain_json(capsys, str(LOGS / "xl-create-relaxed-4.13.log"),
                            "--xen-version", "4.17")
    assert j["xen_version"] == "4.17"
    assert any("Xen 4.17's libxl prints these messages at other source lines" in n
               for n in j["notes"])


def test_cli_patched_line(capsys, tmp_path):
    log = tmp_path / "debian.log"
    log.write_text("libxl: error: libxl_create.c:1195:libxl__domain_config_setdefault: IOMMU "
                   "required for device passthrough but not supported together with PoD\n")
    _code, j = explain_json(capsys, str(log))
    assert j["releases_by_source_line"] == j["releases"]
    assert any("no release tag's libxl prints 'pod-passthrough' at libxl_create.c:1195" in n
               for n in j["notes"])


LIBXENLIGHT = Path("/usr/lib/x86_64-linux-gnu/libxenlight.so.4.17.0")


@pytest.mark.skipif(not LIBXENLIGHT.exists() or not shutil.which("objdump"),
                    reason="Debian's libxenlight 4.17 (libxenmisc4.17) and objdump not here")
def test_debians_libxenlight_prints_the_tags_lines():
    # An independent oracle: the __LINE__ Debian's compiled libxl passes to libxl__log for
    # construct_rdm's messages (the mov $LINE,%r8d next to the format string's lea) is the
    # line of RELEASE-4.17.x the table has.
    data = LIBXENLIGHT.read_bytes()
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(LIBXENLIGHT)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    found = {}
    for code, text in (("rdm-conflict", b"\0RDM conflict at 0x%"),
                       ("rdm-conflict-ignored", b"\0Ignoring RDM conflict at 0x%"),
                       ("rdm-query-failed", b"\0Could not get reserved device memory maps.")):
        addr = data.find(text) + 1
        for i, line in enumerate(dis):
            if re.search(rf"# {addr:x} <", line):
                near = " ".join(dis[i - 12:i + 12])
                found[code] = [int(x, 16) for x in re.findall(r"mov\s+\$0x([0-9a-f]+),%r8d",
                                                              near)]
    for code, lines in found.items():
        sites = [(a, b) for _f, _fn, a, b in _sites_at(code, "4.17.7")]
        assert any(a <= n <= b for n in lines for a, b in sites), (code, lines, sites)
    assert len(found) == 3


def test_generator_finds_the_call_and_its_function():
    # xlrmrr/_build/libxl_sites.py reads the LOG call's span and the function around it, as in
    # libxl_create.c at RELEASE-4.17.0 (LOGD on 1193, the text on 1194)
    from xlrmrr._build.libxl_sites import _runs, call_site

    src = ["int libxl__domain_config_setdefault(libxl__gc *gc,",
           "                                    libxl_domain_config *d_config,",
           "                                    uint32_t domid)",
           "{",
           "    if (pod_enabled && d_config->num_pcidevs) {",
           "        LOGD(ERROR, domid,",
           '             "IOMMU required for device passthrough but not supported together with PoD");',
           "        goto error_out;",
           "    }"]
    assert call_site(src, 7) == ("libxl__domain_config_setdefault", 6, 7)
    assert _runs(["4.6.0", "4.6.1", "4.8.0"], ["4.6.0", "4.6.1", "4.7.0", "4.8.0"]) == \
        "4.6.0-4.6.1,4.8.0"
