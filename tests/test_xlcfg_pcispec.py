"""PCI_SPEC_STRING and rdm= parsing against libxlutil.so.4.17 (xlu_pci_parse_spec_string,
xlu_rdm_parse), plus hand-checked expectations for the pre-4.15 parsers from the C source."""

from __future__ import annotations

import libxlu_oracle as oracle
import pytest
from conftest import need
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlrmrr.xlcfg.domain import LIBXL_PCI_FUNC_ALL
from xlrmrr.xlcfg.pcispec import ERROR_INVAL, libxlu_undefined, parse_bdf_old, parse_spec_string, rdm_parse

POLICY_CODE = {"invalid": -1, "strict": 0, "relaxed": 1}


def ours_pci(spec: str) -> dict:
    r = parse_spec_string(spec)
    return {"rc": r.rc, "report": r.report, "pci": r.pci}


def check_pci(spec: str) -> None:
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    got = parse_spec_string(spec)
    if libxlu_undefined(spec):
        # libxlu reads an uninitialised %n here: its answer changes from run to run, so there is
        # nothing to compare; xlrmrr rejects the spec.
        assert got.rc == ERROR_INVAL, spec
        return
    want = oracle.pci_spec(spec)
    assert (got.rc, got.report) == (want["rc"], want["report"]), spec
    if got.rc == 0:
        p, w = got.pci, want["pci"]
        assert (p.domain, p.bus, p.dev, p.func, p.vdevfn, p.vfunc_mask, p.msitranslate,
                p.power_mgmt, p.permissive, p.seize, POLICY_CODE[p.rdm_policy], p.name) == \
            (w["domain"], w["bus"], w["dev"], w["func"], w["vdevfn"], w["vfunc_mask"],
             w["msitranslate"], w["power_mgmt"], w["permissive"], w["seize"], w["rdm_policy"],
             w["name"]), spec


PCI_CASES = [
    "01:00.0", "0000:01:00.0", "01:00.*", "01:00.0@3", "01:00.0@1f", "01:00.0@20", "01:00.0@",
    "01:00.0@0x1f", "01:00.0@ 1f", "ff:1f.7", "100:00.0", "00:20.0", "00:00.8", "10000:00:00.0",
    "01.00.0", "0:0:0:0.0", " 01:00.0", "01: 00.0", "01:+5.0", "01:0x5.0", "01:00.0x1",
    "01:00.01", "1:0.00000007", "01:00.0-7", "01:00", "01:00.", "0x1:0x2.0x3", "01:00.0x",
    "100000001:00.0", "01:-0.0", "0X1:1.1", "01:00. 1", "01:00.+1", "01:0x.1",
    "01:00.0,permissive=1", "01:00.0,permissive=2", "01:00.0,permissive=abc",
    "01:00.0,permissive=", "01:00.0,permissive= 1", "01:00.0,msitranslate=1,seize=1,power_mgmt=1",
    "01:00.0,", "01:00.0,,", "01:00.0,permissive", "01:00.0, rdm_policy=strict",
    "01:00.0,rdm_policy=strict", "01:00.0,rdm_policy=relaxed", "01:00.0,rdm_policy=STRICT",
    "01:00.0,rdm_policy=invalid", "01:00.0,rdm_policy=bad", "01:00.0,rdm_policy=",
    "bdf=01:00.0", "bdf=01:00.0garbage", "bdf=01:00.0,vslot=10zz", "bdf=01:00.0,vslot=",
    "bdf=01:00.0,vslot=0x", "bdf=01:00.0,vslot=20", "bdf=zz", "name=x", "name=x,", "name=x,,",
    "name=", "name=x,bdf=01:00.0", "01:00.0,name=x", "permissive=1", "", ",=1", "01:00.0,=1",
    "01:00.0,foo=1", "02:00.0,bdf=03:00.0", "bdf=01:00.0,bdf=02:00.1", "01:00.0@3,permissive=1",
    "01:00.0,rdm_policy=strict,rdm_policy=relaxed", "01:00.0 ", "01:00.0\t", "g1:00.0",
]


