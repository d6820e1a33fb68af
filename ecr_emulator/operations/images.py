"""Images: PutImage, BatchGetImage, BatchDeleteImage, DescribeImages, ListImages."""

from __future__ import annotations

import re
from typing import Any

from ..errors import ServiceError, image_not_found, invalid_parameter
from ..identity import RequestContext
from ..manifests import (
    INDEX_TYPES,
    ManifestError,
    ParsedManifest,
    digest_algorithm,
    digest_of,
    parse_manifest,
)
from ..pagination import paginate_in_order
from ..state import Image, Repository
from . import operation
from .repositories import tag_is_immutable

TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,299}")
IMAGE_ID_DIGEST = re.compile(r"[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+")


def store_manifest(
    context: RequestContext,
    repository: Repository,
    manifest: str,
    *,
    media_type: str | None = None,
    tag: str | None = None,
    expected_digest: str | None = None,
    strict: bool | None = None,
    idempotent: bool = False,
    parsed: ParsedManifest | None = None,
) -> Image:
    """The one path by which a manifest becomes an image (PutImage and registry PUT).

    ``strict`` (default: the backend's setting) requires every referenced blob
    to be in the repository; ``idempotent`` (the registry's PUT semantics)
    returns the existing image instead of raising ImageAlreadyExistsException;
    ``parsed`` is the manifest already parsed and validated by the caller.
    """
    if parsed is None:
        try:
            parsed = parse_manifest(manifest, media_type)
        except ManifestError as error:
            raise invalid_parameter("ImageManifest", str(error)) from None
    algorithm = "sha256"
    if expected_digest is not None:
        algorithm = digest_algorithm(expected_digest) or ""
        if not algorithm:
            raise invalid_parameter("imageDigest", f"Invalid image digest '{expected_digest}'")
    digest = digest_of(parsed.digest_payload, algorithm)
    if expected_digest is not None and expected_digest != digest:
        raise ServiceError(
            "ImageDigestDoesNotMatchException",
            f"The provided image digest '{expected_digest}' does not match the digest "
            f"'{digest}' calculated for the image manifest",
        )
    if tag is not None and not TAG_PATTERN.fullmatch(tag):
        raise invalid_parameter("imageTag", f"Invalid image tag '{tag}'")
    if strict if strict is not None else context.backend.strict_manifests:
        _require_references(context, repository, parsed.blob_digests, parsed.child_digests)

    registry_id = repository.registry.account_id
    existing = repository.images.get(digest)
    if tag is not None:
        current = repository.tag_index.get(tag)
        if current == digest and idempotent:
            return repository.images[digest]
        if current == digest:
            raise ServiceError(
                "ImageAlreadyExistsException",
                f"Image with digest '{digest}' and tag '{tag}' already exists in the repository "
                f"with name '{repository.name}' in registry with id '{registry_id}'",
            )
        check_tag_may_move(repository, tag, digest)
    elif existing is not None and idempotent:
        return existing
    elif existing is not None:
        raise ServiceError(
            "ImageAlreadyExistsException",
            f"Image with digest '{digest}' already exists in the repository with name "
            f"'{repository.name}' in registry with id '{registry_id}'",
        )
    image = existing
    if image is None:
        image = Image(
            digest=digest,
            manifest=manifest if isinstance(manifest, str) else manifest.decode("utf-8"),
            media_type=parsed.media_type,
            size=_image_size(context, repository, parsed),
            pushed_at=context.backend.now(),
            artifact_media_type=parsed.artifact_media_type,
            subject_digest=parsed.subject_digest,
            blob_digests=parsed.blob_digests,
            child_digests=parsed.child_digests,
        )
        repository.add_image(image)
    if tag is not None:
        repository.point_tag(tag, image)
    return image


def check_tag_may_move(repository: Repository, tag: str, digest: str) -> None:
    """ImageTagAlreadyExistsException if ``tag`` names another image and may not move."""
    current = repository.tag_index.get(tag)
    if current is not None and current != digest and tag_is_immutable(repository, tag):
        what = "repository" if repository.tag_mutability == "IMMUTABLE" else "tag"
        raise ServiceError(
            "ImageTagAlreadyExistsException",
            f"The image tag '{tag}' already exists in the '{repository.name}' repository "
            f"and cannot be overwritten because the {what} is immutable.",
        )


