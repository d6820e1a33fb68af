"""Replication: images pushed into a repository that a registry's replication rules match are
copied into the destination registries (other regions, other accounts) of the same
emulator, as the user guide's "Private image replication" describes:

- a rule's ``repositoryFilters`` (PREFIX_MATCH) pick the repositories, none means all;
- the destination repository is created when missing, through a repository creation
  template that applies to REPLICATION, else with default settings (a source's policies
  and settings are not copied);
- across accounts the destination registry's policy must allow ``ecr:ReplicateImage`` to
  the source account (else the destination's status is FAILED,
  ``failureCode`` ``REPLICATION_ACCESS_DENIED``... see ``_FAILURES``);
- deletes are not replicated, and a tag that an IMMUTABLE destination already has
  elsewhere leaves the replica untagged.

Blobs live once in the emulator's content-addressed store, so a replica links the same
bytes into the destination repository rather than copying them.  Replication runs after
the push's change is committed, outside its lock (on a worker thread on the server,
before the push returns in-process); ``DescribeImageReplicationStatus`` reports each
destination: IN_PROGRESS, then COMPLETE or FAILED.
"""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from ..arns import repository_arn
from ..errors import ServiceError, invalid_parameter
from ..events import ImagePushed, TagMoved
from ..state import Backend, Image, Repository
from . import access, creation_templates, images, repositories
from .caller import Caller
from .iam import Decision

MAX_DESTINATIONS = 25  # "up to 25 unique destinations across all rules" (user guide)


# --- configuration ----------------------------------------------------------------------------


def put_configuration(caller: Caller, configuration: dict[str, Any]) -> dict[str, Any]:
    """PutReplicationConfiguration: ECR's checks, then the rules replace the old ones."""
    rules = configuration.get("rules") or []
    destinations = set()
    for rule in rules:
        for destination in rule["destinations"]:
            key = (destination["region"], destination["registryId"])
            if key == (caller.region, caller.account):
                raise invalid_parameter(
                    "replicationConfiguration",
                    "Replication destination cannot be the same as the source registry",
                )
            destinations.add(key)
        for repository_filter in rule.get("repositoryFilters") or ():
            if repository_filter["filterType"] != "PREFIX_MATCH":
                raise invalid_parameter("filterType", "Only PREFIX_MATCH is supported")
    if len(destinations) > MAX_DESTINATIONS:
        raise invalid_parameter(
            "replicationConfiguration",
            f"A replication configuration may name at most {MAX_DESTINATIONS} destinations",
        )
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:PutReplicationConfiguration", "*")
        registry.replication_rules = [dict(rule) for rule in rules]
    return {"rules": rules}


def _destinations(repository: Repository) -> list[tuple[str, str]]:
    """(region, account) of every destination the registry's rules give ``repository``."""
    found: list[tuple[str, str]] = []
    for rule in repository.registry.replication_rules:
        filters = rule.get("repositoryFilters") or ()
        if filters and not any(repository.name.startswith(f["filter"]) for f in filters):
            continue
        for destination in rule["destinations"]:
            key = (destination["region"], destination["registryId"])
            if key not in found:
                found.append(key)
    return found


# --- replicating ------------------------------------------------------------------------------

# Why a destination failed, as ECR's ``ReplicationError`` enum names it.
_FAILURES = {"access": "REPLICATION_ACCESS_DENIED"}


@dataclass(frozen=True, slots=True)
class ReplicationJob:
    account: str
    region: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    destination: tuple[str, str]  # (region, account)


class Replicator:
    """Copies pushed images to their destinations for one backend."""

    def __init__(self, backend: Backend, *, synchronous: bool) -> None:
        self.backend = backend
        self._pool = (
            None
            if synchronous
            else concurrent.futures.ThreadPoolExecutor(
                2, thread_name_prefix="ecr-emulator-replicate"
            )
        )
        backend.events.subscribe(self._pushed, batches=True)

    def _pushed(self, batch: list[object]) -> None:
        if getattr(_replicating, "now", False):  # a replica's own push is not replicated again
            return
        pushed = {
            (e.account, e.region, e.repository, e.digest)
            for e in batch
            if isinstance(e, ImagePushed | TagMoved)
        }
        jobs: list[ReplicationJob] = []
        for account, region, name, digest in pushed:
            registry = self.backend.find_registry(account, region)
            if registry is None or not registry.replication_rules:
                continue  # the common case, looked at without the lock
            with self.backend.transaction():
                repository = registry.repositories.get(name)
                image = repository.images.get(digest) if repository else None
                if image is None:
                    continue
                for destination in _destinations(repository):
                    _set_status(image, destination, "IN_PROGRESS")
                    jobs.append(
                        ReplicationJob(account, region, name, digest, image.tags, destination)
                    )
        for job in jobs:
            self.submit(self.run, job)

    def submit(self, function: Any, *args: Any) -> None:
        """Run ``function(*args)`` on a worker (the server), or now (in-process)."""
        if self._pool is None:
            function(*args)
        else:
            self._pool.submit(function, *args)

    def run(self, job: ReplicationJob) -> None:
        status, failure = "COMPLETE", None
        try:
            failure = _replicate(self.backend, job)
        except ServiceError as error:  # a destination that refuses the image
            failure = error.code
        if failure is not None:
            status = "FAILED"
        with self.backend.transaction():
            registry = self.backend.find_registry(job.account, job.region)
            repository = registry.repositories.get(job.repository) if registry else None
            image = repository.images.get(job.digest) if repository else None
            if image is not None:
                _set_status(image, job.destination, status, failure)