@pytest.mark.parametrize("spec", PCI_CASES)
def test_pci_spec_matches_libxlu(spec):
    check_pci(spec)


RDM_CASES = [
    "strategy=host", "strategy=host,policy=relaxed", "strategy=host,policy=strict",
    "policy=relaxed,strategy=host", "policy=strict", "policy=bogus", "strategy=host,policy=bogus",
    "strategy=host, policy=relaxed", "strategy=ignore", "strategy=host,", "host", "", "=",
    "strategy=", "strategy=host,policy=", "foo=bar", "strategy=host,policy=STRICT",
    "strategy=host,strategy=host", "policy=bogus,policy=worse", "strategy=host,,",
]


@pytest.mark.parametrize("text", RDM_CASES)
def test_rdm_matches_libxlu_417(text):
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    want = oracle.rdm(text)
    got = rdm_parse(text, (4, 17))
    assert (got.rc, got.report) == (want["rc"], want["report"]), text
    if got.rc == 0:
        assert (got.strategy or "unset", got.policy or "unset") == \
            (want["strategy"], want["policy"]), text


ALPHABET = st.sampled_from(["0", "1", "f", "1f", "ff", "x", "0x", ":", ".", "*", "@", ",", "=",
                            " ", "-", "+", "bdf", "vslot", "name", "permissive", "rdm_policy",
                            "strict", "relaxed", "seize", "g", "20", "7", "8"])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(ALPHABET, max_size=14))
def test_pci_spec_fuzz_matches_libxlu(parts):
    check_pci("".join(parts))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(["strategy", "policy", "=", ",", "host", "strict", "relaxed",
                                 "bogus", " ", "STRICT"]), max_size=8))
def test_rdm_fuzz_matches_libxlu(parts):
    text = "".join(parts)
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    want = oracle.rdm(text)
    got = rdm_parse(text, (4, 17))
    assert (got.rc, got.report) == (want["rc"], want["report"]), text


@pytest.mark.parametrize("spec, undefined", [
    ("01:00", True), ("0:01:00", True), ("01:00x", True), ("bdf=01:00", True),
    ("name=a,bdf=1:2", True), ("01:00.", False), ("01:00.0", False), ("01.00", False),
    ("1:2:3:4", False), ("bdf=01:00.0", False), ("zz", False), ("", False),
])
def test_libxlu_undefined_bdf(spec, undefined):
    """sscanf's %n is stored only once the `.` after the device matched; without it libxlu reads
    an uninitialised int (run twice against libxlutil.so.4.17, `01:00` gave -6 and 0)."""
    assert libxlu_undefined(spec) is undefined


# The Xen 4.6-4.14 parsers (tools/libxl/libxlu_pci.c at RELEASE-4.14.0), worked by hand.

def test_old_bdf_state_machine():
    r = parse_bdf_old("0000:01:00.0@1f,permissive=1,rdm_policy=relaxed")
    assert r.rc == 0 and (r.pci.domain, r.pci.bus, r.pci.dev, r.pci.func) == (0, 1, 0, 0)
    assert r.pci.vdevfn == 0x1F << 3 and r.pci.permissive and r.pci.rdm_policy == "relaxed"
    r = parse_bdf_old("01:00.0@ff")             # vslot up to 0xff before 4.15
    assert r.rc == 0 and r.pci.vdevfn == 0xFF << 3
    r = parse_bdf_old("01:3f.0")                # dev masked with 0xff, not 0x1f
    assert r.rc == 0 and r.pci.dev == 0x3F
    r = parse_bdf_old("01:00.0,foo=1")          # unknown options were only warned about
    assert r.rc == 0 and r.report == "Unknown PCI BDF option: foo"
    r = parse_bdf_old("01:00.0,rdm_policy=STRICT")   # case-sensitive then
    assert r.rc == -6
    assert r.report == "STRICT is not an valid PCI RDM property policy: 'strict' or 'relaxed'."
    r = parse_bdf_old("01:00.*")
    assert r.rc == 0 and r.pci.vfunc_mask == LIBXL_PCI_FUNC_ALL
    assert parse_bdf_old("name=x").rc == -6      # no name=/bdf= keys
    assert parse_bdf_old("01:00.0,").rc == -6    # ends in OPTIONS_K, not TERMINAL
    assert parse_bdf_old("0x01:00.0").rc == 0    # strtoul accepts the 0x prefix


