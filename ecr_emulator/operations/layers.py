"""Layers: blob uploads and downloads shared by the ECR layer API and the /v2/ registry.

``start_upload`` / ``append_to_upload`` / ``finish_upload`` are the one path
by which bytes become a blob of a repository, whichever plane they came
through; ``linked_blob_size`` is the one rule for which blobs a repository
may serve.  The ECR operations InitiateLayerUpload, UploadLayerPart,
CompleteLayerUpload, BatchCheckLayerAvailability and GetDownloadUrlForLayer
sit on top.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
from typing import Any, BinaryIO

from ..blobstore import DigestMismatch, UnknownUpload, UploadOffsetMismatch
from ..errors import ServiceError, invalid_parameter
from ..identity import RequestContext, dns_suffix_for
from ..manifests import is_valid_digest
from ..state import Repository, UploadSession
from ..tokens import DOWNLOAD, sign_claims
from . import operation

PART_SIZE = 10 * 1024 * 1024
ABANDONED_AFTER = _dt.timedelta(hours=1)
DOWNLOAD_URL_LIFETIME = _dt.timedelta(hours=1)
DOWNLOAD_PATH = "/_emulator/layers/"


def start_upload(context: RequestContext, repository: Repository) -> UploadSession:
    backend = context.backend
    # The store knows when an upload last received bytes; whatever it purged is abandoned.
    # (Ageing sessions by their start instead would cut off a long upload still in progress.)
    backend.blobs.purge_uploads(ABANDONED_AFTER.total_seconds())
    for upload_id in list(backend.uploads):
        try:
            backend.blobs.upload_size(upload_id)
        except UnknownUpload:
            del backend.uploads[upload_id]
    upload_id = backend.blobs.start_upload()
    registry = repository.registry
    session = UploadSession(
        upload_id, registry.account_id, registry.region, repository.name, backend.now()
    )
    backend.uploads[upload_id] = session
    return session


def upload_session(
    context: RequestContext, repository: Repository, upload_id: str
) -> UploadSession:
    """The upload ``upload_id`` of ``repository`` (``UnknownUpload`` if not there)."""
    session = context.backend.uploads.get(upload_id)
    registry = repository.registry
    if (
        session is None
        or session.repository_name != repository.name
        or (session.account_id, session.region) != (registry.account_id, registry.region)
    ):
        raise UnknownUpload(upload_id)
    return session


def upload_size(context: RequestContext, session: UploadSession) -> int:
    return context.backend.blobs.upload_size(session.upload_id)


def append_to_upload(
    context: RequestContext,
    session: UploadSession,
    stream: BinaryIO,
    length: int | None = None,
    expected_offset: int | None = None,
) -> int:
    """Stream onto the upload; with ``expected_offset`` only if the upload holds exactly that
    many bytes when its lock is taken (``UploadOffsetMismatch`` otherwise)."""
    return context.backend.blobs.append(session.upload_id, stream, length, expected_offset)


def finish_upload(
    context: RequestContext, repository: Repository, session: UploadSession, digest: str
) -> int:
    """Publish the upload as ``digest`` in ``repository`` (``DigestMismatch`` if it is not)."""
    size = context.backend.blobs.finish_upload(session.upload_id, digest)
    with context.backend.lock:
        context.backend.uploads.pop(session.upload_id, None)
        repository.blob_links.add(digest)
    return size


def cancel_upload(context: RequestContext, session: UploadSession) -> None:
    context.backend.uploads.pop(session.upload_id, None)
    context.backend.blobs.cancel_upload(session.upload_id)


def linked_blob_size(context: RequestContext, repository: Repository, digest: str) -> int | None:
    """The size of ``digest`` if ``repository`` may serve it, else None."""
    if digest not in repository.blob_links:
        return None
    return context.backend.blobs.size(digest)


def mount_blob(
    context: RequestContext, repository: Repository, digest: str, source: Repository | None
) -> bool:
    """Link an existing blob into ``repository`` from ``source`` (or from any repository
    of the same registry when no source is named); whether it could."""
    candidates = [source] if source is not None else repository.registry.repositories.values()
    for candidate in candidates:
        if linked_blob_size(context, candidate, digest) is not None:
            repository.blob_links.add(digest)
            return True
    return False


def _open_upload(
    context: RequestContext, repository: Repository, upload_id: str
) -> tuple[UploadSession, int]:
    """The layer API's view of an upload: the session and the bytes it holds so far."""
    try:
        session = upload_session(context, repository, upload_id)
        return session, upload_size(context, session)
    except UnknownUpload:
        raise ServiceError(
            "UploadNotFoundException",
            f"The upload with id '{upload_id}' does not exist in the repository with name "
            f"'{repository.name}' in the registry with id '{repository.registry.account_id}'",
        ) from None


