"""Manifests: PUT (validated, references checked), GET/HEAD (content negotiation), DELETE.

PUT goes through ``core.images.put_image``, the path PutImage takes, in strict
mode, so tag rules, immutability, digests and media types are exactly PutImage's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from ..core import images, pull_through
from ..digests import is_valid_digest
from .errors import RegistryError, digest_invalid, manifest_invalid, manifest_unknown

if TYPE_CHECKING:
    from . import RegistryCall

MAX_MANIFEST_BYTES = images.MAX_MANIFEST_BYTES


def _reference(call: RegistryCall) -> tuple[str, bool]:
    """The tag or digest the URL names, and whether it is a digest (checked)."""
    reference = call.params["reference"]
    by_digest = ":" in reference
    if by_digest and not is_valid_digest(reference):
        raise digest_invalid("invalid digest", reference)
    return reference, by_digest


def _accepted(call: RegistryCall) -> set[str]:
    """Every media type named by the (possibly repeated) Accept headers."""
    values = call.request.headers.getlist("Accept")
    return {
        part.split(";")[0].strip() for value in values for part in value.split(",") if part.strip()
    }


def get_manifest(call: RegistryCall) -> Response:
    reference, _ = _reference(call)
    pull = call.request.method == "GET"
    pull_through.sync(call.caller, call.registry_id, call.name, reference)  # a cached upstream
    try:
        image = images.get_manifest(
            call.caller, call.registry_id, call.name, reference, pull=pull, accepted=_accepted(call)
        )
    except images.Inaccessible:
        raise RegistryError("UNKNOWN", images.INACCESSIBLE, 404, {"reference": reference}) from None
    except images.NotAcceptable as refused:
        media_type = refused.image.media_type
        raise RegistryError(
            "MANIFEST_UNKNOWN",
            f"manifest is stored as {media_type}, which the client does not accept",
            404,
            {"reference": reference, "mediaType": media_type},
        ) from None
    if image is None:
        raise manifest_unknown(reference)
    body = image.manifest.encode("utf-8")
    headers = {"Docker-Content-Digest": image.digest, "ETag": f'"{image.digest}"'}
    response = Response(b"" if not pull else body, 200, headers, content_type=image.media_type)
    response.headers["Content-Length"] = str(len(body))
    return response


def _read_manifest(call: RegistryCall) -> bytes:
    length = call.request.content_length
    if length is not None and length > MAX_MANIFEST_BYTES:
        raise RegistryError(
            "MANIFEST_INVALID", "manifest is larger than 4 MiB", 413, {"size": length}
        )
    try:
        body = call.request.stream.read(MAX_MANIFEST_BYTES + 1)
    except Exception as error:  # a broken chunked encoding, a body cut short
        raise manifest_invalid(f"the request body could not be read: {error}") from None
    if len(body) > MAX_MANIFEST_BYTES:
        raise RegistryError("MANIFEST_INVALID", "manifest is larger than 4 MiB", 413)
    return body


def put_manifest(call: RegistryCall) -> Response:
    """PUT by tag, or by digest with any number of ``?tag=`` parameters (OCI 1.1)."""
    reference, by_digest = _reference(call)
    tags = call.request.args.getlist("tag") if by_digest else [reference]
    for tag in tags:
        if not images.is_valid_tag(tag):
            raise RegistryError("TAG_INVALID", "manifest tag did not match URI", 400, {"tag": tag})
    body = _read_manifest(call)
    content_type = call.request.headers.get("Content-Type", "").split(";")[0].strip()
    image = images.put_image(
        call.caller,
        call.registry_id,
        call.name,
        body,
        media_type=content_type or None,
        tags=tags,
        expected_digest=reference if by_digest else None,
        strict=not call.backend.allow_sparse_manifests,
        idempotent=True,
        infer_media_type=not content_type,
    )
    response = Response(b"", 201)
    response.headers["Location"] = f"/v2/{call.path_name}/manifests/{image.digest}"
    response.headers["Docker-Content-Digest"] = image.digest
    if by_digest and tags:
        response.headers["OCI-Tag"] = ", ".join(tags)
    if image.subject_digest:
        response.headers["OCI-Subject"] = image.subject_digest
    return response


def delete_manifest(call: RegistryCall) -> Response:
    """By digest: the image and its tags go; by tag: only the tag goes (OCI 1.1)."""
    reference, _ = _reference(call)
    try:
        deleted = images.delete_manifest(call.caller, call.registry_id, call.name, reference)
    except images.ReferencedByIndex:
        raise RegistryError(
            "DENIED", "the manifest is referenced by an image index in this repository", 409
        ) from None
    if not deleted:
        raise manifest_unknown(reference)
    return Response(b"", 202)
