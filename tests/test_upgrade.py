"""`xlrmrr upgrade`: guests planned under two releases and every step between, on the laptop
host (xHCI 00:14.0 RMRR [0xab80a000, 0xab81dfff], IGD 00:02.0 [0xad000000, 0xaf7fffff]).

By hand (xl_parse.c:parse_config_data, libxlu_pci.c:xlu_rdm_parse, libxl_dm.c:
libxl__domain_device_construct_rdm):
- usb-host-relaxed.cfg (8192 MiB, rdm_mem_boundary 4096, rdm="strategy=host,policy=relaxed",
  pci 00:14.0 without rdm_policy): the xHCI RMRR lies below the boundary, so it conflicts.
  4.10-4.12 rdm= is read before pci=: the device inherits relaxed -> "Ignoring" -> degraded.
  4.13-4.14.4, 4.15.0-4.15.2, 4.16.0 pci= first: the device policy is not inherited -> strict
  at assignment (4.13) or in construct_rdm (4.14) -> blocked. 4.14.5 rdm= first again ->
  degraded. 4.15.3 on: xl drops the rdm= line (valid policy, inverted check) -> strategy
  ignore, device strict -> "RDM conflict at 0xab80a000." -> blocked.
- host-strategy.cfg (8192 MiB, HAP, rdm="strategy=host,policy=relaxed", no pci=): under 4.14
  both RMRRs are reserved relaxed; the xHCI one (0xab80a000, above 2 GiB) moves lowmem_end to
  0xab800000 (2 MiB rounding) and highmem_end to 4G + 0x1ff800000 - 0xab800000 = 0x254000000.
  Under 4.15 xl drops rdm=: nothing reserved, lowmem_end 0xf0000000, highmem_end 0x20f800000.
  The verdict stays ok (no device assigned): exit 0.
"""

from __future__ import annotations

import json

from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.common import XenVersion
from xlrmrr.upgrade import path

G = FIXTURES / "guests"
LAPTOP = ["--dmar", str(FIXTURES / "dmar" / "laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts" / "laptop.json")]


