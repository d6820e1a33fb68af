"""The one state model behind every way of running the emulator.

``Backend`` → ``Registry`` (account, region) → ``Repository`` → ``Image``,
plus the one table of uploads in progress and the count of repositories that
hold each blob.  These classes hold data and keep their indexes consistent
(digest → image, tag → digest, index children, referrers, blob references);
the rules of ECR (who may do what, what is an error) live in ``core``, which
is the only code that changes this state, inside ``Backend.transaction()``.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as _dt
import hashlib
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .arns import (
    PUBLIC_REGION,
    default_public_alias,
    dns_suffix_for,
    partition_for,
    repository_arn,
)
from .blobstore import BlobStore, BlobWriter, MemoryBlobStore
from .clock import Clock, SystemClock
from .events import EventBus, StateReset
from .records import TRANSIENT, Record, key_of

PUBLIC_HOST = "public.ecr.aws"


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
class Image(Record):
    """One manifest stored in one repository, with the tags that point at it.

    ``tags`` is a tuple that is replaced, never changed in place, so a reader
    that took the image under the lock may read it after letting go.
    """

    KIND = "image"

    digest: str
    manifest: str
    media_type: str
    size: int
    pushed_at: _dt.datetime
    artifact_media_type: str | None = None
    subject_digest: str | None = None
    blob_digests: tuple[str, ...] = ()
    child_digests: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    last_pulled_at: _dt.datetime | None = None
    # storage class (``core.storage_classes``): ACTIVE, ARCHIVED, or ACTIVATING until
    # ``last_activated_at``, when it is ACTIVE again without anyone writing it
    status: str = "ACTIVE"
    last_archived_at: _dt.datetime | None = None
    last_activated_at: _dt.datetime | None = None
    scan: dict[str, Any] | None = None  # the last scan and its findings (``core.scanning``)
    signing: dict[str, dict[str, str]] | None = None  # profile -> status (``core.signing``)
    # "region/account" -> the status of its copy there (``core.replication``)
    replication: dict[str, dict[str, str]] | None = None
    repository: Repository | None = field(default=None, repr=False, metadata=TRANSIENT)

    def record_key(self) -> str:
        assert self.repository is not None
        return key_of(self.KIND, *self.repository.scope, self.digest)

    def status_at(self, now: _dt.datetime) -> str:
        """ACTIVE, ARCHIVED or ACTIVATING at ``now``."""
        if self.status == "ACTIVATING" and self.last_activated_at <= now:  # type: ignore[operator]
            return "ACTIVE"
        return self.status

    def record_parent(self) -> str | None:
        return None if self.repository is None else self.repository.record_key()


@dataclass(slots=True, eq=False)
class Repository(Record):
    """A repository with its settings and indexes.

    Blobs: ``linked_blobs`` are the blobs uploaded or mounted into this
    repository: it *holds* them, and only those may it serve.  ``blob_refs``
    counts the images here that reference each digest; naming a digest in a
    manifest never links it (another account's blob stays out of reach), and
    when the last image referencing a linked blob goes, so does the link.  Every
    change of what a repository holds goes through ``Backend.hold`` /
    ``Backend.release``, which count the holders of each blob across all
    repositories.
    """

    registry: Registry = field(repr=False, metadata=TRANSIENT)
    name: str
    created_at: _dt.datetime
    tag_mutability: str = "MUTABLE"
    tag_mutability_exclusions: tuple[dict[str, str], ...] = ()
    scan_on_push: bool = False
    encryption: dict[str, str] = field(default_factory=lambda: {"encryptionType": "AES256"})
    resource_tags: dict[str, str] = field(default_factory=dict)
    catalog_data: dict[str, Any] | None = None  # an ECR Public repository's (``core.public``)
    policy_text: str | None = None
    policy_document: dict[str, Any] | None = None
    lifecycle_policy_text: str | None = None
    lifecycle_evaluated_at: _dt.datetime | None = None
    lifecycle_preview: dict[str, Any] | None = None  # ``core.lifecycle.start_preview``
    # indexes, rebuilt from the images on load; linked blobs are kept as rows of their own
    images: dict[str, Image] = field(default_factory=dict, metadata=TRANSIENT)
    image_order: ArrivalOrder = field(default_factory=lambda: ArrivalOrder(), metadata=TRANSIENT)
    tag_index: dict[str, str] = field(default_factory=dict, metadata=TRANSIENT)
    index_parents: dict[str, set[str]] = field(default_factory=dict, metadata=TRANSIENT)
    referrers: dict[str, set[str]] = field(default_factory=dict, metadata=TRANSIENT)
    blob_refs: dict[str, int] = field(default_factory=dict, metadata=TRANSIENT)
    linked_blobs: set[str] = field(default_factory=set, metadata=TRANSIENT)

    KIND = "repository"

    def record_key(self) -> str:
        return key_of(self.KIND, *self.scope)

    def record_parent(self) -> str | None:
        return self.registry.record_key()

    def link_key(self, digest: str) -> str:
        return key_of("link", *self.scope, digest)

    @property
    def arn(self) -> str:
        return repository_arn(self.registry.account_id, self.registry.region, self.name)

    @property
    def uri(self) -> str:
        return f"{self.registry.host}/{self.name}"

    @property
    def scope(self) -> tuple[str, str, str]:
        """(account, region, name): what every event about this repository starts with."""
        return self.registry.account_id, self.registry.region, self.name

    def holds_blob(self, digest: str) -> bool:
        return digest in self.linked_blobs

    def image_for_tag(self, tag: str) -> Image | None:
        digest = self.tag_index.get(tag)
        return None if digest is None else self.images[digest]

    def add_image(self, image: Image) -> None:
        image.repository = self
        self.registry.backend.keep(image)
        self.images[image.digest] = image
        self.image_order.add(image.digest)
        for child in image.child_digests:
            self.index_parents.setdefault(child, set()).add(image.digest)
        if image.subject_digest is not None:
            self.referrers.setdefault(image.subject_digest, set()).add(image.digest)
        refs = self.blob_refs
        for digest in set(image.blob_digests):
            refs[digest] = refs.get(digest, 0) + 1

    def restore_image(self, image: Image) -> None:
        """Add an image loaded from the metadata store, with the tags it was kept with."""
        self.add_image(image)
        for tag in image.tags:
            self.tag_index[tag] = image.digest

    def point_tag(self, tag: str, image: Image) -> Image | None:
        """Make ``tag`` name ``image``; return the image it named before, if another."""
        previous_digest = self.tag_index.get(tag)
        if previous_digest == image.digest:
            return None
        previous = None
        if previous_digest is not None:
            previous = self.images[previous_digest]
            previous.tags = tuple(t for t in previous.tags if t != tag)
        self.tag_index[tag] = image.digest
        image.tags = (tag, *image.tags)
        return previous

    def remove_tag(self, tag: str) -> Image:
        image = self.images[self.tag_index.pop(tag)]
        image.tags = tuple(t for t in image.tags if t != tag)
        return image

    def remove_image(self, image: Image) -> list[str]:
        """Forget ``image`` and its tags; the blobs no repository holds any more."""
        for tag in image.tags:
            del self.tag_index[tag]
        image.tags = ()
        self.registry.backend.forget(image)
        del self.images[image.digest]
        self.image_order.discard(image.digest)
        for child in image.child_digests:
            _discard(self.index_parents, child, image.digest)
        if image.subject_digest is not None:
            _discard(self.referrers, image.subject_digest, image.digest)
        freed = []
        refs = self.blob_refs
        for digest in set(image.blob_digests):
            count = refs[digest]
            if count > 1:
                refs[digest] = count - 1
                continue
            del refs[digest]
            if digest in self.linked_blobs:  # no image here needs it any more
                self.linked_blobs.discard(digest)
                if self._release_link(digest):
                    freed.append(digest)
        return freed

    def link_blob(self, digest: str) -> bool:
        """An upload or mount of ``digest`` landed here; whether it was new here."""
        if digest in self.linked_blobs:
            return False
        self.linked_blobs.add(digest)
        backend = self.registry.backend
        backend.hold(digest)
        if backend.journal is not None:
            backend.journal.put_row(self.link_key(digest), self.record_key(), "link", "{}")
        return True

    def unlink_blob(self, digest: str) -> bool | None:
        """Stop serving ``digest`` (registry blob DELETE): None if it was not held here,
        else whether no repository holds it any more.  Images that reference it keep
        their references: a new upload of it links it again."""
        if digest not in self.linked_blobs:
            return None
        self.linked_blobs.discard(digest)
        return self._release_link(digest)

    def _release_link(self, digest: str) -> bool:
        """Drop this repository's hold on ``digest``; whether no repository holds it now."""
        backend = self.registry.backend
        if backend.journal is not None:
            backend.journal.delete_row(self.link_key(digest))
        return backend.release(digest)

    def release_everything(self) -> list[str]:
        """The repository is going away: release all its blobs; those no one holds now."""
        backend = self.registry.backend
        held, self.linked_blobs = self.linked_blobs, set()
        self.blob_refs.clear()
        return [digest for digest in held if backend.release(digest)]


def _discard(index: dict[str, set[str]], key: str, digest: str) -> None:
    """Remove ``digest`` from ``index[key]``, dropping the key once its set is empty."""
    members = index.get(key)
    if members is not None:
        members.discard(digest)
        if not members:
            del index[key]


@dataclass(slots=True, eq=False)
class UploadSession(Record):
    """A blob upload in progress, whichever plane started it (the one upload table's row).

    ``lock`` is held by whoever moves the upload's bytes (append, finish); while
    it is held the global lock is taken only briefly (a finish's commit, a cancel
    after a failure), never the other way round.  ``closed`` is set, under the
    global lock, by whoever takes the session out of the table (finish, cancel,
    purge).
    """

    upload_id: str
    account_id: str
    region: str
    repository_name: str
    started_at: _dt.datetime
    writer: BlobWriter = field(repr=False, metadata=TRANSIENT)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, metadata=TRANSIENT)
    closed: bool = field(default=False, metadata=TRANSIENT)

    KIND = "upload"

    def record_key(self) -> str:
        return key_of(self.KIND, self.upload_id)


