"""Images on the awsJson wire: PutImage, BatchGetImage, BatchDeleteImage, DescribeImages,
ListImages."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..core import Caller, images, scanning
from ..pagination import paginate_list
from ..state import Image, Repository
from . import operation


def answered_id(image: Image, image_id: dict[str, Any]) -> dict[str, str]:
    """The ``ImageIdentifier`` an answer names: the digest resolved, the tag when one was
    named."""
    result_id = {"imageDigest": image.digest}
    if image_id.get("imageTag") is not None:
        result_id["imageTag"] = image_id["imageTag"]
    return result_id


def image_result(
    registry_id: str, repository_name: str, image: Image, image_id: dict[str, Any]
) -> dict[str, Any]:
    """The model's ``Image`` structure."""
    return {
        "registryId": registry_id,
        "repositoryName": repository_name,
        "imageId": answered_id(image, image_id),
        "imageManifest": image.manifest,
        "imageManifestMediaType": image.media_type,
    }


def failure_result(failure: images.ImageFailure) -> dict[str, Any]:
    """The model's ``ImageFailure`` structure."""
    return {
        "imageId": failure.image_id,
        "failureCode": failure.code,
        "failureReason": failure.reason,
    }


def image_detail(repository: Repository, image: Image, now: _dt.datetime) -> dict[str, Any]:
    """The model's ``ImageDetail`` structure."""
    status = image.status_at(now)
    scan_status, scan_summary = scanning.summary(image)
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
        "imageStatus": status,
        "imageScanStatus": scan_status,
        "imageScanFindingsSummary": scan_summary,
        "lastArchivedAt": image.last_archived_at,
        "lastActivatedAt": image.last_activated_at if status == "ACTIVE" else None,
    }


@operation("PutImage")
def put_image(
    caller: Caller,
    *,
    repository_name: str,
    image_manifest: str,
    registry_id: str | None = None,
    image_manifest_media_type: str | None = None,
    image_tag: str | None = None,
    image_digest: str | None = None,
) -> dict[str, Any]:
    image = images.put_image(
        caller,
        registry_id,
        repository_name,
        image_manifest,
        media_type=image_manifest_media_type,
        tags=[image_tag] if image_tag is not None else [],
        expected_digest=image_digest,
    )
    owner = registry_id or caller.account
    return {"image": image_result(owner, repository_name, image, {"imageTag": image_tag})}


@operation("BatchGetImage")
def batch_get_image(
    caller: Caller,
    *,
    repository_name: str,
    image_ids: list[dict[str, str]],
    registry_id: str | None = None,
    accepted_media_types: list[str] | None = None,
) -> dict[str, Any]:
    repository, found, failures = images.get_images(
        caller, registry_id, repository_name, image_ids, accepted_media_types
    )
    owner, name = repository.registry.account_id, repository.name
    results = [image_result(owner, name, image, image_id) for image, image_id in found]
    return {"images": results, "failures": [failure_result(f) for f in failures]}


@operation("BatchDeleteImage")
def batch_delete_image(
    caller: Caller,
    *,
    repository_name: str,
    image_ids: list[dict[str, str]],
    registry_id: str | None = None,
) -> dict[str, Any]:
    deleted, failures = images.delete_images(caller, registry_id, repository_name, image_ids)
    return {"imageIds": deleted, "failures": [failure_result(f) for f in failures]}


@operation("DescribeImages")
def describe_images(
    caller: Caller,
    *,
    repository_name: str,
    registry_id: str | None = None,
    image_ids: list[dict[str, str]] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
    filter: dict[str, str] | None = None,
) -> dict[str, Any]:
    repository, found, token = images.describe_images(
        caller,
        registry_id,
        repository_name,
        image_ids=image_ids,
        image_filter=filter,
        next_token=next_token,
        max_results=max_results,
    )
    now = caller.backend.now()
    return {
        "imageDetails": [image_detail(repository, image, now) for image in found],
        "nextToken": token,
    }


@operation("ListImages")
def list_images(
    caller: Caller,
    *,
    repository_name: str,
    registry_id: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
    filter: dict[str, str] | None = None,
) -> dict[str, Any]:
    ids, token = images.list_images(
        caller,
        registry_id,
        repository_name,
        image_filter=filter,
        next_token=next_token,
        max_results=max_results,
    )
    return {"imageIds": ids, "nextToken": token}


@operation("ListImageReferrers")
def list_image_referrers(
    caller: Caller,
    *,
    repository_name: str,
    subject_id: dict[str, str],
    registry_id: str | None = None,
    filter: dict[str, Any] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> dict[str, Any]:
    """The referrers ``/v2/<name>/referrers/<digest>`` lists, with their storage status."""
    subject = subject_id["imageDigest"]
    found = images.referrers(caller, registry_id, repository_name, subject)
    wanted_types = set((filter or {}).get("artifactTypes") or ())
    wanted_status = (filter or {}).get("artifactStatus", "ANY")
    now = caller.backend.now()
    entries = [
        {**images.referrer_descriptor(image), "artifactStatus": image.status_at(now)}
        for image in found
        if (not wanted_types or image.artifact_media_type in wanted_types)
        and wanted_status in ("ANY", image.status_at(now))
    ]
    page, token = paginate_list(
        caller.backend,
        entries,
        next_token,
        max_results,
        scope=f"referrers:{caller.account}:{registry_id}:{repository_name}:{subject}",
        default=50,
    )
    return {"referrers": page, "nextToken": token}


@operation("RegisterPullTimeUpdateExclusion")
def register_pull_time_update_exclusion(caller: Caller, *, principal_arn: str) -> dict[str, Any]:
    created = images.register_pull_time_exclusion(caller, principal_arn)
    return {"principalArn": principal_arn, "createdAt": created}


@operation("DeregisterPullTimeUpdateExclusion")
def deregister_pull_time_update_exclusion(caller: Caller, *, principal_arn: str) -> dict[str, Any]:
    images.deregister_pull_time_exclusion(caller, principal_arn)
    return {"principalArn": principal_arn}


@operation("ListPullTimeUpdateExclusions")
def list_pull_time_update_exclusions(
    caller: Caller, *, next_token: str | None = None, max_results: int | None = None
) -> dict[str, Any]:
    page, token = paginate_list(
        caller.backend,
        [arn for arn, _ in images.pull_time_exclusions(caller)],
        next_token,
        max_results,
        scope=f"pull-time-exclusions:{caller.account}:{caller.region}",
    )
    return {"pullTimeUpdateExclusions": page, "nextToken": token}
