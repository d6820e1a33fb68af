"""Repositories on the awsJson wire: CreateRepository, DescribeRepositories, DeleteRepository,
PutImageTagMutability, PutImageScanningConfiguration, DescribeRegistry."""

from __future__ import annotations

from typing import Any

from ..core import Caller, repositories
from ..state import Repository
from . import operation


def describe_repository(repository: Repository) -> dict[str, Any]:
    """The model's ``Repository`` structure."""
    description: dict[str, Any] = {
        "repositoryArn": repository.arn,
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "repositoryUri": repository.uri,
        "createdAt": repository.created_at,
        "imageTagMutability": repository.tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": repository.scan_on_push},
        "encryptionConfiguration": dict(repository.encryption),
    }
    if repository.tag_mutability_exclusions:
        description["imageTagMutabilityExclusionFilters"] = [
            dict(item) for item in repository.tag_mutability_exclusions
        ]
    return description


@operation("CreateRepository")
def create_repository(
    caller: Caller,
    *,
    repository_name: str,
    registry_id: str | None = None,
    tags: list[dict[str, str]] | None = None,
    image_tag_mutability: str = "MUTABLE",
    image_tag_mutability_exclusion_filters: list[dict[str, str]] | None = None,
    image_scanning_configuration: dict[str, bool] | None = None,
    encryption_configuration: dict[str, str] | None = None,
) -> dict[str, Any]:
    repository = repositories.create(
        caller,
        registry_id,
        repository_name,
        tag_mutability=image_tag_mutability,
        exclusion_filters=image_tag_mutability_exclusion_filters,
        scan_on_push=bool((image_scanning_configuration or {}).get("scanOnPush", False)),
        encryption=encryption_configuration,
        resource_tags=tags,
    )
    return {"repository": describe_repository(repository)}


@operation("DescribeRepositories")
def describe_repositories(
    caller: Caller,
    *,
    registry_id: str | None = None,
    repository_names: list[str] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> dict[str, Any]:
    found, token = repositories.describe(
        caller, registry_id, names=repository_names, next_token=next_token, max_results=max_results
    )
    return {"repositories": [describe_repository(repo) for repo in found], "nextToken": token}


@operation("DeleteRepository")
def delete_repository(
    caller: Caller, *, repository_name: str, registry_id: str | None = None, force: bool = False
) -> dict[str, Any]:
    repository = repositories.delete(caller, registry_id, repository_name, force=force)
    return {"repository": describe_repository(repository)}


@operation("PutImageTagMutability")
def put_image_tag_mutability(
    caller: Caller,
    *,
    repository_name: str,
    image_tag_mutability: str,
    registry_id: str | None = None,
    image_tag_mutability_exclusion_filters: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    repository = repositories.set_tag_mutability(
        caller,
        registry_id,
        repository_name,
        image_tag_mutability,
        image_tag_mutability_exclusion_filters,
    )
    result: dict[str, Any] = {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "imageTagMutability": image_tag_mutability,
    }
    if repository.tag_mutability_exclusions:
        result["imageTagMutabilityExclusionFilters"] = list(repository.tag_mutability_exclusions)
    return result


@operation("PutImageScanningConfiguration")
def put_image_scanning_configuration(
    caller: Caller,
    *,
    repository_name: str,
    image_scanning_configuration: dict[str, bool],
    registry_id: str | None = None,
) -> dict[str, Any]:
    scan_on_push = bool(image_scanning_configuration.get("scanOnPush", False))
    repository = repositories.set_scan_on_push(caller, registry_id, repository_name, scan_on_push)
    return {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "imageScanningConfiguration": {"scanOnPush": repository.scan_on_push},
    }


@operation("DescribeRegistry")
def describe_registry(caller: Caller) -> dict[str, Any]:
    rules = repositories.replication_rules(caller)
    return {"registryId": caller.account, "replicationConfiguration": {"rules": rules}}
