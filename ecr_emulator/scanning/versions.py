"""How each package ecosystem orders versions, for matching OSV ranges.

Debian follows dpkg's ``verrevcmp`` (Debian Policy 5.6.12: epoch, upstream version,
revision; ``~`` sorts before everything, even the end); Alpine follows apk's rules
(numbers, a letter, ``_alpha`` < ``_beta`` < ``_pre`` < ``_rc`` < none < ``_p``, then
``-rN``); PyPI is PEP 440 through ``packaging`` (pip's own parser); npm is SemVer 2.0
(pre-releases sort before their release, build metadata is ignored).  Each ``compare``
answers -1, 0 or 1; a version it cannot parse raises ``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from packaging.version import InvalidVersion, Version


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's comparison of one part (upstream version or revision)."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = (a[i] > b[j]) - (a[i] < b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _debian_parts(version: str) -> tuple[int, str, str]:
    version = version.strip()
    if not version:
        raise ValueError("empty Debian version")
    # dpkg splits the epoch at the first colon, the revision at the last hyphen
    epoch, _, rest = version.partition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    if not epoch.isdigit() or not upstream:
        raise ValueError(f"not a Debian version: {version!r}")
    return int(epoch), upstream, revision


def compare_debian(a: str, b: str) -> int:
    (ea, ua, ra), (eb, ub, rb) = _debian_parts(a), _debian_parts(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


_APK = re.compile(
    r"^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:-r(\d+))?$"
)
_APK_SUFFIXES = {
    "alpha": 0,
    "beta": 1,
    "pre": 2,
    "rc": 3,
    "": 4,
    "cvs": 5,
    "svn": 6,
    "git": 7,
    "hg": 8,
    "p": 9,
}


def _apk_key(version: str) -> tuple:
    match = _APK.match(version.strip())
    if match is None:
        raise ValueError(f"not an Alpine version: {version!r}")
    numbers, letter, suffixes, revision = match.groups()
    parsed = [
        (_APK_SUFFIXES[name], int(number or 0))
        for name, number in re.findall(r"_([a-z]+)(\d*)", suffixes)
    ] or [(_APK_SUFFIXES[""], 0)]
    return (
        tuple(int(part) for part in numbers.split(".")),
        letter,
        tuple(parsed),
        int(revision or 0),
    )


def compare_alpine(a: str, b: str) -> int:
    ka, kb = _apk_key(a), _apk_key(b)
    return (ka > kb) - (ka < kb)


def compare_pypi(a: str, b: str) -> int:
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion as error:
        raise ValueError(str(error)) from None
    return (va > vb) - (va < vb)


_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _semver_key(version: str) -> tuple:
    match = _SEMVER.match(version.strip())
    if match is None:
        raise ValueError(f"not a SemVer version: {version!r}")
    major, minor, patch, pre = match.groups()
    if pre is None:
        pre_key: tuple = (1,)  # a release sorts after its pre-releases
    else:
        pre_key = (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))
    return int(major), int(minor), int(patch), pre_key


def compare_semver(a: str, b: str) -> int:
    ka, kb = _semver_key(a), _semver_key(b)
    return (ka > kb) - (ka < kb)


# OSV ecosystem name (before any ":release") -> its comparison
COMPARATORS: dict[str, Callable[[str, str], int]] = {
    "Debian": compare_debian,
    "Ubuntu": compare_debian,
    "Alpine": compare_alpine,
    "PyPI": compare_pypi,
    "npm": compare_semver,
}
