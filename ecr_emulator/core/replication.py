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
        self._inside = threading.local()  # a replica's own push is not replicated again
        backend.events.subscribe(self._pushed, batches=True)

    def _pushed(self, batch: list[object]) -> None:
        if getattr(self._inside, "job", False):
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
            if self._pool is None:
                self.run(job)
            else:
                self._pool.submit(self.run, job)

    def run(self, job: ReplicationJob) -> None:
        status, failure = "COMPLETE", None
        self._inside.job = True
        try:
            failure = _replicate(self.backend, job)
        except ServiceError as error:  # a destination that refuses the image
            failure = error.code
        finally:
            self._inside.job = False
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


def _replicate(backend: Backend, job: ReplicationJob) -> str | None:
    """Copy one image to one destination; the failure code, or None when it is there."""
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
