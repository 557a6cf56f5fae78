"""`xlrmrr explain`: the messages of fixtures/logs/ (composed from Xen's format strings at the
release tags named in fixtures/logs/README.md) recognised, tied to their rule and release, to
the host's RMRR and device, and, with --cfg, to the re-plan and its verified fix.

Expectations by hand:
- laptop host (fixtures/dmar/laptop-typical.bin + hosts/laptop.json): xHCI 00:14.0 owns
  [0xab80a000, 0xab81dfff] (80 KiB), IGD 00:02.0 owns [0xad000000, 0xaf7fffff] (40 MiB).
- usb-strict-boundary.cfg (8192 MiB, rdm_mem_boundary 4096): the xHCI RMRR lies below the
  boundary, strict -> "RDM conflict at 0xab80a000." (construct_rdm). The fix the
  planner recommends (it keeps the guest's memory and the strict policy) is rdm_mem_boundary =
  (0xab80a000 - 1) >> 20 = 0xab8 = 2744, which moves lowmem_end to 0xab800000 (HAP: rounded
  down to 2 MiB).
- `Dom%d` and `%04x:%02x:%02x.%u` in the shared-RMRR message: 4.6-4.14
  (vtd/iommu.c:intel_iommu_assign_device); `%pp`/`%pd` ("d2"): 4.15 on.
- "cannot map reserved region (b,e] for Dom1 (-16)": 4.6-4.14.4, 4.15.0-4.15.2, 4.16.0; "d1:
  cannot map reserved region [b,e]: -16": 4.17 on and the XSA-400 backports 4.14.5, 4.15.3,
  4.16.1 (78a40f8b5d; vtd/iommu.c:intel_iommu_assign_device at RELEASE-4.14.5, 4.15.3, 4.16.1;
  also 4.13.5, which explain's release candidates do not have). Together with "Cannot setup
  identity map d1:..." (every release) the 4.12 log fits the former.
- PoD: "PCI device assignment for HVM guest failed due to PoD enabled" up to 4.14.4, 4.15.0-
  4.15.2 and 4.16.0; "IOMMU required ... together with PoD" from 4.14.5, 4.15.3, 4.16.1 and
  4.17 (libxl_create.c:libxl__domain_config_setdefault at each tag).
"""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from xlrmrr.cli import main
from xlrmrr.common import XenVersion
from xlrmrr.explain.messages import recognise
from xlrmrr.explain.releases import candidate_of, describe_releases, fitting_releases, release_set
from xlrmrr.explain.rules import RULES

LOGS = FIXTURES / "logs"
LAPTOP = ["--dmar", str(FIXTURES / "dmar" / "laptop-typical.bin"),
          "--host-json", str(FIXTURES / "hosts" / "laptop.json")]
SHARED = ["--dmar", str(FIXTURES / "dmar" / "usb-shared.bin"),
          "--host-json", str(FIXTURES / "hosts" / "laptop.json")]


def messages(name):
    return recognise((LOGS / name).read_text().splitlines(), name)


