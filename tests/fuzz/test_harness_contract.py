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
    ": this is a binary ACPI DMAR table, not acpidump text (--acpidump): give it with --dmar d.txt",
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


def test_length_lie_on_inputs_over_64_kib():
    """The long run stopped on a 70,000-byte acpidump input: its length does not fit the u16
    the mutator wrote it into (struct.error)."""
    import random

    from mutate import length_lie

    data = bytes(70_000)
    for seed in range(200):
        assert len(length_lie(data, random.Random(seed))) == len(data)


def test_dmar_mutations_chained_stay_in_range():
    """Mutations applied to already-mutated tables (structure lengths 0 or 0xFFFF, scopes past
    their structure) wrote values out of u16/u8 range (struct.error, ValueError) and stopped
    the long run; chained here as the long run's inputs can be."""
    import random

    import mutate
    from readers import DMAR_SEEDS

    # seeds that stopped the old mutators, and a range of others
    for i in [1372, 1549, 1659, 1826, 2177, 2342, *range(200)]:
        rng = random.Random(i)
        data = rng.choice(DMAR_SEEDS)
        for _ in range(3):
            data = mutate.mutate_bytes(mutate.dmar_mutate(data, rng), rng)
            if len(data) > 200_000:
                break


def test_json_too_deep_for_json_loads_is_read_without_recursion():
    """cfg --json of a config nested 30,000 deep is valid JSON that json.loads cannot read
    (RecursionError): the long run stopped on it. The harness reads its top-level keys
    without recursion, and still refuses text that is not one object."""
    from harness import _shallow_object

    deep = "[" * 30_000 + "]" * 30_000
    assert _shallow_object('{"a": 1, "b": ' + deep + ', "c": {"d": [1, "x]"]}}') == \
        {"a": None, "b": None, "c": None}
    assert _shallow_object('{"k": "\\"}", "n": -1.5e3, "t": [true, false, null]}') == \
        {"k": None, "n": None, "t": None}
    assert _shallow_object('{"a": 1, "b": ' + deep[:-1] + "}") is None     # unbalanced
    assert _shallow_object('{"a": 1} trailing') is None
    assert _shallow_object('{"a": bogus}') is None
    assert _shallow_object("[" + deep + "]") is None     # an array, not an object
