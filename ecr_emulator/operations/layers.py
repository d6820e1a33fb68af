"""Layers on the awsJson wire: InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload,
BatchCheckLayerAvailability, GetDownloadUrlForLayer (over ``core.uploads`` and ``core.blobs``)."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from ..blobstore import DigestMismatch
from ..core import Caller, blobs, uploads
from ..digests import is_valid_digest
from ..errors import ServiceError, invalid_parameter
from ..state import UploadSession
from . import operation


def _not_found(caller: Caller, registry_id: str | None, name: str, upload_id: str) -> ServiceError:
    return ServiceError(
        "UploadNotFoundException",
        f"The upload with id '{upload_id}' does not exist in the repository with name "
        f"'{name}' in the registry with id '{registry_id or caller.account}'",
    )


def _upload(
    caller: Caller, registry_id: str | None, name: str, upload_id: str, action: str
) -> UploadSession:
    try:
        return uploads.session(caller, registry_id, name, upload_id, action)
    except uploads.UnknownUpload:
        raise _not_found(caller, registry_id, name, upload_id) from None


@operation("InitiateLayerUpload")
def initiate_layer_upload(
    caller: Caller, *, repository_name: str, registry_id: str | None = None
) -> dict[str, Any]:
    upload = uploads.start(caller, registry_id, repository_name)
    return {"uploadId": upload.upload_id, "partSize": uploads.PART_SIZE}


@operation("UploadLayerPart")
def upload_layer_part(
    caller: Caller,
    *,
    repository_name: str,
    upload_id: str,
    part_first_byte: int,
    part_last_byte: int,
    layer_part_blob: str,
    registry_id: str | None = None,
) -> dict[str, Any]:
    upload = _upload(caller, registry_id, repository_name, upload_id, "ecr:UploadLayerPart")
    try:
        data = base64.b64decode(layer_part_blob, validate=True)
    except (binascii.Error, ValueError):  # awsJson sends blobs as base64 text
        raise ServiceError("SerializationException", "layerPartBlob is not valid base64") from None
    owner = registry_id or caller.account

    def invalid_part(received: int) -> ServiceError:
        return ServiceError(
            "InvalidLayerPartException",
            f"The layer part must start at byte {received} and its length must match "
            f"partLastByte - partFirstByte + 1 (got {part_first_byte}-{part_last_byte}, "
            f"{len(data)} bytes)",
            fields={
                "registryId": owner,
                "repositoryName": repository_name,
                "uploadId": upload_id,
                "lastValidByteReceived": max(received - 1, 0),
            },
        )

    if part_last_byte - part_first_byte + 1 != len(data):
        raise invalid_part(upload.writer.size)
    try:
        size = uploads.append(caller, upload, io.BytesIO(data), None, part_first_byte)
    except uploads.UploadOffsetMismatch as error:  # out of order, or a /v2/ chunk got in first
        raise invalid_part(error.size) from None
    except uploads.UnknownUpload:  # finished or cancelled meanwhile
        raise _not_found(caller, registry_id, repository_name, upload_id) from None
    return {
        "registryId": owner,
        "repositoryName": repository_name,
        "uploadId": upload_id,
        "lastByteReceived": size - 1,
    }


@operation("CompleteLayerUpload")
def complete_layer_upload(
    caller: Caller,
    *,
    repository_name: str,
    upload_id: str,
    layer_digests: list[str],
    registry_id: str | None = None,
) -> dict[str, Any]:
    upload = _upload(caller, registry_id, repository_name, upload_id, "ecr:CompleteLayerUpload")
    owner = registry_id or caller.account
    for digest in layer_digests:  # every digest given must be well formed and match
        if not is_valid_digest(digest):
            raise ServiceError("InvalidLayerException", f"Invalid layer digest '{digest}'")
    digest = layer_digests[0]
    try:
        uploads.finish(caller, upload, layer_digests, if_absent=True)
    except uploads.EmptyUpload:
        raise ServiceError(
            "EmptyUploadException",
            f"The upload with id '{upload_id}' does not contain any layer parts",
        ) from None
    except uploads.LayerAlreadyExists:
        raise ServiceError(
            "LayerAlreadyExistsException",
            f"The layer with digest '{digest}' already exists in the repository with name "
            f"'{repository_name}' in the registry with id '{owner}'",
        ) from None
    except DigestMismatch as error:
        raise ServiceError("InvalidLayerException", f"Invalid layer digest: {error}") from None
    except uploads.UnknownUpload:  # cancelled meanwhile
        raise _not_found(caller, registry_id, repository_name, upload_id) from None
    return {
        "registryId": owner,
        "repositoryName": repository_name,
        "uploadId": upload_id,
        "layerDigest": digest,
    }


@operation("BatchCheckLayerAvailability")
def batch_check_layer_availability(
    caller: Caller,
    *,
    repository_name: str,
    layer_digests: list[str],
    registry_id: str | None = None,
) -> dict[str, Any]:
    digests = list(dict.fromkeys(layer_digests))
    valid = [digest for digest in digests if digest and is_valid_digest(digest)]
    sizes = blobs.layer_sizes(
        caller, registry_id, repository_name, valid, "ecr:BatchCheckLayerAvailability"
    )
    layers, failures = [], []
    for digest in digests:
        if not digest:
            failures.append(
                {
                    "layerDigest": digest,
                    "failureCode": "MissingLayerDigest",
                    "failureReason": "The layer digest is empty",
                }
            )
        elif digest not in sizes:
            failures.append(
                {
                    "layerDigest": digest,
                    "failureCode": "InvalidLayerDigest",
                    "failureReason": "Invalid layer digest",
                }
            )
        else:
            size = sizes[digest]
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
    caller: Caller,
    *,
    repository_name: str,
    layer_digest: str,
    registry_id: str | None = None,
) -> dict[str, Any]:
    if not is_valid_digest(layer_digest):
        raise invalid_parameter("layerDigest", f"Invalid layer digest '{layer_digest}'")
    url = blobs.download_url(caller, registry_id, repository_name, layer_digest)
    if url is None:
        raise ServiceError(
            "LayersNotFoundException",
            f"The layer with digest '{layer_digest}' does not exist in the repository with name "
            f"'{repository_name}' in the registry with id '{registry_id or caller.account}'",
        )
    return {"downloadUrl": url, "layerDigest": layer_digest}
