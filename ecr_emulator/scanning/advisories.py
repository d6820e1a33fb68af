"""Advisories in the OSV format (https://ossf.github.io/osv-schema/), read from a directory of
OSV JSON files (``serve --vuln-db DIR``; the package's ``sample_feed`` by default), and
matched against installed packages.

An advisory names a package by ``affected[].package`` (``ecosystem`` such as ``Debian:12``,
``Alpine:v3.19``, ``PyPI`` or ``npm``, and ``name``) and the affected versions by
``versions`` (exact) and ``ranges`` of ``introduced`` / ``fixed`` / ``last_affected`` /
``limit`` events, ``ECOSYSTEM`` ranges compared the ecosystem's way and ``SEMVER`` ranges
as SemVer (``versions.COMPARATORS``).  A release-qualified ecosystem (``Debian:12``)
applies only to images of that release when the image says which it is.

Severity: ``database_specific.severity`` when the feed gives one (GitHub's MODERATE is
MEDIUM), else the CVSS v3 base score of ``severity[]`` (computed from the vector with the
CVSS v3.1 specification's formulas), else UNDEFINED.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import versions

log = logging.getLogger(__name__)

SAMPLE_FEED = Path(__file__).with_name("sample_feed")
SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "UNDEFINED")
_SEVERITY_NAMES = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH", "NEGLIGIBLE": "INFORMATIONAL"}


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    summary: str
    details: str
    aliases: tuple[str, ...]
    references: tuple[str, ...]
    severity: str
    cvss_vector: str | None
    cvss_score: float | None
    published: str | None
    modified: str | None
    affected: tuple[dict[str, Any], ...] = field(repr=False)

    @property
    def name(self) -> str:
        """What ECR calls a finding: the CVE when the advisory is an alias of one."""
        cves = [alias for alias in (self.id, *self.aliases) if alias.startswith("CVE-")]
        return cves[0] if cves else self.id

    @property
    def uri(self) -> str:
        return self.references[0] if self.references else f"https://osv.dev/vulnerability/{self.id}"


@dataclass(frozen=True, slots=True)
class Match:
    advisory: Advisory
    fixed_in: str | None


class Feed:
    """The advisories of one directory, indexed by (ecosystem, package name)."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else SAMPLE_FEED
        self._index: dict[tuple[str, str], list[Advisory]] = {}
        self.count = 0
        self.updated_at: float | None = None
        for path in sorted(self.directory.rglob("*.json")):
            try:
                advisory = _parse(json.loads(path.read_text()))
            except Exception as error:  # one bad file never costs the feed
                log.warning("vulnerability feed: %s skipped: %r", path, error)
                continue
            self.count += 1
            self.updated_at = max(self.updated_at or 0.0, path.stat().st_mtime)
            for affected in advisory.affected:
                package = affected.get("package") or {}
                ecosystem = str(package.get("ecosystem", "")).split(":", 1)[0]
                key = (ecosystem, _normal_name(ecosystem, str(package.get("name", ""))))
                self._index.setdefault(key, []).append(advisory)

    def matches(
        self, ecosystem: str, release: str | None, name: str, version: str
    ) -> Iterator[Match]:
        """The advisories that affect ``name`` ``version`` of ``ecosystem`` (``release``:
        the distribution release the image says it is, e.g. ``12`` or ``v3.19``)."""
        seen: set[str] = set()
        for advisory in self._index.get((ecosystem, _normal_name(ecosystem, name)), ()):
            if advisory.id in seen:
                continue
            for affected in advisory.affected:
                package = affected.get("package") or {}
                base, _, wanted_release = str(package.get("ecosystem", "")).partition(":")
                if base != ecosystem or _normal_name(base, package.get("name", "")) != _normal_name(
                    ecosystem, name
                ):
                    continue
                if wanted_release and release and wanted_release != release:
                    continue
                try:
                    hit, fixed = _affects(affected, ecosystem, version)
                except Exception:  # a malformed range costs only its advisory
                    log.warning("advisory %s: malformed affected entry skipped", advisory.id)
                    continue
                if hit:
                    seen.add(advisory.id)
                    yield Match(advisory, fixed)
                    break


def _normal_name(ecosystem: str, name: str) -> str:
    """PyPI names compare normalized (PEP 503); others as written."""
    if ecosystem == "PyPI":
        return "-".join(name.lower().replace("_", "-").replace(".", "-").split("-"))
    return name