def _image_size(context: RequestContext, repository: Repository, parsed: Any) -> int:
    """Layer bytes for an image; for an index, the largest of the images it lists (as ECR)."""
    if parsed.media_type in INDEX_TYPES:
        children = (repository.images.get(digest) for digest in parsed.child_digests)
        return max((child.size for child in children if child is not None), default=0)
    if parsed.layers_size or not parsed.blob_digests:
        return parsed.layers_size
    sizes = (context.backend.blobs.size(digest) for digest in parsed.blob_digests)
    return sum(size for size in sizes if size is not None)


def _require_references(
    context: RequestContext,
    repository: Repository,
    blobs: tuple[str, ...],
    children: tuple[str, ...],
) -> None:
    stored = context.backend.blobs.exists
    missing = [d for d in blobs if d not in repository.blob_links or not stored(d)]
    if missing:
        raise ServiceError(
            "LayersNotFoundException",
            f"Layers {missing} referenced by the manifest do not exist in the repository "
            f"with name '{repository.name}' in the registry with id '{repository.registry.account_id}'",
        )
    missing = [digest for digest in children if digest not in repository.images]
    if missing:
        raise ServiceError(
            "ReferencedImagesNotFoundException",
            f"Images {missing} referenced by the manifest list do not exist in the repository "
            f"with name '{repository.name}'",
        )