def _set_status(
    image: Image, destination: tuple[str, str], status: str, failure: str | None = None
) -> None:
    region, account = destination
    entry = {"region": region, "registryId": account, "status": status}
    if failure:
        entry["failureCode"] = failure
    image.replication = {**(image.replication or {}), f"{region}/{account}": entry}


_replicating = threading.local()


def _replicate(backend: Backend, job: ReplicationJob) -> str | None:
    """Copy one image to one destination; the failure code, or None when it is there."""
    _replicating.now = True
    try:
        return _copy(backend, job)
    finally:
        _replicating.now = False


def _copy(backend: Backend, job: ReplicationJob) -> str | None:
    region, account = job.destination
    source = Caller(backend, job.account, job.region)
    with backend.transaction():
        registry = backend.find_registry(job.account, job.region)
        repository = registry.repositories.get(job.repository) if registry else None
        image = repository.images.get(job.digest) if repository else None
        if image is None or repository is None:
            return None  # deleted meanwhile: nothing to copy
        destination_registry = backend.find_registry(account, region)
        if account != job.account:
            arn = repository_arn(account, region, job.repository)
            allowed = destination_registry is not None and (
                access.decide(source, destination_registry, "ecr:ReplicateImage", arn, None)
                is Decision.ALLOW
            )
            if not allowed:
                return _FAILURES["access"]
        owner = Caller(backend, account, region)
        target_registry = backend.ensure_registry(account, region)
        target = target_registry.repositories.get(job.repository)
        if target is None:
            template = creation_templates.template_for(
                target_registry, job.repository, "REPLICATION"
            )
            if template is not None:
                target = creation_templates.create_from_template(
                    owner, target_registry, job.repository, template
                )
            else:
                target = repositories.create(owner, account, job.repository)
        for digest in set(image.blob_digests):
            if repository.holds_blob(digest) and backend.blobs.exists(digest):
                target.link_blob(digest)
        tags = [
            tag
            for tag in job.tags
            if images.tag_may_move(target, tag, image.digest)  # an immutable tag stays
        ]
        images.put_image(
            owner,
            account,
            job.repository,
            image.manifest,
            media_type=image.media_type,
            tags=tags,
            strict=False,
            idempotent=True,
        )
    return None


def statuses(
    caller: Caller, registry_id: str | None, name: str, image_id: dict[str, str]
) -> tuple[Image, list[dict[str, Any]]]:
    """DescribeImageReplicationStatus: the image and one status per destination."""
    with caller.backend.lock:
        repository = access.repository(
            caller, registry_id, name, "ecr:DescribeImageReplicationStatus"
        )
        found = images.resolve_image_id(repository, image_id)
        if isinstance(found, images.ImageFailure):
            raise images.failure_error(repository, found)
        return found, list((found.replication or {}).values())


_REPLICATORS: weakref.WeakKeyDictionary[Backend, Replicator] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def replicator_for(backend: Backend, *, synchronous: bool = False) -> Replicator:
    """The replicator of ``backend``, started once (the server and the mock call this)."""
    with _LOCK:
        found = _REPLICATORS.get(backend)
        if found is None:
            found = _REPLICATORS[backend] = Replicator(backend, synchronous=synchronous)
        return found


# --- backfill ---------------------------------------------------------------------------------

MAX_BACKFILLS_IN_PROGRESS = 10  # "at most 10 replication backfills in progress" (API reference)
_RUNNING = ("PREPARING", "IN_PROGRESS", "STOPPING")


def _backfill_not_found(backfill_id: str) -> ServiceError:
    return ServiceError(
        "ReplicationBackfillNotFoundException",
        f"The replication backfill with id '{backfill_id}' does not exist",
    )


