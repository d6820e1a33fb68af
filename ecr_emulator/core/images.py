"""Images: the one path by which a manifest becomes an image, tags move, and images are
read, listed and deleted — for PutImage and the registry's manifest PUT alike.

Each function resolves its repository through the access check and changes
state inside one short transaction; parsing and digesting a manifest happen
before the lock is taken.  Events: ``ImagePushed``, ``TagMoved``,
``TagRemoved``, ``ImageDeleted``, ``ImagePulled``.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..digests import algorithm_of, digest_of
from ..errors import ServiceError, image_not_found, invalid_parameter
from ..events import ImageDeleted, ImagePulled, ImagePushed, TagMoved, TagRemoved
from ..manifests import ManifestError, ParsedManifest, parse_manifest
from ..media_types import INDEX_TYPES
from ..pagination import paginate_in_order
from ..service_models import member_limit
from ..state import Backend, Image, Repository
from ..wildcard import matches
from . import access, creation_templates, storage_classes
from .blobs import free
from .caller import Caller

MAX_MANIFEST_BYTES = member_limit("PutImage", "imageManifest")  # what ECR stores, on both planes

# ECR's tag rule, for both planes: its own regex (quoted in ECR's answers: "Invalid parameter
# at 'imageTag' failed to satisfy constraint: 'must satisfy regular expression
# '[a-zA-Z0-9-_.]+''") within the model's ImageTag length, 1 to 300.
TAG_REGEX = "[a-zA-Z0-9-_.]+"
TAG_PATTERN = re.compile(f"(?={TAG_REGEX}$).{{1,300}}")
IMAGE_ID_DIGEST = re.compile(r"[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+")


def is_valid_tag(tag: str) -> bool:
    return TAG_PATTERN.fullmatch(tag) is not None


def tag_is_immutable(repository: Repository, tag: str) -> bool:
    """Whether an existing ``tag`` may not be moved to another image in this repository."""
    mutability = repository.tag_mutability
    if mutability == "MUTABLE":
        return False
    if mutability == "IMMUTABLE":
        return True
    excluded = any(matches(item["filter"], tag) for item in repository.tag_mutability_exclusions)
    # IMMUTABLE_WITH_EXCLUSION: excluded tags stay mutable; MUTABLE_WITH_EXCLUSION: the reverse.
    return not excluded if mutability == "IMMUTABLE_WITH_EXCLUSION" else excluded


def _check_tag_may_move(repository: Repository, tag: str, digest: str) -> None:
    """ImageTagAlreadyExistsException if ``tag`` names another image and may not move."""
    if not tag_may_move(repository, tag, digest):
        what = "repository" if repository.tag_mutability == "IMMUTABLE" else "tag"
        raise ServiceError(
            "ImageTagAlreadyExistsException",
            f"The image tag '{tag}' already exists in the '{repository.name}' repository "
            f"and cannot be overwritten because the {what} is immutable.",
        )


def tag_may_move(repository: Repository, tag: str, digest: str) -> bool:
    """Whether ``tag`` may come to name ``digest`` (an immutable tag elsewhere may not)."""
    current = repository.tag_index.get(tag)
    return current is None or current == digest or not tag_is_immutable(repository, tag)


def parse(manifest: str | bytes, media_type: str | None, *, infer: bool = False) -> ParsedManifest:
    """The manifest checked against its schema (``InvalidParameterException`` otherwise)."""
    try:
        return parse_manifest(manifest, media_type, infer_media_type=infer)
    except ManifestError as error:
        raise invalid_parameter("ImageManifest", str(error), error.detail) from None


def put_image(
    caller: Caller,
    registry_id: str | None,
    name: str,
    manifest: str | bytes,
    *,
    media_type: str | None = None,
    tags: Sequence[str] = (),
    expected_digest: str | None = None,
    strict: bool | None = None,
    idempotent: bool = False,
    infer_media_type: bool = False,
) -> Image:
    """Store ``manifest`` as an image of the repository and point ``tags`` at it, all or
    nothing.

    ``strict`` (default: the backend's setting) requires every referenced blob
    and child manifest to be in the repository; ``idempotent`` (the registry's
    PUT) returns an image that is already there instead of raising
    ImageAlreadyExistsException; ``infer_media_type`` (the registry's PUT
    without a Content-Type) reads the type from the manifest's shape.
    """
    backend = caller.backend
    parsed = parse(manifest, media_type, infer=infer_media_type)
    algorithm = "sha256"
    if expected_digest is not None:
        algorithm = algorithm_of(expected_digest) or ""
        if not algorithm:
            raise invalid_parameter("imageDigest", f"Invalid image digest '{expected_digest}'")
    digest = digest_of(parsed.digest_payload, algorithm)
    if expected_digest is not None and expected_digest != digest:
        raise ServiceError(
            "ImageDigestDoesNotMatchException",
            f"The provided image digest '{expected_digest}' does not match the digest "
            f"'{digest}' calculated for the image manifest",
        )
    for tag in tags:
        if not is_valid_tag(tag):
            raise invalid_parameter("imageTag", f"must satisfy regular expression '{TAG_REGEX}'")
    text = manifest if isinstance(manifest, str) else manifest.decode("utf-8")
    creation_templates.ensure_for_push(caller, registry_id, name)  # CREATE_ON_PUSH
    with backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:PutImage")
        if strict if strict is not None else backend.strict_manifests:
            _require_references(caller, repository, parsed)
        existing = repository.images.get(digest)
        if not idempotent:
            _refuse_existing(repository, digest, existing, tags)
        for tag in tags:
            _check_tag_may_move(repository, tag, digest)
        image = existing
        if image is not None:  # pushed again: an archived image comes back at once
            storage_classes.restore_now(backend, repository, image, events)
        else:
            image = Image(
                digest=digest,
                manifest=text,
                media_type=parsed.media_type,
                size=_image_size(caller, repository, parsed),
                pushed_at=backend.now(),
                artifact_media_type=parsed.artifact_media_type,
                subject_digest=parsed.subject_digest,
                blob_digests=parsed.blob_digests,
                child_digests=parsed.child_digests,
            )
            repository.add_image(image)
            events.append(ImagePushed(*repository.scope, digest, image.media_type))
        for tag in tags:
            previous_digest = repository.tag_index.get(tag)
            if previous_digest != digest:
                repository.point_tag(tag, image)
                events.append(TagMoved(*repository.scope, tag, digest, previous_digest))
        return image


def _refuse_existing(
    repository: Repository, digest: str, existing: Image | None, tags: Sequence[str]
) -> None:
    """PutImage of what is already there: ImageAlreadyExistsException, as ECR answers."""
    registry_id = repository.registry.account_id
    if tags and all(repository.tag_index.get(tag) == digest for tag in tags):
        raise ServiceError(
            "ImageAlreadyExistsException",
            f"Image with digest '{digest}' and tag '{tags[0]}' already exists in the repository "
            f"with name '{repository.name}' in registry with id '{registry_id}'",
        )
    if not tags and existing is not None:
        raise ServiceError(
            "ImageAlreadyExistsException",
            f"Image with digest '{digest}' already exists in the repository with name "
            f"'{repository.name}' in registry with id '{registry_id}'",
        )


def _image_size(caller: Caller, repository: Repository, parsed: ParsedManifest) -> int:
    """Layer bytes for an image; for an index, the largest of the images it lists (as ECR)."""
    if parsed.media_type in INDEX_TYPES:
        children = (repository.images.get(digest) for digest in parsed.child_digests)
        return max((child.size for child in children if child is not None), default=0)
    if parsed.layers_size or not parsed.blob_digests:
        return parsed.layers_size
    # Only blobs this repository holds: the size of another account's blob is not ours to tell.
    held = [d for d in parsed.blob_digests if repository.holds_blob(d)]
    sizes = (caller.backend.blobs.size(digest) for digest in held)
    return sum(size for size in sizes if size is not None)


def _require_references(caller: Caller, repository: Repository, parsed: ParsedManifest) -> None:
    stored = caller.backend.blobs.exists
    missing = [d for d in parsed.blob_digests if not repository.holds_blob(d) or not stored(d)]
    if missing:
        raise ServiceError(
            "LayersNotFoundException",
            f"Layers {missing} referenced by the manifest do not exist in the repository "
            f"with name '{repository.name}' in the registry with id '{repository.registry.account_id}'",
        )
    missing = [digest for digest in parsed.child_digests if digest not in repository.images]
    if missing:
        raise ServiceError(
            "ReferencedImagesNotFoundException",
            f"Images {missing} referenced by the manifest list do not exist in the repository "
            f"with name '{repository.name}'",
        )


# --- reading images --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageFailure:
    """Why an image id names no image it may be used for: ECR's ``ImageFailureCode`` and
    reason (BatchGetImage and BatchDeleteImage report these per id)."""

    image_id: dict[str, str]
    code: str
    reason: str


def resolve_image_id(repository: Repository, image_id: dict[str, str]) -> Image | ImageFailure:
    """The image an ``ImageIdentifier`` names, or the failure entry ECR reports for it."""
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    if digest is None and tag is None:
        return ImageFailure(
            image_id,
            "MissingDigestAndTag",
            "Invalid request parameters: both tag and digest cannot be null",
        )
    if digest is not None and not IMAGE_ID_DIGEST.fullmatch(digest):
        return ImageFailure(
            image_id,
            "InvalidImageDigest",
            "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
        )
    if tag is not None and not is_valid_tag(tag):
        return ImageFailure(
            image_id,
            "InvalidImageTag",
            f"Invalid request parameters: image tag should satisfy the regex '{TAG_REGEX}'",
        )
    if tag is not None:
        image = repository.image_for_tag(tag)
        if image is not None and digest is not None and image.digest != digest:
            return ImageFailure(
                image_id,
                "ImageTagDoesNotMatchDigest",
                "Invalid request parameters: given tag does not map to the given digest",
            )
    else:
        image = repository.images.get(digest)  # type: ignore[arg-type]
    if image is None:
        return ImageFailure(image_id, "ImageNotFound", "Requested image not found")
    return image


def unique_ids(image_ids: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: set[tuple[str | None, str | None]] = set()
    unique = []
    for image_id in image_ids:
        key = (image_id.get("imageDigest"), image_id.get("imageTag"))
        if key not in seen:
            seen.add(key)
            unique.append(image_id)
    return unique


def get_images(
    caller: Caller,
    registry_id: str | None,
    name: str,
    image_ids: list[dict[str, str]],
    accepted_media_types: list[str] | None = None,
) -> tuple[Repository, list[tuple[Image, dict[str, str]]], list[ImageFailure]]:
    """BatchGetImage: (repository, [(image, the id that named it)], failures); a pull of each."""
    backend = caller.backend
    found_images: list[tuple[Image, dict[str, str]]] = []
    failures: list[ImageFailure] = []
    with backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:BatchGetImage")
        now = backend.now()
        for image_id in unique_ids(image_ids):
            found = resolve_image_id(repository, image_id)
            if isinstance(found, ImageFailure):
                failures.append(found)
            elif not storage_classes.pullable(found, now):
                failures.append(ImageFailure(image_id, "ImageInaccessible", INACCESSIBLE))
            elif accepted_media_types and found.media_type not in accepted_media_types:
                failures.append(
                    ImageFailure(
                        image_id,
                        "ImageNotFound",
                        f"Requested image is stored as {found.media_type}, which is not in "
                        "acceptedMediaTypes",
                    )
                )
            else:
                if pull_recorded(caller, repository):
                    found.last_pulled_at = now
                found_images.append((found, image_id))
                events.append(ImagePulled(*repository.scope, found.digest))
    return repository, found_images, failures


# What DescribeImages answers where BatchGetImage reports a failure; quoted AWS answers:
# "Invalid parameter at 'imageDigest' failed to satisfy constraint: 'must satisfy regular
# expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+''", and the same form for imageTag.
_ID_CONSTRAINTS = {
    "InvalidImageDigest": (
        "imageDigest",
        f"must satisfy regular expression '{IMAGE_ID_DIGEST.pattern}'",
    ),
    "InvalidImageTag": ("imageTag", f"must satisfy regular expression '{TAG_REGEX}'"),
}


def failure_error(repository: Repository, found: ImageFailure) -> ServiceError:
    image_id, code = found.image_id, found.code
    if code in _ID_CONSTRAINTS:
        return invalid_parameter(*_ID_CONSTRAINTS[code])
    if code == "ImageNotFound":
        digest = image_id.get("imageDigest", "null")
        tag = image_id.get("imageTag", "null")
        shown = f"{{imageDigest:'{digest}', imageTag:'{tag}'}}"
        return image_not_found(shown, repository.name, repository.registry.account_id)
    return invalid_parameter("imageIds", found.reason)


def find_image(repository: Repository, reference: str) -> Image | None:
    """The image a registry reference (a tag, or a digest when it has a colon) names."""
    if ":" in reference:
        return repository.images.get(reference)
    return repository.image_for_tag(reference)


# What ECR says of an archived (or restoring) image asked for by a pull, as docker shows it:
# "unknown: The requested image is in an inaccessible state. Please restore if needed"
# (a third-party demo's log; the user guide says only that the pull fails with a 404).
INACCESSIBLE = "The requested image is in an inaccessible state. Please restore if needed"


class Inaccessible(Exception):
    """The image is archived or being restored: it cannot be pulled."""


class NotAcceptable(Exception):
    """The image is stored as a media type the client did not say it accepts."""

    def __init__(self, image: Image) -> None:
        super().__init__(image.media_type)
        self.image = image


def get_manifest(
    caller: Caller,
    registry_id: str | None,
    name: str,
    reference: str,
    *,
    pull: bool,
    accepted: set[str] | None = None,
) -> Image | None:
    """The image a registry GET (``pull``: recorded as a pull) or HEAD names, or None;
    ``NotAcceptable``, and no pull recorded, when ``accepted`` media types (the client's
    Accept headers; empty or ``*/*``: anything) leave the image's own type out."""
    with caller.backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:BatchGetImage")
        image = find_image(repository, reference)
        if image is None:
            return None
        if not storage_classes.pullable(image, caller.backend.now()):
            raise Inaccessible(image.digest)
        if accepted and "*/*" not in accepted and image.media_type not in accepted:
            raise NotAcceptable(image)
        if pull and pull_recorded(caller, repository):
            image.last_pulled_at = caller.backend.now()
            events.append(ImagePulled(*repository.scope, image.digest))
        return image


def delete_image(
    backend: Backend, repository: Repository, image: Image, events: list[object]
) -> None:
    """Remove ``image`` and its tags, and free the blobs no repository holds any more (lock
    held): BatchDeleteImage by digest, registry DELETE, a lifecycle expiry."""
    tags = image.tags
    free(backend, repository.remove_image(image), events)
    events.append(ImageDeleted(*repository.scope, image.digest, tags))


def delete_images(
    caller: Caller, registry_id: str | None, name: str, image_ids: list[dict[str, str]]
) -> tuple[list[dict[str, str]], list[ImageFailure]]:
    """BatchDeleteImage: the image ids deleted and the failures.  A tag of an image that has
    other tags only loses that tag; an image an index lists is not deleted."""
    deleted: list[dict[str, str]] = []
    failures: list[ImageFailure] = []
    with caller.backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:BatchDeleteImage")
        for image_id in unique_ids(image_ids):
            found = resolve_image_id(repository, image_id)
            if isinstance(found, ImageFailure):
                failures.append(found)
                continue
            tag = image_id.get("imageTag")
            if tag is not None and len(found.tags) > 1:
                repository.remove_tag(tag)
                events.append(TagRemoved(*repository.scope, tag, found.digest))
                deleted.append({"imageDigest": found.digest, "imageTag": tag})
                continue
            if found.digest in repository.index_parents:
                failures.append(
                    ImageFailure(
                        image_id,
                        "ImageReferencedByManifestList",
                        "Requested image is referenced by an image index in this repository",
                    )
                )
                continue
            ids = [{"imageDigest": found.digest, "imageTag": t} for t in found.tags]
            delete_image(caller.backend, repository, found, events)
            deleted.extend(ids or [{"imageDigest": found.digest}])
    return deleted, failures


class ReferencedByIndex(Exception):
    """The image is listed by an image index of the repository and cannot go alone."""


def delete_manifest(caller: Caller, registry_id: str | None, name: str, reference: str) -> bool:
    """Registry DELETE: by digest the image and its tags go, by tag only the tag goes (OCI
    1.1).  False when the reference names nothing; ``ReferencedByIndex`` for an index child."""
    with caller.backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:BatchDeleteImage")
        image = find_image(repository, reference)
        if image is None:
            return False
        if ":" not in reference:
            repository.remove_tag(reference)
            events.append(TagRemoved(*repository.scope, reference, image.digest))
        elif image.digest in repository.index_parents:
            raise ReferencedByIndex(image.digest)
        else:
            delete_image(caller.backend, repository, image, events)
        return True


# --- listings --------------------------------------------------------------------------------


def _tag_status_matches(image: Image, tag_status: str) -> bool:
    if tag_status == "TAGGED":
        return bool(image.tags)
    if tag_status == "UNTAGGED":
        return not image.tags
    return True


def _filter_test(image_filter: dict[str, str] | None, now: _dt.datetime) -> Callable[[Image], bool]:
    """The DescribeImages/ListImages ``filter`` (tagStatus, imageStatus) as a test."""
    tag_status = (image_filter or {}).get("tagStatus", "ANY")
    status = (image_filter or {}).get("imageStatus", "ANY")
    return lambda image: (
        (status == "ANY" or image.status_at(now) == status)
        and (_tag_status_matches(image, tag_status))
    )


def describe_images(
    caller: Caller,
    registry_id: str | None,
    name: str,
    *,
    image_ids: list[dict[str, str]] | None = None,
    image_filter: dict[str, str] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> tuple[Repository, list[Image], str | None]:
    """DescribeImages: the images named by ``image_ids`` (every one must exist) or one page
    of all of them, in push order; ``image_filter`` applies to both."""
    wanted = _filter_test(image_filter, caller.backend.now())
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:DescribeImages")
        if image_ids:
            if max_results is not None or next_token is not None:
                raise invalid_parameter(
                    "maxResults", "maxResults and nextToken cannot be used with imageIds"
                )
            images = []
            for image_id in unique_ids(image_ids):
                found = resolve_image_id(repository, image_id)
                if isinstance(found, ImageFailure):
                    raise failure_error(repository, found)
                if wanted(found):
                    images.append(found)
            return repository, images, None

        def one(digest: str) -> list[Image]:
            image = repository.images[digest]
            return [image] if wanted(image) else []

        page, token = paginate_in_order(
            caller.backend,
            repository.image_order,
            one,
            next_token,
            max_results,
            "DescribeImages:" + repository.arn,
        )
        return repository, page, token


def list_images(
    caller: Caller,
    registry_id: str | None,
    name: str,
    *,
    image_filter: dict[str, str] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> tuple[list[dict[str, str]], str | None]:
    """ListImages: one page of image ids, an image once per tag (untagged: by digest)."""
    wanted = _filter_test(image_filter, caller.backend.now())
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:ListImages")

        def ids_of(digest: str) -> list[dict[str, str]]:
            image = repository.images[digest]
            if not wanted(image):
                return []
            if not image.tags:
                return [{"imageDigest": digest}]
            return [{"imageDigest": digest, "imageTag": tag} for tag in image.tags]

        return paginate_in_order(
            caller.backend,
            repository.image_order,
            ids_of,
            next_token,
            max_results,
            "ListImages:" + repository.arn,
        )


def list_tags(caller: Caller, registry_id: str | None, name: str) -> list[str]:
    """The registry's tag listing: every tag of the repository, sorted."""
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:ListImages")
        return sorted(repository.tag_index)


def referrers(caller: Caller, registry_id: str | None, name: str, subject: str) -> list[Image]:
    """The images whose ``subject`` is ``subject`` (OCI 1.1 referrers), by digest: what
    ``/v2/<name>/referrers/<digest>`` and ListImageReferrers both list."""
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:BatchGetImage")
        return [repository.images[d] for d in sorted(repository.referrers.get(subject, ()))]


def referrer_descriptor(image: Image) -> dict[str, Any]:
    """A referrer as both listings describe it: OCI's descriptor (media type, digest, size
    of the manifest, artifactType, the manifest's annotations)."""
    manifest = image.manifest.encode("utf-8")
    descriptor: dict[str, Any] = {
        "mediaType": image.media_type,
        "digest": image.digest,
        "size": len(manifest),
    }
    if image.artifact_media_type:
        descriptor["artifactType"] = image.artifact_media_type
    try:
        annotations = json.loads(manifest).get("annotations")
    except (ValueError, AttributeError):
        annotations = None
    if annotations:
        descriptor["annotations"] = annotations
    return descriptor


def pull_recorded(caller: Caller, repository: Repository) -> bool:
    """Whether a pull by ``caller`` updates ``lastRecordedPullTime``: not for a principal on
    the registry's pull-time update exclusion list (lock held)."""
    return (
        caller.principal is None or caller.principal not in repository.registry.pull_time_exclusions
    )


# --- pull-time update exclusions --------------------------------------------------------------

MAX_PULL_TIME_EXCLUSIONS = 100  # "up to 100 per account" (user guide, pull-time update exclusions)


def register_pull_time_exclusion(caller: Caller, principal_arn: str) -> _dt.datetime:
    """RegisterPullTimeUpdateExclusion: pulls by ``principal_arn`` stop updating
    ``lastRecordedPullTime``; when it was excluded."""
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:RegisterPullTimeUpdateExclusion", "*")
        exclusions = registry.pull_time_exclusions
        if principal_arn in exclusions:
            raise ServiceError(
                "ExclusionAlreadyExistsException",
                f"The principal '{principal_arn}' is already on the pull time update "
                "exclusion list",
            )
        if len(exclusions) >= MAX_PULL_TIME_EXCLUSIONS:
            raise ServiceError(
                "LimitExceededException",
                f"The pull time update exclusion list holds at most {MAX_PULL_TIME_EXCLUSIONS} "
                "principals",
            )
        now = caller.backend.now()
        registry.pull_time_exclusions = {**exclusions, principal_arn: now}
        return now


def deregister_pull_time_exclusion(caller: Caller, principal_arn: str) -> None:
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:DeregisterPullTimeUpdateExclusion", "*")
        if principal_arn not in registry.pull_time_exclusions:
            raise ServiceError(
                "ExclusionNotFoundException",
                f"The principal '{principal_arn}' is not on the pull time update exclusion list",
            )
        left = dict(registry.pull_time_exclusions)
        del left[principal_arn]
        registry.pull_time_exclusions = left


def pull_time_exclusions(caller: Caller) -> list[tuple[str, _dt.datetime]]:
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        found = registry.pull_time_exclusions if registry is not None else {}
        return sorted(found.items())
