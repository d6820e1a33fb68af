"""Manifests: PUT (validated, references checked), GET/HEAD (content negotiation), DELETE.

PUT goes through ``operations.images.store_manifest`` in strict mode, so tag
immutability, digests and media types follow exactly the rules of PutImage.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from .. import manifests as media
from ..errors import ServiceError
from ..manifests import ManifestError, is_valid_digest, parse_manifest
from ..operations.images import check_tag_may_move, delete_image, store_manifest
from ..state import Image, Repository
from .errors import RegistryError, digest_invalid, manifest_invalid, manifest_unknown

if TYPE_CHECKING:
    from . import RegistryCall

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


def _is_digest(reference: str) -> bool:
    return ":" in reference


def _reference(call: RegistryCall) -> tuple[str, bool]:
    """The tag or digest the URL names, and whether it is a digest (checked)."""
    reference = call.params["reference"]
    by_digest = _is_digest(reference)
    if by_digest and not is_valid_digest(reference):
        raise digest_invalid("invalid digest", reference)
    return reference, by_digest


def _find(repository: Repository, reference: str) -> Image:
    """The image a tag or digest names, or MANIFEST_UNKNOWN."""
    image = (
        repository.images.get(reference)
        if _is_digest(reference)
        else repository.image_for_tag(reference)
    )
    if image is None:
        raise manifest_unknown(reference)
    return image


def _accepted(call: RegistryCall) -> set[str]:
    """Every media type named by the (possibly repeated) Accept headers."""
    values = call.request.headers.getlist("Accept")
    return {
        part.split(";")[0].strip() for value in values for part in value.split(",") if part.strip()
    }


def get_manifest(call: RegistryCall) -> Response:
    reference, _ = _reference(call)
    with call.backend.lock:
        repository = call.repository()
        image = _find(repository, reference)
        accepted = _accepted(call)
        if accepted and "*/*" not in accepted and image.media_type not in accepted:
            raise RegistryError(
                "MANIFEST_UNKNOWN",
                f"manifest is stored as {image.media_type}, which the client does not accept",
                404,
                {"reference": reference, "mediaType": image.media_type},
            )
        if call.request.method == "GET":
            image.last_pulled_at = call.backend.now()
        body = image.manifest.encode("utf-8")
    headers = {"Docker-Content-Digest": image.digest, "ETag": f'"{image.digest}"'}
    response = Response(
        b"" if call.request.method == "HEAD" else body, 200, headers, content_type=image.media_type
    )
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
    except OSError as error:  # a broken chunked encoding, a body cut short
        raise manifest_invalid(f"the request body could not be read: {error}") from None
    if len(body) > MAX_MANIFEST_BYTES:
        raise RegistryError("MANIFEST_INVALID", "manifest is larger than 4 MiB", 413)
    return body


def _validate(body: bytes, content_type: str | None) -> media.ParsedManifest:
    """Schema-valid, and the Content-Type agrees with the manifest's own mediaType."""
    try:
        return parse_manifest(body, content_type or None)
    except ManifestError as error:
        raise manifest_invalid(str(error)) from None


_SERVICE_ERRORS = {
    "ImageTagAlreadyExistsException": ("TAG_INVALID", 400),
    "ImageDigestDoesNotMatchException": ("DIGEST_INVALID", 400),
    "LayersNotFoundException": ("MANIFEST_BLOB_UNKNOWN", 400),
    "ReferencedImagesNotFoundException": ("MANIFEST_BLOB_UNKNOWN", 400),
    "InvalidParameterException": ("MANIFEST_INVALID", 400),
}


def put_manifest(call: RegistryCall) -> Response:
    """PUT by tag, or by digest with any number of ``?tag=`` parameters (OCI 1.1)."""
    reference, by_digest = _reference(call)
    tags = call.request.args.getlist("tag") if by_digest else [reference]
    for tag in tags:
        if not TAG.fullmatch(tag):
            raise RegistryError("TAG_INVALID", "manifest tag did not match URI", 400, {"tag": tag})
    body = _read_manifest(call)
    content_type = call.request.headers.get("Content-Type", "").split(";")[0].strip()
    parsed = _validate(body, content_type)
    strict = not call.backend.allow_sparse_manifests
    with call.backend.lock:
        repository = call.repository()
        try:
            for tag in tags if by_digest else ():  # all tags or none: check before moving any
                check_tag_may_move(repository, tag, reference)
            for tag in tags or [None]:
                image = store_manifest(
                    call.context,
                    repository,
                    body.decode("utf-8"),
                    parsed=parsed,
                    tag=tag,
                    expected_digest=reference if by_digest else None,
                    strict=strict,
                    idempotent=True,
                )
        except ServiceError as error:
            code, status = _SERVICE_ERRORS.get(error.code, ("MANIFEST_INVALID", 400))
            raise RegistryError(code, error.message, status) from None
    response = Response(b"", 201)
    response.headers["Location"] = f"/v2/{call.name}/manifests/{image.digest}"
    response.headers["Docker-Content-Digest"] = image.digest
    if by_digest and tags:
        response.headers["OCI-Tag"] = ", ".join(tags)
    if image.subject_digest:
        response.headers["OCI-Subject"] = image.subject_digest
    return response


def delete_manifest(call: RegistryCall) -> Response:
    """By digest: the image and its tags go; by tag: only the tag goes (OCI 1.1)."""
    reference, by_digest = _reference(call)
    with call.backend.lock:
        repository = call.repository()
        image = _find(repository, reference)
        if not by_digest:
            repository.remove_tag(reference)
        elif image.digest in repository.index_parents:
            raise RegistryError(
                "DENIED", "the manifest is referenced by an image index in this repository", 409
            )
        else:
            delete_image(repository, image)
    return Response(b"", 202)