def _parse(document: dict[str, Any]) -> Advisory:
    if not isinstance(document, dict):
        raise ValueError("an OSV advisory is a JSON object")
    vector, score = _cvss(document.get("severity") or [])
    database = document.get("database_specific")
    named = str(database.get("severity", "") if isinstance(database, dict) else "").upper()
    severity = _SEVERITY_NAMES.get(named, named)
    if severity not in SEVERITIES:
        severity = _severity_of(score) if score is not None else "UNDEFINED"
    return Advisory(
        id=str(document["id"]),
        summary=str(document.get("summary", "")),
        details=str(document.get("details", "")),
        aliases=tuple(str(a) for a in document.get("aliases") or ()),
        references=tuple(
            str(r["url"])
            for r in document.get("references") or ()
            if isinstance(r, dict) and "url" in r
        ),
        severity=severity,
        cvss_vector=vector,
        cvss_score=score,
        published=document.get("published"),
        modified=document.get("modified"),
        affected=tuple(
            a
            for a in document.get("affected") or ()
            if isinstance(a, dict) and isinstance(a.get("package"), dict)
        ),
    )


def _affects(affected: dict[str, Any], ecosystem: str, version: str) -> tuple[bool, str | None]:
    """Whether ``version`` is affected, and the version that fixes it when one is known."""
    compare = versions.COMPARATORS[ecosystem]
    listed = affected.get("versions")
    if isinstance(listed, list) and version in listed:
        return True, _first_fix(affected)
    for range_ in affected.get("ranges") or ():
        kind = range_.get("type")
        if kind not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges name commits, not versions
        order = compare if kind == "ECOSYSTEM" else versions.compare_semver
        try:
            if _in_range(range_.get("events") or (), version, order):
                return True, _first_fix(affected)
        except ValueError:
            continue
    return False, None


def _in_range(events: Iterable[dict[str, str]], version: str, compare) -> bool:
    """OSV's evaluation: walk the events in version order, affected from an ``introduced``
    up to a ``fixed``/``limit`` (excluded) or ``last_affected`` (included)."""
    affected = False
    for event in sorted(events, key=_event_sort_key(compare)):
        if "introduced" in event:
            start = event["introduced"]
            affected = affected or start == "0" or compare(version, start) >= 0
        elif "fixed" in event or "limit" in event:
            end = event.get("fixed") or event.get("limit")
            if affected and compare(version, end) >= 0:
                affected = False
        elif "last_affected" in event and affected:
            affected = compare(version, event["last_affected"]) <= 0
    return affected


def _event_sort_key(compare):
    def value(event: dict[str, str]) -> str:
        return next(iter(event.values()))

    def order(a: dict[str, str], b: dict[str, str]) -> int:
        va, vb = value(a), value(b)
        if va == "0" or vb == "0":
            return (va != "0") - (vb != "0")
        return compare(va, vb)

    return functools.cmp_to_key(order)


def _first_fix(affected: dict[str, Any]) -> str | None:
    for range_ in affected.get("ranges") or ():
        for event in range_.get("events") or ():
            if "fixed" in event:
                return event["fixed"]
    return None


# --- CVSS v3.x base score (FIRST's CVSS v3.1 specification, section 7) ------------------------

_WEIGHTS = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PRIVILEGES = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}


def _roundup(value: float) -> float:
    whole = round(value * 100000)
    if whole % 10000 == 0:
        return whole / 100000.0
    return (math.floor(whole / 10000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float:
    """The base score of a ``CVSS:3.x/AV:N/AC:L/...`` vector (``ValueError`` if malformed)."""
    parts = dict(part.split(":", 1) for part in vector.split("/")[1:])
    scope = parts["S"]
    iss = 1 - (1 - _WEIGHTS["C"][parts["C"]]) * (1 - _WEIGHTS["I"][parts["I"]]) * (
        1 - _WEIGHTS["A"][parts["A"]]
    )
    changed = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15  # the scope changed
    impact = 6.42 * iss if scope == "U" else changed
    exploitability = (
        8.22
        * _WEIGHTS["AV"][parts["AV"]]
        * _WEIGHTS["AC"][parts["AC"]]
        * _PRIVILEGES[scope][parts["PR"]]
        * _WEIGHTS["UI"][parts["UI"]]
    )
    if impact <= 0:
        return 0.0
    total = impact + exploitability if scope == "U" else 1.08 * (impact + exploitability)
    return _roundup(min(total, 10))


def _cvss(entries: Iterable[Any]) -> tuple[str | None, float | None]:
    for entry in entries:
        if isinstance(entry, dict) and str(entry.get("type", "")).startswith("CVSS_V3"):
            vector = str(entry.get("score", ""))
            try:
                return vector, cvss3_base_score(vector)
            except (KeyError, ValueError, IndexError):
                return vector, None
    return None, None


def _severity_of(score: float) -> str:
    if score == 0:
        return "INFORMATIONAL"
    if score < 4:
        return "LOW"
    if score < 7:
        return "MEDIUM"
    if score < 9:
        return "HIGH"
    return "CRITICAL"
