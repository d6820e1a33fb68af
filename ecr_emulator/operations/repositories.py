"""Repositories: create, describe, delete, and their tag-mutability and scanning settings."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ..errors import ServiceError, invalid_parameter
from ..identity import RequestContext, partition_for
from ..pagination import paginate
from ..state import Registry, Repository
from . import operation
from .tagging import validate_new_tags

WITH_EXCLUSION = ("IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")


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
    context: RequestContext,
    *,
    repository_name: str,
    registry_id: str | None = None,
    tags: list[dict[str, str]] | None = None,
    image_tag_mutability: str = "MUTABLE",
    image_tag_mutability_exclusion_filters: list[dict[str, str]] | None = None,
    image_scanning_configuration: dict[str, bool] | None = None,
    encryption_configuration: dict[str, str] | None = None,
) -> dict[str, Any]:
    registry = context.registry(registry_id)
    if repository_name in registry.repositories:
        raise ServiceError(
            "RepositoryAlreadyExistsException",
            f"The repository with name '{repository_name}' already exists in the registry "
            f"with id '{registry.account_id}'",
        )
    exclusions = checked_exclusion_filters(
        image_tag_mutability, image_tag_mutability_exclusion_filters
    )
    resource_tags = validate_new_tags({}, tags or [])
    encryption = _encryption(registry, encryption_configuration)
    repository = Repository(
        registry=registry,
        name=repository_name,
        created_at=context.backend.now(),
        tag_mutability=image_tag_mutability,
        tag_mutability_exclusions=exclusions,
        scan_on_push=bool((image_scanning_configuration or {}).get("scanOnPush", False)),
        encryption=encryption,
        resource_tags=resource_tags,
    )
    registry.repositories[repository_name] = repository
    return {"repository": describe_repository(repository)}


def _encryption(registry: Registry, configuration: dict[str, str] | None) -> dict[str, str]:
    """AES256 unless told otherwise; KMS without a key means the account's aws/ecr key."""
    if not configuration:
        return {"encryptionType": "AES256"}
    encryption_type = configuration["encryptionType"]
    kms_key = configuration.get("kmsKey")
    if encryption_type == "AES256":
        if kms_key:
            raise invalid_parameter(
                "encryptionConfiguration",
                "kmsKey can be specified only when encryptionType is KMS or KMS_DSSE",
            )
        return {"encryptionType": "AES256"}
    if not kms_key:
        kms_key = registry.default_kms_key()
    elif not kms_key.startswith("arn:"):
        kind = "" if kms_key.startswith("alias/") else "key/"
        kms_key = (
            f"arn:{partition_for(registry.region)}:kms:{registry.region}:"
            f"{registry.account_id}:{kind}{kms_key}"
        )
    return {"encryptionType": encryption_type, "kmsKey": kms_key}


def checked_exclusion_filters(
    mutability: str, filters: list[dict[str, str]] | None
) -> list[dict[str, str]]:
    """Exclusion filters go with, and only with, the *_WITH_EXCLUSION settings."""
    if mutability in WITH_EXCLUSION:
        if not filters:
            raise invalid_parameter(
                "imageTagMutabilityExclusionFilters",
                f"ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is "
                f"set as {mutability}",
            )
        return [{"filterType": item["filterType"], "filter": item["filter"]} for item in filters]
    if filters:
        raise invalid_parameter(
            "imageTagMutabilityExclusionFilters",
            f"ImageTagMutabilityExclusionFilters can only be set when imageTagMutability is "
            f"set as {' or '.join(WITH_EXCLUSION)}, not {mutability}",
        )
    return []


@lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def tag_is_immutable(repository: Repository, tag: str) -> bool:
    """Whether an existing ``tag`` may not be moved to another image in this repository."""
    mutability = repository.tag_mutability
    if mutability == "MUTABLE":
        return False
    if mutability == "IMMUTABLE":
        return True
    excluded = any(
        _wildcard(item["filter"]).fullmatch(tag) for item in repository.tag_mutability_exclusions
    )
    # IMMUTABLE_WITH_EXCLUSION: excluded tags stay mutable; MUTABLE_WITH_EXCLUSION: the reverse.
    return not excluded if mutability == "IMMUTABLE_WITH_EXCLUSION" else excluded


@operation("DescribeRepositories")
def describe_repositories(
    context: RequestContext,
    *,
    registry_id: str | None = None,
    repository_names: list[str] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> dict[str, Any]:
    registry = context.registry(registry_id)
    if repository_names:
        if max_results is not None or next_token is not None:
            raise invalid_parameter(
                "maxResults", "maxResults and nextToken cannot be used with repositoryNames"
            )
        found = [registry.repository(name) for name in dict.fromkeys(repository_names)]
        return {"repositories": [describe_repository(repo) for repo in found]}
    repositories = list(registry.repositories.values())
    page, token = paginate(repositories, next_token, max_results, "DescribeRepositories")
    return {"repositories": [describe_repository(repo) for repo in page], "nextToken": token}


@operation("DeleteRepository")
def delete_repository(
    context: RequestContext,
    *,
    repository_name: str,
    registry_id: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    registry = context.registry(registry_id)
    repository = registry.repository(repository_name)
    if repository.images and not force:
        raise ServiceError(
            "RepositoryNotEmptyException",
            f"The repository with name '{repository_name}' in registry with id "
            f"'{registry.account_id}' cannot be deleted because it still contains images",
        )
    del registry.repositories[repository_name]
    return {"repository": describe_repository(repository)}


@operation("PutImageTagMutability")
def put_image_tag_mutability(
    context: RequestContext,
    *,
    repository_name: str,
    image_tag_mutability: str,
    registry_id: str | None = None,
    image_tag_mutability_exclusion_filters: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    exclusions = checked_exclusion_filters(
        image_tag_mutability, image_tag_mutability_exclusion_filters
    )
    repository.tag_mutability = image_tag_mutability
    repository.tag_mutability_exclusions = exclusions
    result: dict[str, Any] = {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "imageTagMutability": image_tag_mutability,
    }
    if exclusions:
        result["imageTagMutabilityExclusionFilters"] = exclusions
    return result


@operation("PutImageScanningConfiguration")
def put_image_scanning_configuration(
    context: RequestContext,
    *,
    repository_name: str,
    image_scanning_configuration: dict[str, bool],
    registry_id: str | None = None,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    repository.scan_on_push = bool(image_scanning_configuration.get("scanOnPush", False))
    return {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "imageScanningConfiguration": {"scanOnPush": repository.scan_on_push},
    }
