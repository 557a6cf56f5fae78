"""`xlrmrr upgrade`: guests planned under two releases and every step between, on the laptop
host (xHCI 00:14.0 RMRR [0xab80a000, 0xab81dfff], IGD 00:02.0 [0xad000000, 0xaf7fffff]).

By hand (xen-rdm.md 1, 5.3, 5.4, 8):
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
    assert [str(v) for v in path(XenVersion.parse("4.12"), XenVersion.parse("4.13"))] == [
        "4.12", "4.13"]


def test_verdict_table_across_every_band(capsys):
    _code, j = upgrade(capsys, "4.10", "4.22", "usb-host-relaxed")
    v = j["guests"][0]["verdicts"]
    assert [v[r] for r in ("4.10", "4.11", "4.12")] == ["degraded"] * 3
    assert [v[r] for r in ("4.13", "4.14.0")] == ["blocked"] * 2
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
