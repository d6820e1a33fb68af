"""Blob uploads, from either plane, through the one upload table (``Backend.uploads``).

A session belongs to an account, a region and a repository.  Its bytes move
under the session's own lock, never the global one, so a slow client holds up
nobody but itself; the global lock is taken only to add, look up or take out
a session, to check access, and for the moment a finished upload is published
and linked.  Each step checks the action it is (``ecr:InitiateLayerUpload``,
``ecr:UploadLayerPart``, ``ecr:CompleteLayerUpload``) whichever plane calls it,
so a registry request that starts, fills and finishes an upload at once needs
all three.

Lock order: a session's lock, then the global lock — never the other way
(purging skips a session whose lock is taken instead of waiting for it).
"""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from typing import BinaryIO

from ..blobstore import BodyReadError, DigestMismatch, WriterDiscarded
from ..errors import ServiceError
from ..events import LayerUploaded
from ..state import Backend, Repository, UploadSession
from . import access, creation_templates
from .caller import Caller

PART_SIZE = 10 * 1024 * 1024
ABANDONED_AFTER = _dt.timedelta(hours=1)
PURGE_EVERY_SECONDS = 60.0
MAX_UPLOADS_PER_REGISTRY = 10_000
MAX_UPLOADS = 100_000  # all registries together: any 12-digit key is an account


class UnknownUpload(KeyError):
    """No upload session with that id here (finished, cancelled, purged or never started)."""