@operation("InitiateLayerUpload")
def initiate_layer_upload(
    context: RequestContext, *, repository_name: str, registry_id: str | None = None
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    session = start_upload(context, repository)
    return {"uploadId": session.upload_id, "partSize": PART_SIZE}


@operation("UploadLayerPart")
def upload_layer_part(
    context: RequestContext,
    *,
    repository_name: str,
    upload_id: str,
    part_first_byte: int,
    part_last_byte: int,
    layer_part_blob: str,
    registry_id: str | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    session, received = _open_upload(context, repository, upload_id)
    try:
        data = base64.b64decode(layer_part_blob, validate=True)
    except ValueError:  # binascii.Error: awsJson sends blobs as base64 text
        raise ServiceError("SerializationException", "layerPartBlob is not valid base64") from None

    def invalid_part(received: int) -> ServiceError:
        return ServiceError(
            "InvalidLayerPartException",
            f"The layer part must start at byte {received} and its length must match "
            f"partLastByte - partFirstByte + 1 (got {part_first_byte}-{part_last_byte}, "
            f"{len(data)} bytes)",
            fields={
                "registryId": repository.registry.account_id,
                "repositoryName": repository.name,
                "uploadId": upload_id,
                "lastValidByteReceived": max(received - 1, 0),
            },
        )

    if part_first_byte != received or part_last_byte - part_first_byte + 1 != len(data):
        raise invalid_part(received)
    try:
        size = append_to_upload(context, session, io.BytesIO(data), None, part_first_byte)
    except UploadOffsetMismatch as error:  # a /v2/ chunk for the same upload got in first
        raise invalid_part(error.size) from None
    return {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "uploadId": upload_id,
        "lastByteReceived": size - 1,
    }


@operation("CompleteLayerUpload")
def complete_layer_upload(
    context: RequestContext,
    *,
    repository_name: str,
    upload_id: str,
    layer_digests: list[str],
    registry_id: str | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    session, received = _open_upload(context, repository, upload_id)
    digest = layer_digests[0]
    if not is_valid_digest(digest):
        raise ServiceError("InvalidLayerException", f"Invalid layer digest '{digest}'")
    if received == 0:
        cancel_upload(context, session)
        raise ServiceError(
            "EmptyUploadException",
            f"The upload with id '{upload_id}' does not contain any layer parts",
        )
    if linked_blob_size(context, repository, digest) is not None:
        cancel_upload(context, session)
        raise ServiceError(
            "LayerAlreadyExistsException",
            f"The layer with digest '{digest}' already exists in the repository with name "
            f"'{repository.name}' in the registry with id '{repository.registry.account_id}'",
        )
    try:
        finish_upload(context, repository, session, digest)
    except DigestMismatch as error:
        cancel_upload(context, session)
        raise ServiceError("InvalidLayerException", f"Invalid layer digest: {error}") from None
    return {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "uploadId": upload_id,
        "layerDigest": digest,
    }


@operation("BatchCheckLayerAvailability")
def batch_check_layer_availability(
    context: RequestContext,
    *,
    repository_name: str,
    layer_digests: list[str],
    registry_id: str | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    layers, failures = [], []
    for digest in dict.fromkeys(layer_digests):
        if not digest:
            failures.append(
                {
                    "layerDigest": digest,
                    "failureCode": "MissingLayerDigest",
                    "failureReason": "The layer digest is empty",
                }
            )
        elif not is_valid_digest(digest):
            failures.append(
                {
                    "layerDigest": digest,
                    "failureCode": "InvalidLayerDigest",
                    "failureReason": "Invalid layer digest",
                }
            )
        else:
            size = linked_blob_size(context, repository, digest)
            layer: dict[str, Any] = {
                "layerDigest": digest,
                "layerAvailability": "AVAILABLE" if size is not None else "UNAVAILABLE",
            }
            if size is not None:
                layer["layerSize"] = size
            layers.append(layer)
    return {"layers": layers, "failures": failures}


@operation("GetDownloadUrlForLayer")
def get_download_url_for_layer(
    context: RequestContext,
    *,
    repository_name: str,
    layer_digest: str,
    registry_id: str | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    if not is_valid_digest(layer_digest):
        raise invalid_parameter("layerDigest", f"Invalid layer digest '{layer_digest}'")
    if linked_blob_size(context, repository, layer_digest) is None:
        raise ServiceError(
            "LayersNotFoundException",
            f"The layer with digest '{layer_digest}' does not exist in the repository with name "
            f"'{repository.name}' in the registry with id '{repository.registry.account_id}'",
        )
    return {
        "downloadUrl": download_url(context, repository, layer_digest),
        "layerDigest": layer_digest,
    }


def download_host(context: RequestContext) -> str:
    """Where download URLs point: the server the caller reached, else an S3-shaped host
    that the in-process mock answers."""
    if context.host:
        return f"http://{context.host}"
    if context.backend.registry_host:
        return f"{context.backend.registry_scheme}://{context.backend.registry_host}"
    region = context.region
    return f"https://prod-{region}-starport-layer-bucket.s3.{region}.{dns_suffix_for(region)}"


def download_url(context: RequestContext, repository: Repository, digest: str) -> str:
    expires = context.backend.now() + DOWNLOAD_URL_LIFETIME
    token = sign_claims(
        context.backend,
        DOWNLOAD,
        {
            "account": repository.registry.account_id,
            "region": repository.registry.region,
            "repository": repository.name,
            "digest": digest,
            "expires": expires.timestamp(),
        },
    )
    return f"{download_host(context)}{DOWNLOAD_PATH}{token}"