@dataclass(slots=True, eq=False)
class Principal(Record):
    """An identity of the opt-in identity mode (``core.identities``): requests signed with
    ``access_key_id`` act as ``arn`` (a user, a role or an account's root), allowed what
    its identity ``policies`` allow."""

    access_key_id: str
    arn: str
    policies: tuple[dict[str, Any], ...] = ()

    KIND = "principal"

    def record_key(self) -> str:
        return key_of(self.KIND, self.access_key_id)

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]


@dataclass(slots=True, eq=False)
class Registry(Record):
    """The private registry of one account in one region."""

    backend: Backend = field(repr=False, metadata=TRANSIENT)
    account_id: str
    region: str
    repositories: dict[str, Repository] = field(default_factory=dict, metadata=TRANSIENT)
    repository_order: ArrivalOrder = field(
        default_factory=lambda: ArrivalOrder(), metadata=TRANSIENT
    )
    replication_rules: list[dict[str, Any]] = field(default_factory=list)
    policy_text: str | None = None  # the registry policy (``core.policies``)
    policy_document: dict[str, Any] | None = None
    settings: dict[str, str] = field(default_factory=dict)  # ``core.account_settings``
    scanning_configuration: dict[str, Any] | None = None  # ``core.scanning``
    signing_configuration: dict[str, Any] | None = None  # ``core.signing``
    # prefix -> rule (``core.pull_through``)
    pull_through_rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    signing_keys: dict[str, dict[str, str]] = field(default_factory=dict)  # profile -> key, cert
    # backfill id -> its record (``core.replication``)
    backfills: dict[str, dict[str, Any]] = field(default_factory=dict)
    # principal ARN -> when it was excluded from pull-time updates (``core.images``)
    pull_time_exclusions: dict[str, _dt.datetime] = field(default_factory=dict)
    # prefix -> template (``core.creation_templates``)
    creation_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    # an ECR Public registry's own (``core.public``): its alias and its catalog data
    alias: str | None = None
    catalog_data: dict[str, Any] | None = None

    KIND = "registry"

    def record_key(self) -> str:
        return key_of(self.KIND, self.account_id, self.region)

    @property
    def public(self) -> bool:
        return self.region == PUBLIC_REGION

    @property
    def public_alias(self) -> str:
        return self.alias or default_public_alias(self.account_id)

    @property
    def host(self) -> str:
        """Where its repositories are pushed; for ECR Public, the host and the alias."""
        if self.public:
            return f"{self.backend.public_host}/{self.public_alias}"
        return self.backend.registry_host_for(self.account_id, self.region)

    def add_repository(self, repository: Repository) -> None:
        self.backend.keep(repository)
        self.repositories[repository.name] = repository
        self.repository_order.add(repository.name)

    def remove_repository(self, repository: Repository) -> list[str]:
        """Forget ``repository``; the blobs no repository holds any more."""
        del self.repositories[repository.name]
        self.repository_order.discard(repository.name)
        self.backend.forget(repository)  # its images and links go with it
        return repository.release_everything()

    def default_kms_key(self) -> str:
        """The ARN of this account's AWS-managed ``aws/ecr`` key (stable per account and region)."""
        key_id = hashlib.sha256(f"aws/ecr:{self.account_id}:{self.region}".encode()).hexdigest()
        key_uuid = f"{key_id[:8]}-{key_id[8:12]}-{key_id[12:16]}-{key_id[16:20]}-{key_id[20:32]}"
        return (
            f"arn:{partition_for(self.region)}:kms:{self.region}:{self.account_id}:key/{key_uuid}"
        )


