"""Blobs of repositories: which a repository may serve, mounting, download URLs, freeing.

A repository serves a blob while it holds it (an image there references it,
or it was uploaded or mounted there); ``state`` counts the holders of each
blob across all repositories, and ``free`` deletes a blob's bytes once the
count reaches zero.  Freeing happens inside the same transaction as the
change that released the blob, and an upload publishes and links its blob
inside one too, so a blob freed and the same digest pushed at the same time
never leave a repository pointing at missing bytes.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import BinaryIO

from ..arns import dns_suffix_for
from ..errors import ServiceError
from ..events import BlobFreed, LayerMounted, LayerUnlinked
from ..state import Backend, Repository
from ..tokens import DOWNLOAD, InvalidToken, sign_claims, verify_claims
from . import access, account_settings, creation_templates
from .caller import Caller

log = logging.getLogger(__name__)

DOWNLOAD_URL_LIFETIME = _dt.timedelta(hours=1)
DOWNLOAD_PATH = "/_emulator/layers/"


def free(backend: Backend, digests: list[str], events: list[object]) -> None:
    """Delete the bytes of ``digests``, which no repository holds any more (lock held).

    The bytes go once the change that released them is durable (``after_commit``), so
    after a crash the kept state never names a blob whose bytes are gone.  A store that
    fails to delete one leaves its bytes behind (logged), never the state half-changed."""

    def delete_unheld() -> None:
        for digest in digests:
            if backend.blob_holders.get(digest):  # held again meanwhile (same transaction)
                continue
            try:
                backend.blobs.delete(digest)
            except OSError:
                log.exception("could not delete the bytes of %s; they stay on disk", digest)
                continue
            events.append(BlobFreed(digest))

    if digests:
        backend.after_commit(delete_unheld)


def served_size(backend: Backend, repository: Repository, digest: str) -> int | None:
    """The size of ``digest`` if ``repository`` may serve it, else None (lock held)."""
    if not repository.holds_blob(digest):
        return None
    return backend.blobs.size(digest)


def layer_sizes(
    caller: Caller, registry_id: str | None, name: str, digests: list[str], action: str
) -> dict[str, int | None]:
    """The size of each of ``digests`` the repository serves (None for the others)."""
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, action)
        return {digest: served_size(caller.backend, repository, digest) for digest in digests}


def _open_held(
    backend: Backend, repository: Repository | None, digest: str
) -> tuple[BinaryIO, int] | None:
    """A reader of ``digest`` and its size if ``repository`` holds it (lock held).  Opened
    under the lock: a blob freed right after stays readable through this reader."""
    if repository is None or not repository.holds_blob(digest):
        return None
    reader = backend.blobs.open(digest)
    if reader is None:
        return None
    return reader, backend.blobs.size(digest) or 0


def open_blob(
    caller: Caller, registry_id: str | None, name: str, digest: str, action: str
) -> tuple[BinaryIO, int] | None:
    """A reader of a blob the repository serves, and its size; None if it serves no such blob."""
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, action)
        return _open_held(caller.backend, repository, digest)


def unlink(caller: Caller, registry_id: str | None, name: str, digest: str) -> bool:
    """Registry blob DELETE: the repository stops serving ``digest``; whether it did."""
    with caller.backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:BatchDeleteImage")
        released = repository.unlink_blob(digest)
        if released is None:
            return False
        events.append(LayerUnlinked(*repository.scope, digest))
        if released:
            free(caller.backend, [digest], events)
        return True


def mount(
    caller: Caller, registry_id: str | None, name: str, digest: str, source_name: str | None
) -> bool:
    """Link a blob into repository ``name`` from ``source_name`` of the same registry (any
    repository of it the caller may read, when no source is named); whether it could.

    As the user guide's "Blob mounting" says: only once the registry's ``BLOB_MOUNTING``
    setting is ENABLED, only between repositories of the same encryption, and only
    from a repository the caller may ``ecr:GetDownloadUrlForLayer``; otherwise the
    client uploads the blob (the registry answers 202, as OCI allows)."""
    backend = caller.backend
    creation_templates.ensure_for_push(caller, registry_id, name)  # the push's first request
    with backend.transaction() as events:
        target = access.repository(caller, registry_id, name, "ecr:InitiateLayerUpload")
        registry = target.registry
        if account_settings.value_of(registry, "BLOB_MOUNTING") != "ENABLED":
            return False
        if source_name is not None:
            source = registry.repositories.get(source_name)
            candidates = [source] if source is not None else []
        else:
            candidates = list(registry.repositories.values())
        for candidate in candidates:
            if candidate.encryption != target.encryption:
                continue
            if served_size(backend, candidate, digest) is None:
                continue
            try:
                access.authorize(caller, candidate, "ecr:GetDownloadUrlForLayer")
            except ServiceError:
                continue
            if target.link_blob(digest):
                events.append(LayerMounted(*target.scope, digest, candidate.name))
            return True
        return False


def download_host(caller: Caller) -> str:
    """Where download URLs point: the server the caller reached, else an S3-shaped host
    that the in-process mock answers."""
    backend = caller.backend
    if caller.host:
        return f"http://{caller.host}"
    if backend.registry_host:
        return f"{backend.registry_scheme}://{backend.registry_host}"
    region = caller.region
    return f"https://prod-{region}-starport-layer-bucket.s3.{region}.{dns_suffix_for(region)}"


def download_url(caller: Caller, registry_id: str | None, name: str, digest: str) -> str | None:
    """GetDownloadUrlForLayer: a signed, expiring URL for a blob the repository serves."""
    backend = caller.backend
    with backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:GetDownloadUrlForLayer")
        if served_size(caller.backend, repository, digest) is None:
            return None
        registry = repository.registry
        claims = {
            "account": registry.account_id,
            "region": registry.region,
            "repository": repository.name,
            "digest": digest,
            "expires": (backend.now() + DOWNLOAD_URL_LIFETIME).timestamp(),
        }
    return f"{download_host(caller)}{DOWNLOAD_PATH}{sign_claims(backend, DOWNLOAD, claims)}"


def open_download(backend: Backend, token: str) -> tuple[BinaryIO, int] | None:
    """The blob a download URL's token names, while its repository still serves it
    (``InvalidToken`` for a forged or expired one)."""
    claims = verify_claims(backend, token, DOWNLOAD)
    digest = claims.get("digest")
    if not isinstance(digest, str):
        raise InvalidToken("the token is not valid")
    with backend.lock:
        registry = backend.find_registry(str(claims.get("account")), str(claims.get("region")))
        repository = registry.repositories.get(str(claims.get("repository"))) if registry else None
        return _open_held(backend, repository, digest)
