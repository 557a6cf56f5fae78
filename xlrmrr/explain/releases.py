"""Releases: the forms name ranges of X.Y[.Z]; the log's forms together, and the libxl source
lines the messages name, narrow the release that printed a log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xlrmrr.common import XenVersion

if TYPE_CHECKING:
    from xlrmrr.explain.messages import Message

_POINTS = {14: 5, 15: 3, 16: 1}     # the point releases whose libxl prints the new PoD text


def _candidates() -> tuple[tuple[int, int, int], ...]:
    out = []
    for minor in range(6, 23):
        out.append((4, minor, 0))
        if minor in _POINTS:
            out.append((4, minor, _POINTS[minor]))
    return tuple(out)


CANDIDATES = _candidates()


def _bound(text: str, end: bool) -> tuple[int, int, int]:
    parts = [int(x) for x in text.split(".")]
    if len(parts) == 2:
        parts.append(999 if end else 0)
    return tuple(parts)     # type: ignore[return-value]


def release_set(spec: str) -> frozenset:
    """The candidate releases (X.Y.Z tuples) a form's `releases` spec covers."""
    out = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        lo, hi = _bound(first, False), _bound(last or first, True)
        if not last and first.count(".") == 2:
            hi = lo
        out.update(c for c in CANDIDATES if lo <= c <= hi)
    return frozenset(out)


def candidate_of(v: XenVersion) -> tuple[int, int, int]:
    """The candidate that stands for release v (4.14.3 -> 4.14.0, 4.16.2 -> 4.16.1)."""
    point = _POINTS.get(v.minor)     # every modelled release is 4.x
    if point is not None and (v.patch or 0) >= point:
        return (4, v.minor, point)
    return (v.major, v.minor, 0)


def version_for(candidate) -> XenVersion:
    """The XenVersion a candidate (X.Y.Z tuple) stands for: the X.Y.0 candidate of a line with
    a later point candidate stands for the releases up to that point (4.14.0 -> 4.14.4)."""
    maj, minor, patch = candidate
    if minor in _POINTS:
        return XenVersion(maj, minor, _POINTS[minor] - 1 if patch == 0 else patch)
    return XenVersion(maj, minor)


def _label(c: tuple[int, int, int], end: bool) -> str:
    maj, minor, patch = c
    if minor not in _POINTS:
        return f"{maj}.{minor}"
    if not end:
        return f"{maj}.{minor}" if patch == 0 else f"{maj}.{minor}.{patch}"
    return f"{maj}.{minor}.{_POINTS[minor] - 1}" if patch == 0 else f"{maj}.{minor}"


def describe_releases(releases) -> str:
    """'4.6-4.14.4, 4.15.0-4.15.2, 4.16.0' for a set of candidates; a line's point release
    alone reads '4.14.5 and later 4.14.x'."""
    runs: list[list] = []
    for i, c in enumerate(CANDIDATES):
        if c in releases:
            if runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
    out = []
    for a, b in runs:
        first, last = _label(CANDIDATES[a], False), _label(CANDIDATES[b], True)
        if a == b and CANDIDATES[a][2]:
            out.append(f"{first} and later {last}.x")
        elif a == b and CANDIDATES[a][1] in _POINTS:
            first = f"{first}.0"
            out.append(first if first == last else f"{first}-{last}")
        else:
            out.append(first if first == last else f"{first}-{last}")
    return ", ".join(out) or "none"


def fitting_releases(messages) -> frozenset:
    """The candidate releases every recognised message's form is printed by."""
    out = frozenset(CANDIDATES)
    for m in messages:
        out &= release_set(m.form.releases)
    return out


def site_releases(message: Message) -> frozenset | None:
    """The candidate releases whose libxl prints the message at the file, line and function its
    prefix names (xlrmrr/libxl_sites.py, read from the release tags); None when the line has no
    prefix or the rule no table. Empty: no release tag prints it there (a distribution's
    patches or a build between tags)."""
    if message.site is None:
        return None
    from xlrmrr.libxl_sites import SITES

    sites = SITES.get(message.rule.code)
    if sites is None:
        return None
    path, line, func = message.site
    out: set = set()
    for f, fn, first, last, tags in sites:
        if f == path and fn == func and first <= line <= last:
            out.update(_tag_candidates(tags))
    return frozenset(out)


def _tag_candidates(spec: str) -> set:
    from xlrmrr.libxl_sites import TAGS

    out = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        i, j = TAGS.index(first), TAGS.index(last or first)
        for tag in TAGS[i:j + 1]:
            out.add(candidate_of(XenVersion.parse(tag)))
    return out


def located_releases(messages, fitting) -> tuple[frozenset, tuple[Message, ...]]:
    """`fitting` narrowed by the libxl source lines the messages name, and the messages whose
    line no release tag prints them at (not used). When the lines together fit none of
    `fitting` (a patched build, or logs of several releases), `fitting` itself."""
    out = frozenset(fitting)
    unplaced = []
    for m in messages:
        at = site_releases(m)
        if at is None:
            continue
        if not at:
            unplaced.append(m)
            continue
        out &= at
    return (out if out else frozenset(fitting)), tuple(unplaced)
