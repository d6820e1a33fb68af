"""Lifecycle policies and storage classes on the awsJson wire: Put/Get/DeleteLifecyclePolicy,
Start/GetLifecyclePolicyPreview, UpdateImageStorageClass (``core.lifecycle``,
``core.storage_classes``)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, lifecycle, storage_classes
from ..pagination import paginate_list
from ..state import Repository
from . import operation
from .images import answered_id


def _about(repository: Repository) -> dict[str, Any]:
    return {"registryId": repository.registry.account_id, "repositoryName": repository.name}


@operation("PutLifecyclePolicy")
def put_lifecycle_policy(
    caller: Caller,
    *,
    repository_name: str,
    lifecycle_policy_text: str,
    registry_id: str | None = None,
) -> dict[str, Any]:
    repository = lifecycle.put_policy(caller, registry_id, repository_name, lifecycle_policy_text)
    return {**_about(repository), "lifecyclePolicyText": lifecycle_policy_text}


@operation("GetLifecyclePolicy")
def get_lifecycle_policy(
    caller: Caller, *, repository_name: str, registry_id: str | None = None
) -> dict[str, Any]:
    repository = lifecycle.get_policy(caller, registry_id, repository_name)
    return {
        **_about(repository),
        "lifecyclePolicyText": repository.lifecycle_policy_text,
        "lastEvaluatedAt": repository.lifecycle_evaluated_at,
    }


@operation("DeleteLifecyclePolicy")
def delete_lifecycle_policy(
    caller: Caller, *, repository_name: str, registry_id: str | None = None
) -> dict[str, Any]:
    repository, text = lifecycle.delete_policy(caller, registry_id, repository_name)
    return {
        **_about(repository),
        "lifecyclePolicyText": text,
        "lastEvaluatedAt": repository.lifecycle_evaluated_at,
    }


@operation("StartLifecyclePolicyPreview")
def start_lifecycle_policy_preview(
    caller: Caller,
    *,
    repository_name: str,
    registry_id: str | None = None,
    lifecycle_policy_text: str | None = None,
) -> dict[str, Any]:
    repository = lifecycle.start_preview(
        caller, registry_id, repository_name, lifecycle_policy_text
    )
    preview = repository.lifecycle_preview or {}
    return {
        **_about(repository),
        "lifecyclePolicyText": preview.get("policy_text"),
        "status": preview.get("status"),
    }


@operation("GetLifecyclePolicyPreview")
def get_lifecycle_policy_preview(
    caller: Caller,
    *,
    repository_name: str,
    registry_id: str | None = None,
    image_ids: list[dict[str, str]] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
    filter: dict[str, str] | None = None,
) -> dict[str, Any]:
    repository, preview = lifecycle.get_preview(caller, registry_id, repository_name)
    results = lifecycle.preview_results(preview, image_ids, filter)
    page, token = paginate_list(
        caller.backend,
        results,
        next_token,
        max_results,
        scope=f"lifecycle-preview:{repository.arn}",
        default=lifecycle.PREVIEW_PAGE,
    )
    return {
        **_about(repository),
        "lifecyclePolicyText": preview["policy_text"],
        "status": preview["status"],
        "previewResults": [_preview_result(entry) for entry in page],
        "nextToken": token,
        "summary": lifecycle.preview_summary(preview),
    }


def _preview_result(entry: dict[str, Any]) -> dict[str, Any]:
    action: dict[str, Any] = {"type": entry["action"]}
    if entry.get("targetStorageClass"):
        action["targetStorageClass"] = entry["targetStorageClass"]
    return {
        "imageTags": entry["imageTags"] or None,
        "imageDigest": entry["imageDigest"],
        "imagePushedAt": entry["imagePushedAt"],
        "action": action,
        "appliedRulePriority": entry["appliedRulePriority"],
        "storageClass": entry["storageClass"],
    }


@operation("UpdateImageStorageClass")
def update_image_storage_class(
    caller: Caller,
    *,
    repository_name: str,
    image_id: dict[str, str],
    target_storage_class: str,
    registry_id: str | None = None,
) -> dict[str, Any]:
    repository, image, status = storage_classes.update_storage_class(
        caller, registry_id, repository_name, image_id, target_storage_class
    )
    return {**_about(repository), "imageId": answered_id(image, image_id), "imageStatus": status}