@operation("PutImage")
def put_image(
    context: RequestContext,
    *,
    repository_name: str,
    image_manifest: str,
    registry_id: str | None = None,
    image_manifest_media_type: str | None = None,
    image_tag: str | None = None,
    image_digest: str | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    image = store_manifest(
        context,
        repository,
        image_manifest,
        media_type=image_manifest_media_type,
        tag=image_tag,
        expected_digest=image_digest,
    )
    return {"image": _image_result(repository, image, {"imageTag": image_tag})}


def _image_result(
    repository: Repository, image: Image, requested: dict[str, Any]
) -> dict[str, Any]:
    """The model's ``Image`` structure: the digest resolved, the tag when one was named."""
    image_id = {"imageDigest": image.digest}
    if requested.get("imageTag") is not None:
        image_id["imageTag"] = requested["imageTag"]
    return {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "imageId": image_id,
        "imageManifest": image.manifest,
        "imageManifestMediaType": image.media_type,
    }


def _failure(image_id: dict[str, str], code: str, reason: str) -> dict[str, Any]:
    return {"imageId": image_id, "failureCode": code, "failureReason": reason}


def resolve_image_id(repository: Repository, image_id: dict[str, str]) -> Image | dict[str, Any]:
    """The image an ``ImageIdentifier`` names, or the failure entry ECR reports for it."""
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    if digest is None and tag is None:
        return _failure(
            image_id,
            "MissingDigestAndTag",
            "Invalid request parameters: both tag and digest cannot be null",
        )
    if digest is not None and not IMAGE_ID_DIGEST.fullmatch(digest):
        return _failure(
            image_id,
            "InvalidImageDigest",
            "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
        )
    if tag is not None and not TAG_PATTERN.fullmatch(tag):
        return _failure(
            image_id,
            "InvalidImageTag",
            "Invalid request parameters: image tag should satisfy the regex '[a-zA-Z0-9-_.]+'",
        )
    if tag is not None:
        image = repository.image_for_tag(tag)
        if image is not None and digest is not None and image.digest != digest:
            return _failure(
                image_id,
                "ImageTagDoesNotMatchDigest",
                "Invalid request parameters: given tag does not map to the given digest",
            )
    else:
        image = repository.images.get(digest)  # type: ignore[arg-type]
    if image is None:
        return _failure(image_id, "ImageNotFound", "Requested image not found")
    return image


@operation("BatchGetImage")
def batch_get_image(
    context: RequestContext,
    *,
    repository_name: str,
    image_ids: list[dict[str, str]],
    registry_id: str | None = None,
    accepted_media_types: list[str] | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    now = context.backend.now()
    images, failures = [], []
    for image_id in _unique(image_ids):
        found = resolve_image_id(repository, image_id)
        if isinstance(found, dict):
            failures.append(found)
            continue
        if accepted_media_types and found.media_type not in accepted_media_types:
            failures.append(
                _failure(
                    image_id,
                    "ImageNotFound",
                    f"Requested image is stored as {found.media_type}, which is not in acceptedMediaTypes",
                )
            )
            continue
        found.last_pulled_at = now
        images.append(_image_result(repository, found, image_id))
    return {"images": images, "failures": failures}


def _unique(image_ids: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: set[tuple[str | None, str | None]] = set()
    unique = []
    for image_id in image_ids:
        key = (image_id.get("imageDigest"), image_id.get("imageTag"))
        if key not in seen:
            seen.add(key)
            unique.append(image_id)
    return unique


def delete_image(repository: Repository, image: Image) -> list[dict[str, str]]:
    """Remove ``image`` and its tags; the image ids ECR reports as deleted."""
    deleted = [{"imageDigest": image.digest, "imageTag": tag} for tag in image.tags]
    repository.remove_image(image)
    return deleted or [{"imageDigest": image.digest}]


@operation("BatchDeleteImage")
def batch_delete_image(
    context: RequestContext,
    *,
    repository_name: str,
    image_ids: list[dict[str, str]],
    registry_id: str | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    deleted: list[dict[str, str]] = []
    failures: list[dict[str, Any]] = []
    for image_id in _unique(image_ids):
        found = resolve_image_id(repository, image_id)
        if isinstance(found, dict):
            failures.append(found)
            continue
        tag = image_id.get("imageTag")
        if tag is not None and len(found.tags) > 1:
            repository.remove_tag(tag)
            deleted.append({"imageDigest": found.digest, "imageTag": tag})
            continue
        if found.digest in repository.index_parents:
            failures.append(
                _failure(
                    image_id,
                    "ImageReferencedByManifestList",
                    "Requested image is referenced by an image index in this repository",
                )
            )
            continue
        deleted.extend(delete_image(repository, found))
    return {"imageIds": deleted, "failures": failures}


def describe_image(repository: Repository, image: Image) -> dict[str, Any]:
    """The model's ``ImageDetail`` structure."""
    return {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "imageDigest": image.digest,
        "imageTags": list(image.tags) or None,
        "imageSizeInBytes": image.size,
        "imagePushedAt": image.pushed_at,
        "imageManifestMediaType": image.media_type,
        "artifactMediaType": image.artifact_media_type,
        "lastRecordedPullTime": image.last_pulled_at,
        "subjectManifestDigest": image.subject_digest,
        "imageStatus": "ACTIVE",
    }


def _tag_status_matches(image: Image, tag_status: str) -> bool:
    if tag_status == "TAGGED":
        return bool(image.tags)
    if tag_status == "UNTAGGED":
        return not image.tags
    return True


@operation("DescribeImages")
def describe_images(
    context: RequestContext,
    *,
    repository_name: str,
    registry_id: str | None = None,
    image_ids: list[dict[str, str]] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
    filter: dict[str, str] | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    tag_status = (filter or {}).get("tagStatus", "ANY")
    image_status = (filter or {}).get("imageStatus", "ANY")
    if image_ids:
        if max_results is not None or next_token is not None:
            raise invalid_parameter(
                "maxResults", "maxResults and nextToken cannot be used with imageIds"
            )
        details = []
        for image_id in _unique(image_ids):
            found = resolve_image_id(repository, image_id)
            if isinstance(found, dict):
                if found["failureCode"] == "ImageNotFound":
                    digest = image_id.get("imageDigest", "null")
                    tag = image_id.get("imageTag", "null")
                    shown = f"{{imageDigest:'{digest}', imageTag:'{tag}'}}"
                    raise image_not_found(shown, repository.name, repository.registry.account_id)
                raise invalid_parameter("imageIds", found["failureReason"])
            details.append(describe_image(repository, found))
        return {"imageDetails": details}
    active = image_status in ("ANY", "ACTIVE")  # every stored image is ACTIVE (none archived)

    def detail_of(digest: str) -> list[dict[str, Any]]:
        image = repository.images[digest]
        if not active or not _tag_status_matches(image, tag_status):
            return []
        return [describe_image(repository, image)]

    page, token = paginate_in_order(
        repository.image_order,
        detail_of,
        next_token,
        max_results,
        "DescribeImages:" + repository.name,
    )
    return {"imageDetails": page, "nextToken": token}


@operation("ListImages")
def list_images(
    context: RequestContext,
    *,
    repository_name: str,
    registry_id: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
    filter: dict[str, str] | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    tag_status = (filter or {}).get("tagStatus", "ANY")
    active = (filter or {}).get("imageStatus", "ANY") in ("ANY", "ACTIVE")

    def image_ids_of(digest: str) -> list[dict[str, str]]:
        image = repository.images[digest]
        if not active or not _tag_status_matches(image, tag_status):
            return []
        if not image.tags:
            return [{"imageDigest": digest}]
        return [{"imageDigest": digest, "imageTag": tag} for tag in image.tags]

    page, token = paginate_in_order(
        repository.image_order,
        image_ids_of,
        next_token,
        max_results,
        "ListImages:" + repository.name,
    )
    return {"imageIds": page, "nextToken": token}
