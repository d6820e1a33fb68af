"""Image scanning: the registry's and repositories' scanning configuration, scans started by
hand (StartImageScan) or by a push, and their findings (DescribeImageScanFindings,
DescribeImages' summary).

A scan reads the image's layers *outside* the state lock (``scanning.inventory``: the
blobs are content-addressed and never change), matches what they install against the
advisories of the ``Scanner``'s feed (``scanning.advisories``), and takes the lock only
to keep the result on the image (``Image.scan``, kept under ``--data-dir`` like every
field) and announce it (``events.ImageScanned``).  On the server scans run on a small
pool of worker threads, so a 1 GiB image holds up no request; in-process they run
before the call that started them returns, so a test reads its findings at once.

What AWS documents and this follows: a basic scan of an image at most once per 24 h
(``LimitExceededException``); an archived image is not scanned
(``ImageArchivedException``); an image index is not scanned itself
(``UnsupportedImageTypeException``: scan the images it lists); scan on push by the
repository's ``scanOnPush`` or by a registry rule (``SCAN_ON_PUSH``, and for ENHANCED
scanning ``CONTINUOUS_SCAN``) whose WILDCARD filter matches the repository's name.
"""

from __future__ import annotations

import concurrent.futures
import datetime as _dt
import json
import logging
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..arns import repository_arn
from ..errors import ServiceError, invalid_parameter
from ..events import ImagePushed, ImageScanned
from ..media_types import INDEX_TYPES
from ..scanning import advisories, inventory
from ..state import Backend, Image, Registry, Repository
from ..wildcard import matches
from . import access, images, storage_classes
from .caller import Caller

log = logging.getLogger(__name__)

BASIC_SCAN_INTERVAL = _dt.timedelta(hours=24)
SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")
DEFAULT_CONFIGURATION: dict[str, Any] = {"scanType": "BASIC", "rules": []}
COMPLETE_DESCRIPTION = "The scan was completed successfully."


# --- configuration ----------------------------------------------------------------------------


def _configuration(registry: Registry | None) -> dict[str, Any]:
    return (registry.scanning_configuration if registry is not None else None) or (
        DEFAULT_CONFIGURATION
    )


