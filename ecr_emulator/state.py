"""The one state model behind every way of running the emulator.

``Backend`` → ``Registry`` (account, region) → ``Repository`` → ``Image``.
Repositories index images by digest and tags by name, so lookups never scan.
These classes hold data and keep their indexes consistent; the rules of ECR
(what may be tagged, what is an error) live in ``operations``.  One re-entrant
lock per backend serialises changes coming from threaded servers.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import hashlib
import secrets
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .blobstore import BlobStore, MemoryBlobStore
from .clock import Clock, SystemClock
from .errors import repository_not_found
from .identity import dns_suffix_for, partition_for


class ArrivalOrder:
    """Keys in arrival order at stable positions, so a page of a listing resumes where the
    last one stopped instead of walking everything before it (nextToken holds a position).

    Removal leaves a hole; holes are squeezed out once they outnumber the keys.  That
    bumps ``generation`` and remembers where the survivors stood, so a position from
    before the last few squeezes still finds its place.
    """

    __slots__ = ("_keys", "_positions", "_squeezes", "generation")
    REMEMBERED_SQUEEZES = 8

    def __init__(self) -> None:
        self._keys: list[str | None] = []
        self._positions: dict[str, int] = {}
        # per squeeze, oldest first: where the keys that survived it stood before
        self._squeezes: deque[list[int]] = deque(maxlen=self.REMEMBERED_SQUEEZES)
        self.generation = 0

    def add(self, key: str) -> None:
        self._positions[key] = len(self._keys)
        self._keys.append(key)

    def discard(self, key: str) -> None:
        position = self._positions.pop(key, None)
        if position is None:
            return
        self._keys[position] = None
        if len(self._keys) > 64 and len(self._keys) > 2 * len(self._positions):
            survivors = [i for i, k in enumerate(self._keys) if k is not None]
            self._squeezes.append(survivors)
            self._keys = [self._keys[i] for i in survivors]
            self._positions = {k: i for i, k in enumerate(self._keys)}  # type: ignore[misc]
            self.generation += 1

    def current_position(self, position: int, generation: int) -> int | None:
        """Where ``position`` of ``generation`` is now (None when too old to tell)."""
        missed = self.generation - generation
        if missed < 0 or missed > len(self._squeezes):
            return None
        for survivors in list(self._squeezes)[len(self._squeezes) - missed :]:
            position = bisect.bisect_left(survivors, position)
        return position

    def key_at(self, position: int) -> str | None:
        return self._keys[position] if position < len(self._keys) else None

    def starting_at(self, position: int) -> Iterator[tuple[int, str]]:
        keys = self._keys
        for index in range(position, len(keys)):
            key = keys[index]
            if key is not None:
                yield index, key


@dataclass(slots=True, eq=False)
class Image:
    """One manifest stored in one repository, with the tags that point at it."""

    digest: str
    manifest: str
    media_type: str
    size: int
    pushed_at: _dt.datetime
    artifact_media_type: str | None = None
    subject_digest: str | None = None
    blob_digests: tuple[str, ...] = ()
    child_digests: tuple[str, ...] = ()
    tags: list[str] = field(default_factory=list)
    last_pulled_at: _dt.datetime | None = None


@dataclass(slots=True, eq=False)
class Repository:
    """A repository with its settings and two indexes: digest → image, tag → digest."""

    registry: Registry
    name: str
    created_at: _dt.datetime
    tag_mutability: str = "MUTABLE"
    tag_mutability_exclusions: list[dict[str, str]] = field(default_factory=list)
    scan_on_push: bool = False
    encryption: dict[str, str] = field(default_factory=lambda: {"encryptionType": "AES256"})
    resource_tags: dict[str, str] = field(default_factory=dict)
    policy_text: str | None = None
    images: dict[str, Image] = field(default_factory=dict)
    image_order: ArrivalOrder = field(default_factory=ArrivalOrder)
    tag_index: dict[str, str] = field(default_factory=dict)
    index_parents: dict[str, set[str]] = field(default_factory=dict)
    referrers: dict[str, set[str]] = field(default_factory=dict)
    blob_links: set[str] = field(default_factory=set)

    @property
    def arn(self) -> str:
        registry = self.registry
        return (
            f"arn:{partition_for(registry.region)}:ecr:{registry.region}:"
            f"{registry.account_id}:repository/{self.name}"
        )

    @property
    def uri(self) -> str:
        return f"{self.registry.host}/{self.name}"

    def image_for_tag(self, tag: str) -> Image | None:
        digest = self.tag_index.get(tag)
        return None if digest is None else self.images[digest]

    def add_image(self, image: Image) -> None:
        self.images[image.digest] = image
        self.image_order.add(image.digest)
        for child in image.child_digests:
            self.index_parents.setdefault(child, set()).add(image.digest)
        if image.subject_digest is not None:
            self.referrers.setdefault(image.subject_digest, set()).add(image.digest)
        self.blob_links.update(image.blob_digests)

    def point_tag(self, tag: str, image: Image) -> Image | None:
        """Make ``tag`` name ``image``; return the image it named before, if another."""
        previous_digest = self.tag_index.get(tag)
        if previous_digest == image.digest:
            return None
        previous = None
        if previous_digest is not None:
            previous = self.images[previous_digest]
            previous.tags.remove(tag)
        self.tag_index[tag] = image.digest
        image.tags.insert(0, tag)
        return previous

    def remove_tag(self, tag: str) -> Image:
        image = self.images[self.tag_index.pop(tag)]
        image.tags.remove(tag)
        return image

    def remove_image(self, image: Image) -> None:
        for tag in image.tags:
            del self.tag_index[tag]
        image.tags.clear()
        del self.images[image.digest]
        self.image_order.discard(image.digest)
        for child in image.child_digests:
            _discard(self.index_parents, child, image.digest)
        if image.subject_digest is not None:
            _discard(self.referrers, image.subject_digest, image.digest)


def _discard(index: dict[str, set[str]], key: str, digest: str) -> None:
    """Remove ``digest`` from ``index[key]``, dropping the key once its set is empty."""
    members = index.get(key)
    if members is not None:
        members.discard(digest)
        if not members:
            del index[key]


@dataclass(slots=True, eq=False)
class UploadSession:
    """A blob upload in progress (registry POST/PATCH or InitiateLayerUpload/UploadLayerPart)."""

    upload_id: str
    account_id: str
    region: str
    repository_name: str
    started_at: _dt.datetime


@dataclass(slots=True, eq=False)
class Registry:
    """The private registry of one account in one region."""

    backend: Backend
    account_id: str
    region: str
    repositories: dict[str, Repository] = field(default_factory=dict)
    replication_rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def host(self) -> str:
        """Where repositories of this registry are pushed: AWS-shaped unless the server says."""
        if self.backend.registry_host:
            return self.backend.registry_host
        return f"{self.account_id}.dkr.ecr.{self.region}.{dns_suffix_for(self.region)}"

    def repository(self, name: str) -> Repository:
        repository = self.repositories.get(name)
        if repository is None:
            raise repository_not_found(name, self.account_id)
        return repository

    def default_kms_key(self) -> str:
        """The ARN of this account's AWS-managed ``aws/ecr`` key (stable per account and region)."""
        key_id = hashlib.sha256(f"aws/ecr:{self.account_id}:{self.region}".encode()).hexdigest()
        key_uuid = f"{key_id[:8]}-{key_id[8:12]}-{key_id[12:16]}-{key_id[16:20]}-{key_id[20:32]}"
        return (
            f"arn:{partition_for(self.region)}:kms:{self.region}:{self.account_id}:key/{key_uuid}"
        )