def start_backfill(caller: Caller, destination: dict[str, str]) -> dict[str, Any]:
    """StartReplicationBackfill: copy the images already in the repositories the rules give
    ``destination`` (which the configuration must name); the backfill's record."""
    backend = caller.backend
    key = (destination["region"], destination["registryId"])
    with backend.transaction():
        registry = access.own_registry(caller, None, "ecr:StartReplicationBackfill", "*")
        configured = {
            (d["region"], d["registryId"])
            for rule in registry.replication_rules
            for d in rule["destinations"]
        }
        if key not in configured:
            raise invalid_parameter(
                "destination", "The destination is not in the registry's replication configuration"
            )
        running = [b for b in registry.backfills.values() if b["status"] in _RUNNING]
        if any(b["destination"]["region"] == key[0] for b in running):
            raise ServiceError(
                "ReplicationBackfillInProgressException",
                f"A replication backfill to {key[0]} is already in progress",
            )
        if len(running) >= MAX_BACKFILLS_IN_PROGRESS:
            raise ServiceError(
                "LimitExceededException",
                f"A registry can have at most {MAX_BACKFILLS_IN_PROGRESS} replication backfills "
                "in progress",
            )
        backfill_id = str(uuid.uuid4())
        jobs = [
            ReplicationJob(
                registry.account_id, registry.region, repository.name, image.digest, image.tags, key
            )
            for repository in registry.repositories.values()
            if key in _destinations(repository)
            for image in repository.images.values()
        ]
        record = {
            "replicationBackfillId": backfill_id,
            "destination": {"region": key[0], "registryId": key[1]},
            "status": "IN_PROGRESS",
            "startedAt": backend.now(),
            "progress": {
                "totalReplicationCount": len(jobs),
                "completedReplicationCount": 0,
                "failedReplicationCount": 0,
            },
            "results": [],
        }
        registry.backfills = {**registry.backfills, backfill_id: record}
    account, region = caller.account, caller.region
    replicator_for(backend).submit(_run_backfill, backend, account, region, backfill_id, jobs)
    with backend.lock:
        return dict(backend.find_registry(account, region).backfills[backfill_id])


def _run_backfill(
    backend: Backend, account: str, region: str, backfill_id: str, jobs: list[ReplicationJob]
) -> None:
    results = []
    completed = failed = 0
    stopped = False
    for job in jobs:
        with backend.lock:
            record = backend.find_registry(account, region).backfills.get(backfill_id)
            if record is None or record["status"] == "STOPPING":
                stopped = True
                break
        try:
            failure = _replicate(backend, job)
        except ServiceError as error:
            failure = error.code
        result = {
            "repositoryName": job.repository,
            "imageId": {"imageDigest": job.digest},
            "status": "FAILED" if failure else "COMPLETE",
        }
        if failure:
            result["failureCode"] = failure
            failed += 1
        else:
            completed += 1
        results.append(result)
        with backend.transaction():
            registry = backend.find_registry(account, region)
            record = registry.backfills.get(backfill_id)
            if record is not None:
                progress = {
                    **record["progress"],
                    "completedReplicationCount": completed,
                    "failedReplicationCount": failed,
                }
                registry.backfills = {
                    **registry.backfills,
                    backfill_id: {**record, "progress": progress},
                }
    with backend.transaction():
        registry = backend.find_registry(account, region)
        record = registry.backfills.get(backfill_id)
        if record is None:
            return
        status = (
            "STOPPED"
            if stopped or record["status"] == "STOPPING"
            else ("FAILED" if jobs and failed == len(jobs) else "COMPLETE")
        )
        registry.backfills = {
            **registry.backfills,
            backfill_id: {**record, "status": status, "endedAt": backend.now(), "results": results},
        }


def stop_backfill(caller: Caller, backfill_id: str) -> dict[str, Any]:
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:StopReplicationBackfill", "*")
        record = registry.backfills.get(backfill_id)
        if record is None:
            raise _backfill_not_found(backfill_id)
        if record["status"] not in ("PREPARING", "IN_PROGRESS"):
            raise ServiceError(
                "ReplicationBackfillInvalidStatusException",
                f"The replication backfill '{backfill_id}' is {record['status']} and cannot be stopped",
            )
        record = {**record, "status": "STOPPING"}
        registry.backfills = {**registry.backfills, backfill_id: record}
        return record


def backfills(caller: Caller) -> list[dict[str, Any]]:
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        found = list(registry.backfills.values()) if registry is not None else []
    return sorted(found, key=lambda b: b["startedAt"])


def backfill(caller: Caller, backfill_id: str) -> dict[str, Any]:
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        record = registry.backfills.get(backfill_id) if registry is not None else None
        if record is None:
            raise _backfill_not_found(backfill_id)
        return record