def upgrade(capsys, frm, to, *names):
    code = main(["upgrade", "--from", frm, "--to", to, *(str(G / f"{n}.cfg") for n in names),
                 *LAPTOP, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_path_has_every_step():
    assert [str(v) for v in path(XenVersion.parse("4.14.4"), XenVersion.parse("4.15"))] == [
        "4.14.4", "4.14.5", "4.15"]
    assert [str(v) for v in path(XenVersion.parse("4.17"), XenVersion.parse("4.15.3"))] == [
        "4.17", "4.16.1", "4.16.0", "4.15.3"]
    # hvmloader's ACPI/dynamic-area change reached 4.12.4 (config.h and e820.c at RELEASE-4.12.4)
    assert [str(v) for v in path(XenVersion.parse("4.12"), XenVersion.parse("4.13"))] == [
        "4.12", "4.12.4", "4.13"]
    assert [str(v) for v in path(XenVersion.parse("4.11"), XenVersion.parse("4.12"))] == [
        "4.11", "4.12"]


def test_verdict_table_across_every_band(capsys):
    _code, j = upgrade(capsys, "4.10", "4.22", "usb-host-relaxed")
    v = j["guests"][0]["verdicts"]
    assert [v[r] for r in ("4.10", "4.11", "4.12.0", "4.12.4")] == ["degraded"] * 4
    assert [v[r] for r in ("4.13.0", "4.13.2", "4.14.0", "4.14.1")] == ["blocked"] * 4
    assert v["4.14.5"] == "degraded"
    assert all(v[r] == "blocked" for r in ("4.15.0", "4.15.3", "4.16.0", "4.16.1", "4.17",
                                           "4.18", "4.19", "4.20", "4.21", "4.22"))


def test_rdm_trap_4_14_to_4_15(capsys):
    code, j = upgrade(capsys, "4.14.5", "4.15.3", "usb-host-relaxed", "host-strategy")
    assert code == 1
    relaxed, hostwide = j["guests"]
    assert (relaxed["from_verdict"], relaxed["to_verdict"], relaxed["worse"]) == (
        "degraded", "blocked", "stops")
    changes = {c["aspect"]: c for c in hostwide["changes"]}
    assert hostwide["worse"] == "" and "verdict" not in changes
    assert changes["xl"]["from"] == "HVM; rdm strategy=host policy=relaxed"
    assert changes["xl"]["to"] == "HVM; rdm strategy=ignore policy=invalid"
    assert changes["rdms"]["from"] == "0xad000000 relaxed, 0xab80a000 relaxed"
    assert changes["rdms"]["to"] == "none"
    assert (changes["lowmem_end"]["from"], changes["lowmem_end"]["to"]) == (
        "0xab800000", "0xf0000000")
    assert (changes["highmem_end"]["from"], changes["highmem_end"]["to"]) == (
        "0x254000000", "0x20f800000")
    # the change happens at 4.15.0 and is libxlu's inverted policy check
    (at,) = changes["rdms"]["at"]
    assert at["release"] == "4.15.0"
    assert "bdc0799fe2" in [c["commit"] for c in at["changes"]]


def test_parse_order_regression_4_13(capsys):
    code, j = upgrade(capsys, "4.12", "4.13", "usb-host-relaxed")
    assert code == 1
    g = j["guests"][0]
    xl = next(c for c in g["changes"] if c["aspect"] == "xl")
    assert xl["from"].endswith("pci 0000:00:14.0 rdm_policy=relaxed")
    assert xl["to"].endswith("pci 0000:00:14.0 rdm_policy=invalid")
    (at,) = xl["at"]
    assert at["release"] == "4.13"
    assert [c["commit"] for c in at["changes"]] == ["babde47a3f, fixed by e45ad0b1b0"]
    assert at["changes"][0]["takes_effect"] is True


def test_point_release_fix_undoes_the_regression(capsys):
    code, j = upgrade(capsys, "4.14.4", "4.14.5", "usb-host-relaxed")
    assert code == 0        # blocked -> degraded is not worse
    g = j["guests"][0]
    assert (g["from_verdict"], g["to_verdict"]) == ("blocked", "degraded")
    xl = next(c for c in g["changes"] if c["aspect"] == "xl")
    assert xl["at"][0]["changes"][0]["takes_effect"] is False


def test_degraded_is_exit_3(capsys):
    # 4.6-4.9 xl does not know type= and reads the guest as PV (no RDM conflict): ok; from
    # 4.10 it is HVM and the relaxed xHCI RMRR below the boundary is dropped: degraded
    code, j = upgrade(capsys, "4.9", "4.10", "usb-relaxed-boundary")
    assert code == 3 and j["guests"][0]["worse"] == "degrades"


def test_nothing_worse_is_exit_0_and_text(capsys):
    code = main(["upgrade", "--from", "4.17", "--to", "4.18", str(G / "igd-passthrough.cfg"),
                 *LAPTOP])
    out = capsys.readouterr().out
    assert code == 0
    assert "igd-passthrough.cfg (igd): ok -> ok\n  nothing changes\n" in out


def test_bad_release_is_exit_2(capsys):
    assert main(["upgrade", "--from", "4.5", "--to", "4.18", str(G / "small.cfg"),
                 *LAPTOP]) == 2
    assert "--from: Xen 4.5 is not modelled" in capsys.readouterr().err


def test_readme_example_is_real_output(capsys, monkeypatch):
    from test_explain import readme_example

    argv, expected = readme_example("xlrmrr upgrade")
    monkeypatch.chdir(FIXTURES)
    assert main(argv) == 1
    assert capsys.readouterr().out == expected


def test_config_xl_refuses_under_to(capsys, tmp_path):
    # xl up to 4.14 only warns about an unknown pci= key ("Unknown PCI BDF option"); the
    # rewritten parser of 4.15 refuses it (Unknown PCI_SPEC_STRING option): xl exits
    cfg = tmp_path / "badkey.cfg"
    cfg.write_text('name = "t"\ntype = "hvm"\nmemory = 512\npci = [ "00:14.0,foo=1" ]\n')
    code = main(["upgrade", "--from", "4.14.5", "--to", "4.15", str(cfg), *LAPTOP, "--json"])
    j = json.loads(capsys.readouterr().out)
    g = j["guests"][0]
    assert code == 1 and (g["from_verdict"], g["to_verdict"]) == ("ok", "blocked")
    xl = next(c for c in g["changes"] if c["aspect"] == "xl")
    assert xl["to"] == "refused"
    assert [c["what"].split(":")[0] for c in xl["at"][0]["changes"]] == ["libxlu rewrite"]


# ---- one table: upgrade reasons with releases.py's changes and nothing else ------------------

def _flips(prev, cur):
    from xlrmrr import releases

    return [c for c in releases.CHANGES if c.kind in releases.MODELLED
            and c.in_effect(prev) != c.in_effect(cur)]


def test_every_modelled_change_says_what_it_alters():
    from xlrmrr import releases, upgrade

    for c in releases.CHANGES:
        if c.kind not in releases.MODELLED:
            assert c not in upgrade.NAMED, c.name
            continue
        if c.reverts is not None:
            # read as the end of the change it undoes, which says what it alters
            assert c.alters is None and c.reverts in upgrade.NAMED, c.name
            continue
        assert c.alters is not None, f"{c.name}: say which aspects it alters (() if none)"
        assert set(c.alters) <= set(upgrade.ASPECTS), c.name
        assert not c.matters or c.matters in upgrade.MATTERS, c.name
        assert c in upgrade.NAMED and c.commit, c.name


def test_every_release_where_a_change_flips_is_a_step():
    from xlrmrr import releases

    steps = {(v.major, v.minor, v.patch or 0) for v in path(releases.OLDEST_XEN,
                                                             releases.NEWEST_XEN)}
    for c in releases.CHANGES:
        assert (c.first.major, c.first.minor, 0) in steps, c.name
        assert set(c.points) <= steps, c.name


def test_every_change_relevant_to_a_guest_is_in_upgrades_reasoning():
    # Going step by step from 4.6 to 4.22 and back, each modelled change that flips at a step
    # and can alter an aspect is what upgrade names there for that aspect (a reverting change
    # as the change it undoes, going out of effect); nothing else is named.
    from xlrmrr import releases
    from xlrmrr.upgrade import changes_between

    up = path(releases.OLDEST_XEN, releases.NEWEST_XEN)
    seen = set()
    for steps in (up, up[::-1]):
        for prev, cur in zip(steps, steps[1:]):
            flips = _flips(prev, cur)
            for aspect in releases.ASPECTS:
                want = set()
                for c in flips:
                    named = c.reverts or c
                    if aspect in named.alters:
                        want.add((named.name, releases.effective(named, cur)))
                got = {(c.name, on) for c, on in changes_between(prev, cur, aspect)}
                assert got == want, (str(prev), str(cur), aspect)
                seen |= {n for n, _on in got}
    relevant = {(c.reverts or c).name for c in releases.CHANGES
                if c.kind in releases.MODELLED and (c.reverts or c).alters}
    assert seen == relevant


def test_the_4_13_regression_is_one_change_with_its_fix():
    from xlrmrr import releases
    from xlrmrr.upgrade import changes_between, commit_text

    v = XenVersion.parse
    ((c, on),) = changes_between(v("4.14.4"), v("4.14.5"), "xl")
    assert c is releases.XL_PCI_BEFORE_RDM and on is False
    assert commit_text(c) == "babde47a3f, fixed by e45ad0b1b0"
    assert releases.upgrade_text(c).endswith(
        "(the 4.13.0 regression; rdm= first again from 4.14.5, 4.15.3, 4.16.1 and 4.17)")
    ((c, on),) = changes_between(v("4.12"), v("4.13"), "xl")
    assert c is releases.XL_PCI_BEFORE_RDM and on is True


def test_no_second_table_in_upgrade():
    # upgrade.py names no commit, no release and no Change of its own: all come from
    # xlrmrr/releases.py
    import ast
    import re

    import xlrmrr.upgrade as up

    tree = ast.parse(open(up.__file__).read())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
            and isinstance(n.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docs:
            assert not re.search(r"\b[0-9a-f]{8,40}\b", node.value), node.value
            assert not re.search(r"\b4\.\d+\b", node.value), node.value
        if isinstance(node, ast.ClassDef):
            assert node.name != "Change"
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Change":
            raise AssertionError("upgrade.py builds a Change")


def test_the_4_10_type_key_is_named(capsys):
    # 4.9 xl reads usb-relaxed-boundary.cfg's type = "hvm" not at all (builder= decides, so
    # PV); 4.10 reads it (xl_parse.c parse_config_data, RELEASE-4.10.0, c7dfe4ac58): the
    # reading, the RDMs and the layout change there, and the named change says why (before,
    # "no named change for: xl's reading, ...")
    _code, j = upgrade(capsys, "4.9", "4.10", "usb-relaxed-boundary")
    xl = next(c for c in j["guests"][0]["changes"] if c["aspect"] == "xl")
    (at,) = xl["at"]
    assert at["release"] == "4.10"
    assert [c["commit"] for c in at["changes"]] == ["c7dfe4ac58"]


def test_a_change_the_stages_do_not_model_is_not_a_cause(capsys):
    # 4.14.4 -> 4.14.5 only moves xl's rdm= back before pci= (e45ad0b1b0). hvmloader's
    # dynamic area moved to 0xfc100000 already in 4.14.1 (config.h at RELEASE-4.14.1; the
    # commits the old table cited, 7b1e587f25/43eceee913, are the ACPI NVS backports), so it
    # cannot explain a difference between 4.14.4 and 4.14.5
    _code, j = upgrade(capsys, "4.14.4", "4.14.5", "usb-host-relaxed")
    commits = {c["commit"] for a in j["guests"][0]["changes"] for at in a["at"]
               for c in at["changes"]}
    assert commits == {"babde47a3f, fixed by e45ad0b1b0"}


def test_a_host_change_is_named_where_the_host_differs(capsys):
    # bridges.json has no xHCI at 00:14.0: from 4.12 Xen ignores the RMRR whose scope names only
    # absent devices (vtd/dmar.c acpi_parse_one_rmrr, RELEASE-4.12.0, dcf41790), so
    # host-strategy.cfg's reserved RDMs and layout change at 4.12 for that reason alone
    code = main(["upgrade", "--from", "4.11", "--to", "4.12", str(G / "host-strategy.cfg"),
                 "--dmar", str(FIXTURES / "dmar" / "laptop-typical.bin"),
                 "--host-json", str(FIXTURES / "hosts" / "bridges.json"), "--json"])
    j = json.loads(capsys.readouterr().out)
    assert code == 0
    rdms = next(c for c in j["guests"][0]["changes"] if c["aspect"] == "rdms")
    assert [c["commit"] for at in rdms["at"] for c in at["changes"]] == ["dcf41790"]
    # the same guest on the laptop host (xHCI present) builds the same host at 4.11 and 4.12:
    # nothing changes, so the DMAR change is not named
    _code, j = upgrade(capsys, "4.11", "4.12", "host-strategy")
    assert j["guests"][0]["changes"] == []
