"""The harness's own reading of an exit-2 error line: what counts as naming the input and where
in it (the contract of tests/fuzz/README.md). Checked both ways, so the fuzz runs can fail."""

from __future__ import annotations

import pytest
from harness import _LOCATOR, _whole_file


def named(rest: str) -> bool:
    return bool(_LOCATOR.search(rest)) or _whole_file(rest)


@pytest.mark.parametrize("rest", [
    ":12: syntax error, unexpected ']'",
    ": xen_version: '4.17[[[' is not a Xen release such as 4.17 or 4.16.1",
    ": devices[3].sbdf: expected a string",
    ": e820[2].type: 7 is not an e820 type",
    ": table Length 0x30 at offset 0x4 is larger than the 0x28 bytes available",
    ": member host.json is not a regular file of at most 4 MiB",
    ": xl refuses this config: Domain name must be specified. (xl stops here ...)",
    ": no RMRR line: the host's RMRRs are unknown",
])
def test_located_or_whole_file_errors_count_as_named(rest):
    assert named(rest), rest


@pytest.mark.parametrize("rest", [
    ": something is wrong",
    ": the value 'memory' is bad",                   # a key in prose, not a path after the file
    " xen_version: '4.17' is bad",                   # not right after the file name
])
def test_errors_without_a_location_are_unnamed(rest):
    assert not named(rest), rest