def _t(r):
    return r.rc, r.strategy, r.policy


def test_rdm_parse_by_release():
    # tools/libs/util/libxlu_pci.c:xlu_rdm_parse at RELEASE-4.13.0, 4.14.0 and 4.15.0 (bdc0799fe2).
    assert _t(rdm_parse("strategy=host,policy=relaxed", (4, 13))) == (0, "host", "relaxed")
    assert _t(rdm_parse("strategy=host,policy=relaxed", (4, 14))) == (0, "host", "relaxed")
    assert rdm_parse("strategy=host,policy=relaxed", (4, 15)).rc == -6
    assert rdm_parse("policy=relaxed,strategy=host", (4, 13)).report == \
        "Unknown RDM state option: policy"
    assert _t(rdm_parse("policy=relaxed,strategy=host", (4, 14))) == (0, "host", "relaxed")
    assert rdm_parse("strategy=host", (4, 13)).rc == -6
    assert _t(rdm_parse("strategy=host", (4, 14))) == (0, "host", None)
    assert _t(rdm_parse("policy=strict", (4, 14))) == (0, None, "strict")
    assert rdm_parse("strategy=host,policy=bogus", (4, 14)).rc == -6
    r = rdm_parse("strategy=host,policy=bogus", (4, 17))
    assert (r.rc, r.strategy, r.policy, r.report) == (0, "host", None, "Unknown RDM policy: bogus")
    assert rdm_parse("strategy=host, policy=relaxed", (4, 17)).report == \
        "Unknown RDM state option:  policy"


@pytest.mark.parametrize("version", ["4.14", "4.17"])
def test_syntax_hint_shows_the_grammar_xl_has(version):
    # Issue 11 item 2: the hint said `[[SSSS:]BB:]DD.F' (bus optional); xl's parsers need the
    # bus (libxlu_pci.c: xlu_pci_parse_spec_string from 4.16, parse_bdf before). Xen's own
    # 4.17 libxlutil decides: every example the hint gives parses, an entry without the bus
    # does not, and a hint that offers a rewrite offers one xl takes.
    from xlrmrr.common import XenVersion
    from xlrmrr.xlcfg.xlparse import PCI_ENTRY_GRAMMAR, pci_hint

    v = XenVersion.parse(version)
    assert PCI_ENTRY_GRAMMAR == "[SSSS:]BB:DD.F[@VSLOT][,KEY=VALUE...]"
    hint = pci_hint("zz", "", v)
    assert PCI_ENTRY_GRAMMAR in hint and "[[SSSS:]BB:]" not in hint and "bus is required" in hint
    assert parse_spec_string("14.0").rc != 0 and parse_bdf_old("14.0").rc != 0
    assert pci_hint("14.0,rdm_policy=relaxed", "", v) == (
        "xl needs the bus: a device is BB:DD.F, as lspci prints it; for `14.0' on bus 0 write "
        "`00:14.0,rdm_policy=relaxed'")
    need(oracle.available(), "libxlutil.so.4.17 (Debian libxenmisc4.17) is not installed")
    for old in (False, True):
        assert oracle.pci_spec("14.0", old_bdf=old)["rc"] != 0        # no bus: refused
        assert oracle.pci_spec("00:14.0", old_bdf=old)["rc"] == 0
        assert oracle.pci_spec("0000:00:14.0", old_bdf=old)["rc"] == 0
    for example in ("00:14.0", "0000:00:14.0,rdm_policy=relaxed", "00:14.0,rdm_policy=relaxed",
                    "00:14.0@3"):
        assert oracle.pci_spec(example)["rc"] == 0, example