class Backend:
    """All registries of all accounts and regions, one clock and one lock.

    ``registry_host`` (``"127.0.0.1:5000"``) makes repository URIs and proxy
    endpoints point at a running emulator instead of the AWS-shaped host.
    ``strict_manifests`` makes PutImage refuse manifests whose blobs or child
    manifests are not in the repository, as the registry plane does unless
    ``allow_sparse_manifests`` (OCI's optional sparse manifests) is set.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        registry_host: str | None = None,
        registry_scheme: str = "http",
        strict_manifests: bool = False,
        blobs: BlobStore | None = None,
        allow_sparse_manifests: bool = False,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.registry_host = registry_host
        self.registry_scheme = registry_scheme
        self.strict_manifests = strict_manifests
        self.allow_sparse_manifests = allow_sparse_manifests
        self.lock = threading.RLock()
        self.token_secret = secrets.token_bytes(32)
        self.registries: dict[tuple[str, str], Registry] = {}
        self.blobs: BlobStore = blobs if blobs is not None else MemoryBlobStore()
        self.uploads: dict[str, UploadSession] = {}

    def registry(self, account_id: str, region: str) -> Registry:
        key = (account_id, region)
        registry = self.registries.get(key)
        if registry is None:
            registry = self.registries[key] = Registry(self, account_id, region)
        return registry

    def now(self) -> _dt.datetime:
        return self.clock.now()

    def reset(self) -> None:
        """Forget every registry (the admin route ``POST /_emulator/reset``)."""
        with self.lock:
            self.registries.clear()
            self.uploads.clear()
            self.blobs.clear()
