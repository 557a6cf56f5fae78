"""The hypervisor stage through the command line (create, check, pci-attach) on the fixtures of
fixtures/guests/check/ (host.dmar + host.json; see tests/test_check_cli.py for the host).

Each test names the audit gap it closes and derives its expectation beside it."""

from __future__ import annotations

import json

from conftest import FIXTURES

from xlrmrr.cli import main

F = FIXTURES / "guests" / "check"
DMAR = ["--dmar", str(F / "host.dmar"), "--xen-version", "4.22"]
HOST = [*DMAR, "--host-json", str(F / "host.json")]


def cfg(name):
    return str(F / f"{name}.cfg")


def write(tmp_path, name, body):
    f = tmp_path / f"{name}.cfg"
    f.write_text(f'name = "{name}"\ntype = "hvm"\n' + body)
    return str(f)


# --- --no-hap reaches the page-table model ----------------------------------------------------

def test_no_hap_option_gives_separate_iommu_tables(capsys):
    # libxl: hap defaults to the host's HAP, so --no-hap makes the guest shadow-paged; without
    # HAP there is no EPT to share, so VT-d keeps its own tables (the same as hap=0 in the config).
    code = main(["create", "-n", "--no-hap", cfg("xhci"), *HOST, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 3
    assert doc["hap"] is False
    assert doc["hypervisor"]["shared_pt"] is False
    main(["create", "-n", "--no-hap", cfg("xhci"), *HOST])
    out = capsys.readouterr().out
    assert "the IOMMU has its own tables, mirrored from the p2m" in out
    assert "the IOMMU walks the EPT itself" not in out


def test_hap_host_keeps_shared_tables(capsys):
    main(["create", "-n", cfg("xhci"), *HOST, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["hap"] is True and doc["hypervisor"]["shared_pt"] is True
