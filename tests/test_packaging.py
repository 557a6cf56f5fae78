"""The distribution packages agree with each other and with the project: one version, the same
installed files in the Debian package and the RPM, an sdist that carries every source file.

The packages themselves are built, installed and run by .ci/package (after tox in .ci/run);
these tests check what can be read without root: the files that drive those builds.
"""

import configparser
import re
import shutil
import subprocess

import pytest
from conftest import REPO, need

import xlrmrr

SPEC = REPO / "xlrmrr.spec"


def _spec_tag(name):
    m = re.search(rf"^{name}:\s*(\S+)\s*$", SPEC.read_text(), re.M)
    assert m, name
    return m.group(1)


def test_one_version_everywhere():
    changelog = (REPO / "debian" / "changelog").read_text().splitlines()[0]
    assert changelog.startswith(f"xlrmrr ({xlrmrr.__version__}) ")
    assert _spec_tag("Version") == xlrmrr.__version__
    rpm_log = SPEC.read_text().split("%changelog", 1)[1]
    assert f"- {xlrmrr.__version__}-1\n" in rpm_log


def test_the_rpm_installs_what_the_debian_package_installs():
    spec = SPEC.read_text()
    macros = {"etc": "%{_sysconfdir}", "usr/share": "%{_datadir}"}
    for line in (REPO / "debian" / "xlrmrr.install").read_text().splitlines():
        src, dest = line.split()
        if src.startswith("debian/generated/completions/"):
            assert "%{bash_completions_dir}/xlrmrr" in spec
            continue
        top = next(k for k in macros if dest == k or dest.startswith(k + "/"))
        target = f"{macros[top]}{dest[len(top):]}/{src.rsplit('/', 1)[1]}"
        assert f" {src} %{{buildroot}}{target}\n" in spec, (src, target)
        files = spec.split("%files", 1)[1].split("%changelog", 1)[0].split()
        assert any(target == f or (f.endswith("/") and target.startswith(f)) for f in files), target
    assert "%{_mandir}/man1/xlrmrr.1*" in spec
    assert "-m xlrmrr._build man" in spec and "-m xlrmrr._build bash-completion" in spec


def test_the_rpm_requires_what_setup_cfg_requires():
    """%pyproject_buildrequires turns install_requires into the RPM's requirements, so the spec
    must not pin its own (a second home for the ply/construct ranges)."""
    spec = SPEC.read_text()
    assert "%pyproject_buildrequires" in spec
    assert not re.search(r"^Requires:.*(ply|construct)", spec, re.M)
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert "ply>=3.11,<3.12" in cfg["options"]["install_requires"]


def test_the_debian_package_pins_the_ply_that_reads_the_shipped_lexer_table():
    control = (REPO / "debian" / "control").read_text()
    assert "${python3-ply:Depends}" in control
    assert "dh_python3-ply debian/xlrmrr/usr/lib/python3/dist-packages/xlrmrr/xlcfg/lextab.py" in (
        REPO / "debian" / "rules").read_text()


def test_the_sdist_manifest_names_only_files_that_exist():
    if not (REPO / "COPYING").is_file():
        pytest.skip("not a source checkout (pybuild's test copy holds only debian/pybuild.testfiles)")
    for line in (REPO / "MANIFEST.in").read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "include":
            for name in words[1:]:
                assert (REPO / name).is_file(), name
        elif words[0] == "graft":
            assert (REPO / words[1]).is_dir(), words[1]


@pytest.mark.parametrize("script", [".ci/run", ".ci/package"])
def test_ci_scripts_are_executable_bash_that_stops_on_errors(script):
    text = (REPO / script).read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert (REPO / script).stat().st_mode & 0o111


def test_ci_runs_the_package_checks_after_tox():
    lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    assert "tox" in lines and ".ci/package" in " ".join(lines)
    assert lines.index("tox") < next(i for i, ln in enumerate(lines) if ".ci/package" in ln)


def test_rpmspec_parses_the_spec():
    rpmspec = shutil.which("rpmspec")
    need(rpmspec is not None, "rpmspec (Debian package rpm) is not installed")
    r = subprocess.run([rpmspec, "-P", str(SPEC)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert re.search(rf"^Version: *{re.escape(xlrmrr.__version__)}$", r.stdout, re.M)
    assert re.search(r"^BuildArch: *noarch$", r.stdout, re.M)


def test_readme_install_commands_are_the_ones_ci_runs():
    readme = (REPO / "README.md").read_text()
    package = (REPO / ".ci" / "package").read_text()
    for cmd in ("apt-get build-dep ./", "dpkg-buildpackage -us -uc -b", "rpmspec -P"):
        assert cmd in package, cmd
    assert "sudo apt-get build-dep ./ && dpkg-buildpackage -us -uc -b" in readme
    assert f"sudo apt-get install ../xlrmrr_{xlrmrr.__version__}_all.deb" in readme
    assert f"rpmbuild -ta dist/xlrmrr-{xlrmrr.__version__}.tar.gz" in readme


def test_both_packages_install_docs_at_the_same_place():
    """Debian copies docs/. into /usr/share/doc/xlrmrr (debian/rules); the RPM's %doc of
    docs/* does the same, so the docs' own links and docs/index.md's paths hold on both."""
    assert "cp -r --no-preserve=mode docs/. debian/xlrmrr/usr/share/doc/xlrmrr/" in (
        REPO / "debian" / "rules").read_text()
    assert re.search(r"^%doc README.md docs/\*$", SPEC.read_text(), re.M)