def explain_json(capsys, *argv):
    code = main(["explain", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


# (log, codes in order, domids, releases the forms fit)
CASES = [
    ("xl-create-rdm-conflict-4.22.log", ["rdm-conflict", "rdm-check-failed"], [None, None],
     "4.6-4.22"),
    ("xl-create-relaxed-4.13.log", ["rdm-conflict-ignored"], [None], "4.6-4.22"),
    ("dmesg-shared-rmrr-4.13.log", ["shared-rmrr", "assign-failed"], [5, 5], "4.6-4.14"),
    ("dmesg-shared-rmrr-4.17.log", ["shared-rmrr"], [2], "4.15-4.22"),
    ("dmesg-risky-4.10.log", ["shared-rmrr-risky"], [1], "4.6-4.14"),
    ("identity-map-4.12.log", ["identity-map-busy", "cannot-map-rmrr", "assign-failed"],
     [1, 1, 1], "4.6-4.14.4, 4.15.0-4.15.2, 4.16.0"),
    ("cannot-map-4.17.log", ["cannot-map-rmrr"], [1],
     "4.14.5 and later 4.14.x, 4.15.3 and later 4.15.x, 4.16.1-4.22"),
    ("pod-4.14.4.log", ["pod-passthrough"], [None], "4.6-4.14.4, 4.15.0-4.15.2, 4.16.0"),
    ("pod-4.17.log", ["pod-passthrough"], [None],
     "4.14.5 and later 4.14.x, 4.15.3 and later 4.15.x, 4.16.1-4.22"),
    ("too-many-entries-4.22.log", ["memmap-too-many", "set-memmap-failed"], [7, 7], "4.6-4.22"),
    ("hvmloader-dynamic-4.15.log", ["hvmloader-dynamic-conflict"], [None], "4.6-4.22"),
    ("boot-dmar-overlap-4.16.log", ["dmar-rmrr-overlap", "dmar-rejected"], [None, None],
     "4.6-4.22"),
    ("boot-rmrr-not-reserved-4.19.log", ["dmar-rmrr-not-reserved"], [None], "4.19-4.22"),
]


@pytest.mark.parametrize("name,codes,doms,releases", CASES, ids=[c[0] for c in CASES])
def test_fixture_logs_recognised(name, codes, doms, releases):
    got = messages(name)
    assert [m.rule.code for m in got] == codes
    assert [m.dom for m in got] == doms
    assert describe_releases(fitting_releases(got)) == releases


def test_rdm_conflict_address_and_errno():
    conflict, _check = messages("xl-create-rdm-conflict-4.22.log")
    assert conflict.addrs == (0xab80a000,) and conflict.line == 2
    shared, assign = messages("dmesg-shared-rmrr-4.13.log")
    assert shared.sbdf == "0000:00:1a.0" and shared.addrs == (0xab80a000,)
    assert assign.errno == "Operation not permitted"


def test_identity_map_pages_folded_into_one_message():
    ident, cannot, assign = messages("identity-map-4.12.log")
    # 20 pages 0xab80a..0xab81d, one line each: one message, every page's address
    assert ident.count == 20
    assert ident.addrs[0] == 0xab80a000 and ident.addrs[-1] == 0xab81d000
    assert len(ident.addrs) == 20
    assert (cannot.base, cannot.end, cannot.errno) == (0xab80a000, 0xab81dfff, "-16")
    assert assign.errno == "Device or resource busy"


@pytest.mark.parametrize("prefix", [
    "", "(XEN) ", "(XEN) [2026-11-30 09:12:44.871] ", "(XEN) [  812.004411] ",
    "[  812.004411] (XEN) ", "Dec 02 10:00:00 host xen[1]: (XEN) ", "\x1b[0m(XEN) ",
])
def test_prefixes_do_not_matter(prefix):
    line = prefix + "[VT-D] It's disallowed to assign 0000:00:14.0 with shared RMRR at " \
                    "ab80a000 for d3."
    (m,) = recognise([line], "x")
    assert (m.rule.code, m.dom, m.sbdf, m.addrs) == ("shared-rmrr", 3, "0000:00:14.0",
                                                     (0xab80a000,))


def test_ignoring_is_not_a_strict_conflict():
    (m,) = recognise(["libxl: warning: libxl_dm.c:655:libxl__domain_device_construct_rdm: "
                      "Ignoring RDM conflict at 0xad000000."], "x")
    assert m.rule.code == "rdm-conflict-ignored" and m.addrs == (0xad000000,)


def test_domain_prefix_gives_the_domid():
    (m,) = recognise(["libxl: error: libxl_pci.c:1434:pci_add_dm_done: Domain 12:"
                      "xc_assign_device failed: Device or resource busy"], "x")
    assert m.dom == 12


def test_every_form_names_modelled_releases():
    for rule in RULES:
        assert rule.forms, rule.code
        for form in rule.forms:
            assert release_set(form.releases), (rule.code, form.releases)


def test_candidates_stand_for_point_releases():
    assert candidate_of(XenVersion(4, 14, 4)) == (4, 14, 0)
    assert candidate_of(XenVersion(4, 14, 5)) == (4, 14, 5)
    assert candidate_of(XenVersion(4, 16)) == (4, 16, 0)
    assert candidate_of(XenVersion(4, 19, 2)) == (4, 19, 0)


def test_one_file_holding_both_equals_two_files(tmp_path, capsys):
    a, b = LOGS / "dmesg-shared-rmrr-4.17.log", LOGS / "xl-create-rdm-conflict-4.22.log"
    both = tmp_path / "both.log"
    both.write_text(a.read_text() + b.read_text())
    _c1, one = explain_json(capsys, str(both))
    _c2, two = explain_json(capsys, str(a), str(b))
    assert [m["code"] for m in one["messages"]] == [m["code"] for m in two["messages"]] == [
        "shared-rmrr", "rdm-conflict", "rdm-check-failed"]
    assert one["releases"] == two["releases"] == "4.15-4.22"


def test_cli_owner_and_fix(capsys):
    code, j = explain_json(capsys, str(LOGS / "xl-create-rdm-conflict-4.22.log"), *LAPTOP,
                           "--cfg", str(FIXTURES / "guests" / "usb-strict-boundary.cfg"),
                           "--xen-version", "4.22")
    assert code == 1 and j["outcome"] == "fails" and j["xen_version"] == "4.22"
    owner = j["messages"][0]["owners"]
    # [0xab80a000, 0xab81dfff]: 0x14 pages, 80 KiB
    assert owner == [{"start": 0xab80a000, "size": 0x14000, "devices": ["0000:00:14.0"],
                      "classes": ["USB controller (xHCI)"], "shared": False}]
    assert j["plan"]["verdict"] == "blocked"
    assert j["plan"]["reproduced"] == [True, True]
    fix = j["plan"]["fix"]
    assert fix["change"] == "rdm_mem_boundary = 2744" and fix["verified"]
    assert "lowmem_end 0xab800000" in fix["result"]


def test_cli_text(capsys):
    code = main(["explain", str(LOGS / "dmesg-shared-rmrr-4.13.log"), *SHARED,
                 "--xen-version", "4.13"])
    out = capsys.readouterr().out
    assert code == 1
    assert "message forms fit Xen 4.6-4.14, libxl's source lines 4.13-4.14; modelling Xen 4.13" in out
    assert "rule: xen xen/drivers/passthrough/vtd/iommu.c:intel_iommu_assign_device" in out
    # the shared RMRR of the usb-shared fixture: three USB controllers
    assert ("host RMRR [0xab80a000, 0xab81dfff] 80 KiB: 0000:00:1a.0 (USB controller (EHCI)), "
            "0000:00:1d.0 (USB controller (EHCI)), 0000:00:14.0 (USB controller (xHCI)); "
            "shared") in out


def test_release_mismatch_is_said(capsys):
    _code, j = explain_json(capsys, str(LOGS / "dmesg-shared-rmrr-4.13.log"),
                            "--xen-version", "4.17")
    assert any("Xen 4.17 does not print these messages in these forms" in n
               for n in j["notes"])


def test_release_defaults_to_newest_fitting(capsys):
    # no host data, no --xen-version: the newest release printing `Dom5` is 4.14 (4.14.5 on)
    _code, j = explain_json(capsys, str(LOGS / "dmesg-shared-rmrr-4.13.log"))
    assert j["xen_version"] == "4.14.5" and j["host"] is None
    # the old PoD text alone fits up to 4.16.0; libxl_create.c:1143 is where 4.14.0-4.14.4
    # print it (tests/test_explain_sites.py), so 4.14.4 is modelled (was 4.16.0)
    _code, j = explain_json(capsys, str(LOGS / "pod-4.14.4.log"))
    assert j["releases"] == "4.6-4.14.4, 4.15.0-4.15.2, 4.16.0"
    assert j["xen_version"] == "4.14.4"


def test_exit_status_by_outcome(capsys):
    assert explain_json(capsys, str(LOGS / "xl-create-relaxed-4.13.log"))[0] == 3
    assert explain_json(capsys, str(LOGS / "dmesg-risky-4.10.log"))[0] == 3
    assert explain_json(capsys, str(LOGS / "boot-rmrr-not-reserved-4.19.log"))[0] == 0
    code, j = explain_json(capsys, str(LOGS / "boot-dmar-overlap-4.16.log"))
    assert code == 1 and j["outcome"] == "vtd-disabled"


def test_nothing_recognised_is_exit_2_one_line(capsys):
    code = main(["explain", str(LOGS / "unrelated.log")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no RDM-related message" in err
    code = main(["explain", str(LOGS / "unrelated.log"), "--json"])
    out = capsys.readouterr().out
    assert code == 2 and json.loads(out)["ok"] is False


def test_missing_log_is_bad_input(capsys, tmp_path):
    assert main(["explain", str(tmp_path / "nope.log")]) == 2
    assert "nope.log: cannot read log" in capsys.readouterr().err


def readme_example(marker: str):
    """(argv, output) of the README example whose command starts with `marker`."""
    from conftest import REPO

    lines = (REPO / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"    $ {marker}"))
    argv = lines[start].split()[2:]
    out = []
    for line in lines[start + 1:]:
        if line and not line.startswith("    "):
            break
        out.append(line[4:])
    while out and not out[-1]:
        out.pop()
    return argv, "\n".join(out) + "\n"


def test_readme_example_is_real_output(capsys, monkeypatch):
    argv, expected = readme_example("xlrmrr explain")
    monkeypatch.chdir(FIXTURES)
    main(argv)
    assert capsys.readouterr().out == expected


def test_every_rule_passes_the_prefilter():
    """Each form's fixed text holds a PREFILTER word, so no message is skipped unsearched."""
    import re

    from xlrmrr.explain.messages import PREFILTER

    for rule in RULES:
        for form in rule.forms:
            fixed = re.sub(r"\\.", "", form.pattern)
            assert any(w in fixed for w in PREFILTER), (rule.code, form.pattern)


def test_cfg_gives_the_recommended_fix_for_a_shared_rmrr(capsys, tmp_path):
    # The 4.17 log: "It's disallowed to assign 0000:00:1a.0 with shared RMRR at ab80a000". On
    # usb-shared that RMRR is shared by 00:1a.0, 00:1d.0 and 00:14.0 (USB controllers). The
    # guest passes 00:1a.0 alone (2 GiB: no RAM near the range, so no layout change helps):
    # the recommended fix is the whole group, relaxed, on one pci= line (the members added in
    # SBDF order), and the JSON marks it recommended.
    cfg = tmp_path / "sys-usb.cfg"
    cfg.write_text('name = "sys-usb"\ntype = "hvm"\nmemory = 2048\npci = [ \'00:1a.0\' ]\n')
    log = str(LOGS / "dmesg-shared-rmrr-4.17.log")
    code, j = explain_json(capsys, log, "--cfg", str(cfg), *SHARED, "--xen-version", "4.17")
    fix = j["plan"]["fix"]
    line = ("pci = [ '00:1a.0,rdm_policy=relaxed', '00:14.0,rdm_policy=relaxed', "
            "'00:1d.0,rdm_policy=relaxed' ]")
    assert code == 1 and j["plan"]["verdict"] == "blocked" and j["plan"]["reproduced"] == [True]
    assert fix["recommended"] and fix["verdict"] == "ok" and fix["change"].startswith(line)
    main(["explain", log, "--cfg", str(cfg), *SHARED, "--xen-version", "4.17"])
    out = capsys.readouterr().out
    assert f"  fix (recommended): {line}" in out
    assert "      why: plans ok; assigns the whole RMRR sharing group" in out


def test_cfg_fix_is_the_recommended_not_the_first_verified(capsys):
    # usb-strict-boundary (00:14.0, 8192 MiB, rdm_mem_boundary 4096) on usb-shared: the shared
    # RMRR at 0xab80a000 is below the boundary. In PROPOSALS order the first verified change is
    # rdm_policy=relaxed on 00:14.0 alone (degraded: RAM over the range, the group split); the
    # recommended one is the whole group relaxed and rdm_mem_boundary = (0xab80a000 - 1) >> 20
    # = 2744 (ok). explain prints the recommended one.
    from xlrmrr.remedies.create import PROPOSALS, relax, whole_group

    assert PROPOSALS.index(relax) < PROPOSALS.index(whole_group)
    cfg = str(FIXTURES / "guests" / "usb-strict-boundary.cfg")
    code, j = explain_json(capsys, str(LOGS / "dmesg-shared-rmrr-4.17.log"), "--cfg", cfg,
                           *SHARED, "--xen-version", "4.17")
    fix = j["plan"]["fix"]
    assert fix["recommended"] and fix["verdict"] == "ok"
    assert fix["change"].endswith("(the whole RMRR sharing group, rdm_policy=relaxed) and "
                                  "rdm_mem_boundary = 2744")
    main(["create", cfg, "--dry-run", "--json", *SHARED, "--xen-version", "4.17"])
    rem = json.loads(capsys.readouterr().out)["remediation"]
    alone = [r for r in rem if r["change"] == "pci = [ '00:14.0,rdm_policy=relaxed' ] "
                                               "(rdm_policy=relaxed)"]
    assert alone and alone[0]["verified"] and alone[0]["verdict"] == "degraded"
    assert not alone[0]["recommended"] and rem[0]["change"] == fix["change"]


def test_owner_of_a_message_naming_only_a_device_follows_for_each_rmrr_device():
    """A message with no address ("PCI device ... already assigned to a different guest") is
    matched to the RMRRs Xen gives the device it names (xlrmrr.host.index, the rule of
    vtd/dmar.h:for_each_rmrr_device): 00:14.0 gets the RMRR whose scope lists it first; 00:1a.0,
    listed after 00:00.0 where Xen's walk ends, gets none."""
    from xlrmrr.common import Sbdf
    from xlrmrr.explain.messages import recognise
    from xlrmrr.explain.owners import owners
    from xlrmrr.host.model import Host, Rmrr

    xhci, usb2 = Sbdf(0, 0, 0x14, 0), Sbdf(0, 0, 0x1A, 0)
    host = Host(rmrrs=(Rmrr(0xAB80A000, 0xAB81DFFF, 0, (xhci, Sbdf(0, 0, 0, 0), usb2), 3),))

    def owned(sbdf):
        [m] = recognise([f"libxl: error: PCI device {sbdf} already assigned to a different "
                         f"guest?"], "log")
        return [(o.base, o.devices) for o in owners(m, host)]

    assert owned(xhci) == [(0xAB80A000, ("0000:00:14.0", "0000:00:00.0", "0000:00:1a.0"))]
    assert owned(usb2) == []