def put_registry_configuration(
    caller: Caller, scan_type: str | None, rules: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """PutRegistryScanningConfiguration: BASIC scans on push or by hand; ENHANCED also
    continuously ("Continuous scanning is only available with enhanced scanning").  Both
    members are optional in the model: what is left out stays as it was."""
    if scan_type is None or rules is None:
        current = get_registry_configuration(caller)
        scan_type = scan_type or current["scanType"]
        rules = current["rules"] if rules is None else rules
    for rule in rules:
        if scan_type == "BASIC" and rule["scanFrequency"] == "CONTINUOUS_SCAN":
            raise invalid_parameter(
                "rules.scanFrequency",
                "CONTINUOUS_SCAN is only supported with the ENHANCED scan type",
            )
    frequencies = [rule["scanFrequency"] for rule in rules]
    if len(frequencies) != len(set(frequencies)):
        raise invalid_parameter("rules", "Each scan frequency may appear in one rule only")
    configuration = {"scanType": scan_type, "rules": rules}
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:PutRegistryScanningConfiguration", "*")
        registry.scanning_configuration = configuration
    return configuration


def get_registry_configuration(caller: Caller) -> dict[str, Any]:
    with caller.backend.lock:
        return _configuration(access.own_registry_if_any(caller))


def applied_rule(repository: Repository) -> dict[str, Any] | None:
    """The registry rule whose filters match ``repository``, CONTINUOUS_SCAN before
    SCAN_ON_PUSH before MANUAL (lock held)."""
    configuration = _configuration(repository.registry)
    found = [
        rule
        for rule in configuration["rules"]
        if any(matches(f["filter"], repository.name) for f in rule.get("repositoryFilters", []))
    ]
    order = ("CONTINUOUS_SCAN", "SCAN_ON_PUSH", "MANUAL")
    found.sort(key=lambda rule: order.index(rule["scanFrequency"]))
    return found[0] if found else None


def repository_configuration(repository: Repository) -> dict[str, Any]:
    """BatchGetRepositoryScanningConfiguration's entry for one repository (lock held)."""
    rule = applied_rule(repository)
    frequency = (
        rule["scanFrequency"] if rule else ("SCAN_ON_PUSH" if repository.scan_on_push else "MANUAL")
    )
    return {
        "repositoryArn": repository.arn,
        "repositoryName": repository.name,
        "scanOnPush": repository.scan_on_push or frequency in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN"),
        "scanFrequency": frequency,
        "appliedScanFilters": [
            f
            for f in (rule or {}).get("repositoryFilters", [])
            if matches(f["filter"], repository.name)
        ],
    }


def repository_configurations(
    caller: Caller, names: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    found, failures = [], []
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        for name in dict.fromkeys(names):
            repository = registry.repositories.get(name) if registry else None
            if repository is None:
                failures.append(
                    {
                        "repositoryName": name,
                        "failureCode": "REPOSITORY_NOT_FOUND",
                        "failureReason": "REPOSITORY_NOT_FOUND",
                    }
                )
                continue
            access.authorize(caller, repository, "ecr:BatchGetRepositoryScanningConfiguration")
            found.append(repository_configuration(repository))
    return found, failures


def _scans_on_push(repository: Repository) -> bool:
    rule = applied_rule(repository)
    if rule is not None:
        return rule["scanFrequency"] in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN")
    return repository.scan_on_push


# --- scans ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanJob:
    account: str
    region: str
    repository: str
    digest: str
    started_at: _dt.datetime
    scan_type: str
    layers: tuple[str, ...]


class Scanner:
    """Runs scans for one backend against one advisory feed."""

    def __init__(
        self, backend: Backend, feed: advisories.Feed, *, synchronous: bool, workers: int = 2
    ) -> None:
        self.backend = backend
        self.feed = feed
        self.synchronous = synchronous
        self._pool = (
            None
            if synchronous
            else concurrent.futures.ThreadPoolExecutor(
                workers, thread_name_prefix="ecr-emulator-scan"
            )
        )
        backend.events.subscribe(self._scan_pushed, batches=True)

    def submit(self, job: ScanJob) -> None:
        if self._pool is None:
            self.run(job)
        else:
            self._pool.submit(self.run, job)

    def run(self, job: ScanJob) -> None:
        """Scan ``job``'s layers (no lock held) and keep the result on the image."""
        try:
            found = inventory.read_layers(
                (digest, self._opener(job, digest)) for digest in job.layers
            )
            result = _findings(self.feed, found, job)
            status = "COMPLETE"
        except Exception:  # a scanner bug must not leave the scan IN_PROGRESS forever
            log.exception("scan of %s failed", job.digest)
            result, status = {"findings": [], "packages": []}, "FAILED"
        with self.backend.transaction() as events:
            registry = self.backend.find_registry(job.account, job.region)
            repository = registry.repositories.get(job.repository) if registry else None
            image = repository.images.get(job.digest) if repository else None
            if image is None or not image.scan or image.scan.get("started_at") != job.started_at:
                return  # deleted, or scanned again meanwhile
            counts = _severity_counts(result["findings"])
            image.scan = {
                **image.scan,
                "status": status,
                "description": COMPLETE_DESCRIPTION if status == "COMPLETE" else "The scan failed.",
                "completed_at": self.backend.now(),
                "source_updated_at": _feed_time(self.feed),
                "severity_counts": counts,
                "findings": result["findings"],
            }
            events.append(
                ImageScanned(
                    job.account,
                    job.region,
                    job.repository,
                    job.digest,
                    image.tags,
                    status,
                    tuple(counts.items()),
                )
            )

    def _opener(self, job: ScanJob, digest: str) -> Callable[[], BinaryIO | None]:
        """Opens a layer only if the image's repository holds it: a manifest that merely
        names another account's blob (a pull-through upstream can) learns nothing of it."""

        def open_held() -> BinaryIO | None:
            with self.backend.lock:
                registry = self.backend.find_registry(job.account, job.region)
                repository = registry.repositories.get(job.repository) if registry else None
                if repository is None or not repository.holds_blob(digest):
                    return None
                return self.backend.blobs.open(digest)

        return open_held

    def _scan_pushed(self, batch: list[object]) -> None:
        """Scan on push: each new image of a repository configured for it."""
        for event in batch:
            if not isinstance(event, ImagePushed) or event.media_type in INDEX_TYPES:
                continue
            # looked at without the lock first: most pushes go to repositories that do not
            # scan on push, and they should not pay for a second transaction
            registry = self.backend.find_registry(event.account, event.region)
            repository = registry.repositories.get(event.repository) if registry else None
            if repository is None or not _scans_on_push(repository):
                continue
            with self.backend.transaction():
                registry = self.backend.find_registry(event.account, event.region)
                repository = registry.repositories.get(event.repository) if registry else None
                image = repository.images.get(event.digest) if repository else None
                if image is None or not _scans_on_push(repository):
                    continue
                job = _begin(self.backend, repository, image)
            self.submit(job)


def _begin(backend: Backend, repository: Repository, image: Image) -> ScanJob:
    """Mark ``image`` IN_PROGRESS (lock held) and say what to scan."""
    scan_type = _configuration(repository.registry)["scanType"]
    started = backend.now()
    image.scan = {
        "status": "IN_PROGRESS",
        "description": "",
        "type": scan_type,
        "started_at": started,
    }
    return ScanJob(
        repository.registry.account_id,
        repository.registry.region,
        repository.name,
        image.digest,
        started,
        scan_type,
        _layers(image),
    )


def _layers(image: Image) -> tuple[str, ...]:
    try:
        document = json.loads(image.manifest)
    except ValueError:
        return ()
    return tuple(
        layer["digest"]
        for layer in document.get("layers") or ()
        if isinstance(layer, dict) and isinstance(layer.get("digest"), str)
    )


def start_scan(
    caller: Caller, registry_id: str | None, name: str, image_id: dict[str, str]
) -> tuple[Repository, Image, dict[str, Any]]:
    """StartImageScan: (repository, image, its scan status after the call)."""
    backend = caller.backend
    scanner = scanner_for(backend)
    with backend.transaction():
        repository = access.repository(caller, registry_id, name, "ecr:StartImageScan")
        found = images.resolve_image_id(repository, image_id)
        if isinstance(found, images.ImageFailure):
            raise images.failure_error(repository, found)
        image = found
        if image.media_type in INDEX_TYPES or image.artifact_media_type not in (
            None,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.oci.image.config.v1+json",
        ):
            raise ServiceError(
                "UnsupportedImageTypeException",
                "The image is of a type that cannot be scanned (an image index or an "
                "artifact); scan the images it lists",
            )
        if not storage_classes.pullable(image, backend.now()):
            raise ServiceError(
                "ImageArchivedException",
                f"The image with digest '{image.digest}' is archived and cannot be scanned.",
            )
        last = image.scan
        if (
            _configuration(repository.registry)["scanType"] == "BASIC"
            and last
            and backend.now() - last["started_at"] < BASIC_SCAN_INTERVAL
        ):
            raise ServiceError(
                "LimitExceededException",
                "The scan quota per image has been exceeded. Wait and try again.",
            )
        job = _begin(backend, repository, image)
    scanner.submit(job)
    return repository, image, _status(image)


def _status(image: Image) -> dict[str, Any]:
    scan = image.scan or {}
    status = {"status": scan.get("status")}
    if scan.get("description"):
        status["description"] = scan["description"]
    return status


def findings(
    caller: Caller, registry_id: str | None, name: str, image_id: dict[str, str]
) -> tuple[Repository, Image, dict[str, Any]]:
    """DescribeImageScanFindings: (repository, image, its kept scan)."""
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:DescribeImageScanFindings")
        found = images.resolve_image_id(repository, image_id)
        if isinstance(found, images.ImageFailure):
            raise images.failure_error(repository, found)
        if not found.scan:
            digest = image_id.get("imageDigest", "null")
            tag = image_id.get("imageTag", "null")
            raise ServiceError(
                "ScanNotFoundException",
                f"Image scan does not exist for the image with '{{imageDigest:'{digest}', "
                f"imageTag:'{tag}'}}' in the repository with name '{repository.name}' in the "
                f"registry with id '{repository.registry.account_id}'",
            )
        return repository, found, found.scan


def summary(image: Image) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """DescribeImages' ``imageScanStatus`` and ``imageScanFindingsSummary`` of an image."""
    scan = image.scan
    if not scan:
        return None, None
    if scan.get("status") != "COMPLETE":
        return _status(image), None
    return _status(image), {
        "imageScanCompletedAt": scan["completed_at"],
        "vulnerabilitySourceUpdatedAt": scan.get("source_updated_at"),
        "findingSeverityCounts": scan.get("severity_counts") or {},
    }


# --- findings ---------------------------------------------------------------------------------


def _findings(feed: advisories.Feed, found: inventory.Inventory, job: ScanJob) -> dict[str, Any]:
    """The findings of one scan, worst first, as plain data (kept on the image)."""
    results = []
    for package in found.packages:
        release = found.release.get(package.ecosystem)
        if package.ecosystem not in advisories.versions.COMPARATORS:
            continue
        for match in feed.matches(package.ecosystem, release, package.source, package.version):
            advisory = match.advisory
            results.append(
                {
                    "id": advisory.id,
                    "name": advisory.name,
                    "title": advisory.summary or advisory.name,
                    "description": advisory.details or advisory.summary,
                    "uri": advisory.uri,
                    "references": list(advisory.references),
                    "aliases": list(advisory.aliases),
                    "severity": advisory.severity,
                    "cvss_vector": advisory.cvss_vector,
                    "cvss_score": advisory.cvss_score,
                    "package": package.name,
                    "version": package.version,
                    "ecosystem": package.ecosystem,
                    "manager": package.manager,
                    "path": package.path,
                    "layer": package.layer,
                    "arch": package.arch,
                    "fixed_in": match.fixed_in,
                    "published": advisory.published,
                    "modified": advisory.modified,
                }
            )
    results.sort(key=lambda f: (SEVERITY_ORDER.index(f["severity"]), f["name"], f["package"]))
    return {"findings": results}


def _severity_counts(found: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in found:
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    return counts


def _feed_time(feed: advisories.Feed) -> _dt.datetime | None:
    if feed.updated_at is None:
        return None
    return _dt.datetime.fromtimestamp(feed.updated_at, _dt.timezone.utc)


def basic_finding(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding in basic scanning's ``ImageScanFinding`` shape."""
    attributes = [
        {"key": "package_name", "value": finding["package"]},
        {"key": "package_version", "value": finding["version"]},
    ]
    if finding.get("cvss_vector"):
        attributes.append({"key": "CVSS3_VECTOR", "value": finding["cvss_vector"]})
    if finding.get("cvss_score") is not None:
        attributes.append({"key": "CVSS3_SCORE", "value": str(finding["cvss_score"])})
    return {
        "name": finding["name"],
        "description": finding["description"],
        "uri": finding["uri"],
        "severity": finding["severity"],
        "attributes": attributes,
    }


def enhanced_finding(
    finding: dict[str, Any], repository: Repository, image: Image, scan: dict[str, Any]
) -> dict[str, Any]:
    """A finding in Amazon Inspector's shape (``EnhancedImageScanFinding``)."""
    account, region = repository.registry.account_id, repository.registry.region
    finding_id = uuid.uuid5(
        uuid.NAMESPACE_URL, f"{image.digest}/{finding['id']}/{finding['package']}"
    )
    cvss = []
    if finding.get("cvss_vector"):
        version = finding["cvss_vector"].split("/")[0].removeprefix("CVSS:")
        cvss.append(
            {
                "baseScore": finding.get("cvss_score") or 0.0,
                "scoringVector": finding["cvss_vector"],
                "source": "OSV",
                "version": version,
            }
        )
    result: dict[str, Any] = {
        "awsAccountId": account,
        "description": finding["description"],
        "findingArn": f"arn:aws:inspector2:{region}:{account}:finding/{finding_id.hex}",
        "firstObservedAt": scan["completed_at"],
        "lastObservedAt": scan["completed_at"],
        "packageVulnerabilityDetails": {
            "cvss": cvss,
            "referenceUrls": finding["references"],
            "relatedVulnerabilities": [a for a in finding["aliases"] if a != finding["name"]],
            "source": "OSV",
            "sourceUrl": finding["uri"],
            "vendorSeverity": finding["severity"],
            "vulnerabilityId": finding["name"],
            "vulnerablePackages": [
                {
                    "name": finding["package"],
                    "version": finding["version"],
                    "packageManager": finding["manager"],
                    "filePath": finding["path"],
                    "sourceLayerHash": finding["layer"],
                    **({"arch": finding["arch"]} if finding.get("arch") else {}),
                    **({"fixedInVersion": finding["fixed_in"]} if finding.get("fixed_in") else {}),
                }
            ],
        },
        "remediation": {
            "recommendation": {
                "text": f"Upgrade {finding['package']} to {finding['fixed_in']} or later."
                if finding.get("fixed_in")
                else "No fixed version is known."
            }
        },
        "resources": [
            {
                "id": f"{repository_arn(account, region, repository.name)}/{image.digest}",
                "type": "AWS_ECR_CONTAINER_IMAGE",
                "details": {
                    "awsEcrContainerImage": {
                        "imageHash": image.digest,
                        "imageTags": list(image.tags),
                        "registry": account,
                        "repositoryName": repository.name,
                        "pushedAt": image.pushed_at,
                    }
                },
            }
        ],
        "severity": finding["severity"],
        "status": "ACTIVE",
        "title": f"{finding['name']} - {finding['package']}",
        "type": "PACKAGE_VULNERABILITY",
        "updatedAt": scan["completed_at"],
        "fixAvailable": "YES" if finding.get("fixed_in") else "NO",
        "exploitAvailable": "NO",
    }
    if finding.get("cvss_score") is not None:
        result["score"] = finding["cvss_score"]
        result["scoreDetails"] = {
            "cvss": {
                "score": finding["cvss_score"],
                "scoreSource": "OSV",
                "scoringVector": finding["cvss_vector"],
                "version": cvss[0]["version"],
                "adjustments": [],
            }
        }
    return result


# --- one scanner per backend ------------------------------------------------------------------

_SCANNERS: weakref.WeakKeyDictionary[Backend, Scanner] = weakref.WeakKeyDictionary()
_SCANNERS_LOCK = threading.Lock()


def scanner_for(
    backend: Backend, vuln_db: str | Path | None = None, *, synchronous: bool | None = None
) -> Scanner:
    """The scanner of ``backend``, made on first use: ``vuln_db`` a directory of OSV files
    (the sample feed when None); ``synchronous`` scans in the calling thread (in-process)."""
    with _SCANNERS_LOCK:
        found = _SCANNERS.get(backend)
        if found is None:
            feed = advisories.Feed(vuln_db)
            found = _SCANNERS[backend] = Scanner(backend, feed, synchronous=bool(synchronous))
        return found


def resume(backend: Backend) -> int:
    """Start again the scans a restart interrupted (IN_PROGRESS in a data directory)."""
    scanner = scanner_for(backend)
    jobs = []
    with backend.transaction():
        for registry in backend.registries.values():
            for repository in registry.repositories.values():
                for image in repository.images.values():
                    if image.scan and image.scan.get("status") == "IN_PROGRESS":
                        jobs.append(_begin(backend, repository, image))
    for job in jobs:
        scanner.submit(job)
    return len(jobs)