class UploadOffsetMismatch(ValueError):
    """A chunk that does not start where the upload ends: out of order, or a retry of
    a chunk that has landed meanwhile.  ``size`` is where the upload does end."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the upload holds {size} bytes")
        self.size = size


class EmptyUpload(ValueError):
    """Finishing an upload that received no bytes (the layer API refuses that)."""


class LayerAlreadyExists(ValueError):
    """Finishing, with ``if_absent``, an upload of a blob the repository already holds."""


def _too_many(registry_id: str, limit: int) -> ServiceError:
    return ServiceError(
        "LimitExceededException",
        f"The operation did not succeed because it would have exceeded the limit of {limit} "
        f"layer uploads in progress in the registry with id '{registry_id}'",
    )


def start(caller: Caller, registry_id: str | None, name: str) -> UploadSession:
    """A new upload into repository ``name`` (InitiateLayerUpload, registry POST)."""
    backend = caller.backend
    creation_templates.ensure_for_push(caller, registry_id, name)  # CREATE_ON_PUSH
    upload_id = str(uuid.uuid4())
    writer = backend.blobs.new_writer(upload_id)  # file I/O, before the lock
    try:
        with backend.lock:
            repository = access.repository(caller, registry_id, name, "ecr:InitiateLayerUpload")
            registry = repository.registry
            _purge_abandoned(backend)
            key = (registry.account_id, registry.region)
            in_registry = backend.uploads_per_registry.get(key, 0)
            if in_registry >= MAX_UPLOADS_PER_REGISTRY:
                raise _too_many(registry.account_id, MAX_UPLOADS_PER_REGISTRY)
            if len(backend.uploads) >= MAX_UPLOADS:
                raise _too_many(registry.account_id, MAX_UPLOADS)
            upload = UploadSession(
                upload_id, registry.account_id, registry.region, name, backend.now(), writer
            )
            backend.add_upload(upload)
            return upload
    except BaseException:
        writer.discard()
        raise


def _take(backend: Backend, upload: UploadSession) -> bool:
    """Take ``upload`` out of the table (lock held); whether it was still there."""
    if backend.uploads.get(upload.upload_id) is not upload:
        return False
    backend.remove_upload(upload)
    upload.closed = True
    return True


def session(
    caller: Caller,
    registry_id: str | None,
    name: str,
    upload_id: str,
    action: str = "ecr:UploadLayerPart",
) -> UploadSession:
    """The upload ``upload_id`` of repository ``name``, for a caller who may do ``action``
    there (``UnknownUpload`` if it is not there)."""
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, action)
        found = caller.backend.uploads.get(upload_id)
        registry = repository.registry
        if (
            found is None
            or found.repository_name != name
            or (found.account_id, found.region) != (registry.account_id, registry.region)
        ):
            raise UnknownUpload(upload_id)
        return found


def _repository(caller: Caller, upload: UploadSession, action: str) -> Repository:
    """The upload's repository, if the upload is still open and the caller may still do
    ``action`` there (lock held)."""
    if upload.closed or upload.region != caller.region:
        raise UnknownUpload(upload.upload_id)
    return access.repository(caller, upload.account_id, upload.repository_name, action)


def size(upload: UploadSession) -> int:
    if upload.closed:
        raise UnknownUpload(upload.upload_id)
    return upload.writer.size


def append(
    caller: Caller,
    upload: UploadSession,
    stream: BinaryIO,
    length: int | None = None,
    expected_offset: int | None = None,
) -> int:
    """Stream onto the upload (``ecr:UploadLayerPart``); the new size.  With
    ``expected_offset`` only if the upload holds exactly that many bytes once this request
    has it to itself (``UploadOffsetMismatch`` otherwise, nothing read): checked before
    waiting, a retried chunk still in flight would get in twice.  ``BodyReadError`` if the
    client's stream breaks (the bytes before the break stay); ``OSError`` if the store
    fails, which ends the upload."""
    with caller.backend.lock:
        _repository(caller, upload, "ecr:UploadLayerPart")
    with upload.lock:
        if upload.closed:
            raise UnknownUpload(upload.upload_id)
        if expected_offset is not None and upload.writer.size != expected_offset:
            raise UploadOffsetMismatch(upload.writer.size)
        try:
            new_size = upload.writer.write(stream, length)
        except WriterDiscarded:
            raise UnknownUpload(upload.upload_id) from None
        except BodyReadError:
            raise
        except OSError:  # the store failed: what the upload holds is unknown, so it is over
            cancel(caller, upload)
            raise
        if upload.closed:  # cancelled or purged meanwhile: the bytes went nowhere
            raise UnknownUpload(upload.upload_id)
        return new_size


def finish(
    caller: Caller, upload: UploadSession, digests: list[str], *, if_absent: bool = False
) -> int:
    """Verify the upload against every one of ``digests`` and publish it as the first,
    linked into its repository (``ecr:CompleteLayerUpload``); its size.  A mismatch
    (``DigestMismatch``) cancels the upload.  The layer API's rules come with
    ``if_absent``: an empty upload is ``EmptyUpload`` and a blob the repository already
    holds is ``LayerAlreadyExists``, both cancelling the upload."""
    backend = caller.backend
    with backend.lock:
        _repository(caller, upload, "ecr:CompleteLayerUpload")
    with upload.lock:  # waits for this upload's own appends, nobody else's
        if upload.closed:
            raise UnknownUpload(upload.upload_id)
        if if_absent and upload.writer.size == 0:
            cancel(caller, upload)
            raise EmptyUpload(upload.upload_id)
        try:
            for digest in digests:
                upload.writer.verify(digest)  # outside the global lock: may rehash
        except DigestMismatch:
            cancel(caller, upload)
            raise
        except OSError:  # the file went with a cancel while it was re-read
            if upload.closed:
                raise UnknownUpload(upload.upload_id) from None
            raise
        with backend.transaction() as events:
            repository = _repository(caller, upload, "ecr:CompleteLayerUpload")
            if if_absent and repository.holds_blob(digests[0]):
                cancel(caller, upload)
                raise LayerAlreadyExists(digests[0])
            if not _take(backend, upload):
                raise UnknownUpload(upload.upload_id)
            upload.writer.publish(digests[0])
            repository.link_blob(digests[0])
            events.append(
                LayerUploaded(
                    upload.account_id,
                    upload.region,
                    repository.name,
                    digests[0],
                    upload.writer.size,
                )
            )
        return upload.writer.size


def cancel(caller: Caller, upload: UploadSession) -> bool:
    """Drop the upload (an append in flight finds it gone); whether it was still there."""
    with caller.backend.lock:
        if not _take(caller.backend, upload):
            return False
    upload.writer.discard()
    return True


def close_for_repository(backend: Backend, account: str, region: str, name: str) -> None:
    """The repository is going away: its uploads go with it (lock held)."""
    for upload in list(backend.uploads.values()):
        if (upload.account_id, upload.region, upload.repository_name) == (account, region, name):
            _take(backend, upload)
            upload.writer.discard()


def _purge_abandoned(backend: Backend) -> None:
    """Drop abandoned uploads (lock held), at most once every ``PURGE_EVERY_SECONDS`` so
    that starting an upload stays cheap however many are in progress."""
    now = time.monotonic()
    if now - backend.uploads_purged_at >= PURGE_EVERY_SECONDS:
        backend.uploads_purged_at = now
        purge_abandoned(backend, ABANDONED_AFTER.total_seconds())


def purge_abandoned(backend: Backend, older_than: float) -> int:
    """Drop the uploads untouched for ``older_than`` seconds; how many.  One that is
    receiving bytes right now (its lock is taken) is skipped, however long ago its
    last chunk came: it is slow, not abandoned.  Ages are wall time
    (``time.monotonic``), not the backend's clock: a test that moves its clock by
    hours must not lose an upload it is in the middle of."""
    cutoff = time.monotonic() - older_than
    purged = 0
    with backend.lock:
        for upload in list(backend.uploads.values()):
            if upload.writer.touched >= cutoff or not upload.lock.acquire(blocking=False):
                continue
            try:
                if upload.writer.touched < cutoff and _take(backend, upload):
                    upload.writer.discard()
                    purged += 1
            finally:
                upload.lock.release()
    return purged
