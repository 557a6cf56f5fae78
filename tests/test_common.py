import pytest

from xlrmrr.common import InputError, Sbdf, XenVersion, size_str
from xlrmrr.host.model import Host, Rmrr, reserved_device_memory_map


def test_sbdf_parse_and_print():
    s = Sbdf.parse("0000:00:14.0")
    assert (s.seg, s.bus, s.dev, s.fn) == (0, 0, 0x14, 0)
    assert str(s) == "0000:00:14.0"
    assert s.devfn == 0xA0 and s.bdf == 0xA0
    assert Sbdf.parse("01:1f.7").value == 0x01FF
    assert Sbdf.from_bdf(1, 0x01FF) == Sbdf(1, 1, 0x1F, 7)
    for bad in ("00:20.0", "0:0:0:0.0", "00:14", "00:14.8", "zz:00.0"):
        with pytest.raises(ValueError):
            Sbdf.parse(bad)


def test_xen_version_range():
    assert XenVersion.parse("4.17") == XenVersion(4, 17)
    assert XenVersion.parse("4.17.7") < XenVersion(4, 18)
    for bad in ("4.5", "5.0", "four", "4", "", "4.16."):
        with pytest.raises(InputError):
            XenVersion.parse(bad)


def test_size_str():
    assert size_str(80 << 10) == "80 KiB"
    assert size_str(0x2800000) == "40 MiB"
    assert size_str(3 << 29) == "1.5 GiB"


def test_rdm_query_order_and_dedup():
    """vtd/dmar.c:intel_iommu_get_reserved_device_memory and common/memory.c:
    get_reserved_device_memory: list order, once per RMRR, per-device filter, the BDF-0 stop,
    page rounding."""
    igd, xhci, other = Sbdf(0, 0, 2, 0), Sbdf(0, 0, 0x14, 0), Sbdf(0, 0, 0x1D, 0)
    host = Host(rmrrs=(
        Rmrr(0xAD000000, 0xAF7FFFFF, 0, (igd,), 1),
        Rmrr(0xAB80A000, 0xAB81DFFF, 0, (xhci, other), 2),
        Rmrr(0x1000, 0x1FFF, 0, (Sbdf(0, 0, 0, 0), xhci), 2),
    ))
    assert reserved_device_memory_map(host) == ((0xAD000, 0x2800), (0xAB80A, 0x14))
    assert reserved_device_memory_map(host, other) == ((0xAB80A, 0x14),)
    assert reserved_device_memory_map(host, Sbdf(0, 3, 0, 0)) == ()
    assert Rmrr(0x1000, 0x1800, 0, (xhci,), 1).nr_pages == 1
    # Xen's formula on an inclusive end: [0x1800, 0x2000] touches pages 1 and 2 but counts as 1.
    assert Rmrr(0x1800, 0x2000, 0, (xhci,), 1).nr_pages == 1
    assert Rmrr(0x1800, 0x2FFF, 0, (xhci,), 1).nr_pages == 2
    assert reserved_device_memory_map(Host(rmrrs=host.rmrrs, vtd_enabled=False)) == ()


def test_xen_version_point_release():
    v = XenVersion.parse("4.16.1")
    assert (v.major, v.minor, v.patch) == (4, 16, 1) and str(v) == "4.16.1"
    # The point release takes no part in comparisons: every X.Y check elsewhere holds.
    assert v == XenVersion(4, 16) and XenVersion(4, 16) <= v <= XenVersion(4, 16)
    assert XenVersion.parse("4.17.7+13-g2445b30a44").patch == 7
    assert XenVersion.parse("4.16").patch is None and str(XenVersion.parse("4.16")) == "4.16"
    fix = ((4, 14, 5), (4, 15, 3), (4, 16, 1), (4, 17, 0))
    # e45ad0b1b0 is in RELEASE-4.17.0 and was backported to 4.14.5, 4.15.3, 4.16.1 (git tag --contains).
    for text, has in (("4.13.9", False), ("4.14", False), ("4.14.4", False), ("4.14.5", True),
                      ("4.15.2", False), ("4.15.3", True), ("4.16", False), ("4.16.0", False),
                      ("4.16.1", True), ("4.17", True), ("4.22", True)):
        assert XenVersion.parse(text).at_least(*fix) is has, text


def test_xen_version_from_sysfs():
    """/sys/hypervisor/version/extra is Xen's extraversion: ".5" on 4.14.5, ".1-pre" on a
    4.16.1 pre-release, "-unstable" on a development tree (no point release)."""
    for extra, want in ((".5\n", "4.14.5"), (".1-pre", "4.14.1"), ("-unstable", "4.14"),
                        ("", "4.14"), (None, "4.14"), (".x", "4.14")):
        assert str(XenVersion.from_sysfs("4\n", "14\n", extra)) == want
    assert XenVersion.from_sysfs("4", "14", ".5").at_least((4, 14, 5))
    assert not XenVersion.from_sysfs("4", "3").modelled
    with pytest.raises(ValueError):
        XenVersion.from_sysfs("4", "")


def test_running_xen_version_reads_extra(monkeypatch):
    """running_xen_version and the snapshot collector share XenVersion.from_sysfs."""
    import builtins
    import io

    from xlrmrr.cli import running_xen_version

    files = {"/sys/hypervisor/version/major": "4\n", "/sys/hypervisor/version/minor": "14\n",
             "/sys/hypervisor/version/extra": ".5\n"}
    real_open = builtins.open

    def fake_open(path, *a, **k):
        if str(path).startswith("/sys/hypervisor/"):
            if path not in files:
                raise FileNotFoundError(path)
            return io.StringIO(files[path])
        return real_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    assert str(running_xen_version()) == "4.14.5"
    files["/sys/hypervisor/version/minor"] = "3\n"
    assert running_xen_version() is None
    del files["/sys/hypervisor/version/minor"]
    assert running_xen_version() is None