class StateLock:
    """The one lock over all state (reentrant).  The outermost holder letting go first
    makes what it changed durable (``Backend._commit``), so a change is written before
    anyone else can see it and before its request is answered."""

    __slots__ = ("_backend", "_depth", "_lock")

    def __init__(self, backend: Backend) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # changed only by the thread holding the lock
        self._backend = backend

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._lock.acquire(blocking, timeout):
            return False
        self._depth += 1
        return True

    def release(self) -> None:
        try:
            if self._depth == 1:
                self._backend._commit()
        finally:
            self._depth -= 1
            self._lock.release()

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Journal(Protocol):
    """Where kept records go (``persistence.SqliteJournal``)."""

    def changed(self, record: Record) -> None: ...
    def deleted(self, record: Record) -> None: ...
    def put_row(self, key: str, parent: str | None, kind: str, body: str) -> None: ...
    def delete_row(self, key: str) -> None: ...
    def flush(self) -> None: ...
    def clear(self) -> None: ...


class Backend:
    """All registries of all accounts and regions, one clock, one lock, one upload table.

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
        enforce_iam: bool = False,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.registry_host = registry_host
        self.registry_scheme = registry_scheme
        self.strict_manifests = strict_manifests
        self.allow_sparse_manifests = allow_sparse_manifests
        # identity mode (``core.identities``): callers are the principals of their access keys
        self.enforce_iam = enforce_iam
        self.principals: dict[str, Principal] = {}
        # Secrets Manager's stand-in for pull-through credentials: ARN -> secret (not kept)
        self.secrets: dict[str, dict[str, str]] = {}
        self.lock = StateLock(self)
        self.journal: Journal | None = None  # set by persistence.attach under --data-dir
        self._after_commit: list[Callable[[], None]] = []
        self.events = EventBus()
        self.token_secret = secrets.token_bytes(32)
        self.registries: dict[tuple[str, str], Registry] = {}
        self.blobs: BlobStore = blobs if blobs is not None else MemoryBlobStore()
        self.uploads: dict[str, UploadSession] = {}
        self.uploads_per_registry: dict[tuple[str, str], int] = {}
        self.uploads_purged_at = float("-inf")  # time.monotonic() of the last purge
        self.blob_holders: dict[str, int] = {}
        self._transaction = threading.local()

    def find_registry(self, account_id: str, region: str) -> Registry | None:
        """The registry of ``account_id`` in ``region`` if it has ever been written to."""
        return self.registries.get((account_id, region))

    def ensure_registry(self, account_id: str, region: str) -> Registry:
        """The registry of ``account_id`` in ``region``, made on first write."""
        key = (account_id, region)
        registry = self.registries.get(key)
        if registry is None:
            registry = self.registries[key] = Registry(self, account_id, region)
            self.keep(registry)
        return registry

    def add_upload(self, upload: UploadSession) -> None:
        """``upload`` is in progress (lock held)."""
        self.uploads[upload.upload_id] = upload
        key = (upload.account_id, upload.region)
        self.uploads_per_registry[key] = self.uploads_per_registry.get(key, 0) + 1
        self.keep(upload)

    def remove_upload(self, upload: UploadSession) -> None:
        """``upload`` is over: finished, cancelled or abandoned (lock held)."""
        del self.uploads[upload.upload_id]
        self.forget(upload)
        key = (upload.account_id, upload.region)
        left = self.uploads_per_registry[key] - 1
        if left:
            self.uploads_per_registry[key] = left
        else:
            del self.uploads_per_registry[key]

    def keep(self, record: Record) -> None:
        """``record`` is now part of the state: under --data-dir it is written, and written
        again whenever one of its fields is assigned (lock held)."""
        if self.journal is not None:
            record.journal = self.journal

    def forget(self, record: Record) -> None:
        """``record`` (and every record under it) is no longer part of the state (lock held)."""
        if self.journal is not None:
            object.__setattr__(record, "journal", None)
            self.journal.deleted(record)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once this change is durable, before the lock is let go (lock held):
        deleting a blob's bytes, so a crash never leaves kept state naming missing bytes."""
        self._after_commit.append(action)

    def _commit(self) -> None:
        """The outermost holder is letting go of the lock: make the change durable, then
        run what waited for that."""
        if self.journal is not None:
            self.journal.flush()
        actions = self._after_commit
        if actions:
            self._after_commit = []
            for action in actions:
                action()

    @property
    def url_scheme(self) -> str:
        """The scheme of URLs to the emulator's registries: the server's own once URIs
        point at it (``registry_host``), else AWS's https (answered in-process)."""
        return self.registry_scheme if self.registry_host else "https"

    @property
    def public_host(self) -> str:
        """Where ECR Public repositories are: ``public.ecr.aws``, or on a server the path
        under its one host that stands for it (``registry.PUBLIC_PREFIX``)."""
        if self.registry_host:
            return f"{self.registry_host}/{PUBLIC_HOST}"
        return PUBLIC_HOST

    def registry_host_for(self, account_id: str, region: str) -> str:
        """Where repositories of a registry are pushed: AWS-shaped unless the server says."""
        if self.registry_host:
            return self.registry_host
        return f"{account_id}.dkr.ecr.{region}.{dns_suffix_for(region)}"

    def hold(self, digest: str) -> None:
        """One more repository holds ``digest``."""
        self.blob_holders[digest] = self.blob_holders.get(digest, 0) + 1

    def release(self, digest: str) -> bool:
        """One repository fewer holds ``digest``; whether that was the last one."""
        count = self.blob_holders.get(digest, 0)
        if count > 1:
            self.blob_holders[digest] = count - 1
            return False
        self.blob_holders.pop(digest, None)
        return True

    def now(self) -> _dt.datetime:
        return self.clock.now()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[list[object]]:
        """Hold the lock for one change; the events appended to the yielded list are
        published once the outermost transaction of this thread lets go of the lock."""
        local = self._transaction
        pending: list[object] | None = getattr(local, "events", None)
        if pending is not None:  # nested: the outer transaction publishes
            with self.lock:
                yield pending
            return
        events: list[object] = []
        local.events = events
        try:
            with self.lock:
                yield events
        finally:
            local.events = None
            if events:
                self.events.publish(events)

    def reset(self) -> None:
        """Forget every registry, upload and blob, and put a moved clock back (the admin
        route ``POST /_emulator/reset``)."""
        reset_clock = getattr(self.clock, "reset", None)
        if reset_clock is not None:
            reset_clock()
        with self.transaction() as events:
            events.append(StateReset())
            sessions = list(self.uploads.values())
            self.registries.clear()
            self.uploads.clear()
            self.uploads_per_registry.clear()
            self.blob_holders.clear()
            for session in sessions:
                session.closed = True
            if self.journal is not None:
                self.journal.clear()
            self.blobs.clear()
        for session in sessions:
            session.writer.discard()
