"""Repositories: create, describe, delete, and their tag-mutability and scanning settings."""

from __future__ import annotations

from typing import Any

from ..arns import PUBLIC_REGION, partition_for, repository_arn
from ..errors import ServiceError, invalid_parameter
from ..events import RepositoryChanged, RepositoryCreated, RepositoryDeleted
from ..pagination import paginate_in_order
from ..state import PUBLIC_HOST, Registry, Repository
from . import access
from .blobs import free
from .caller import Caller
from .iam import Decision
from .resource_tags import merged_tags
from .uploads import close_for_repository

WITH_EXCLUSION = ("IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")


def checked_exclusion_filters(
    mutability: str, filters: list[dict[str, str]] | None
) -> tuple[dict[str, str], ...]:
    """Exclusion filters go with, and only with, the *_WITH_EXCLUSION settings."""
    if mutability in WITH_EXCLUSION:
        if not filters:
            raise invalid_parameter(
                "imageTagMutabilityExclusionFilters",
                f"ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is "
                f"set as {mutability}",
            )
        return tuple({"filterType": f["filterType"], "filter": f["filter"]} for f in filters)
    if filters:
        raise invalid_parameter(
            "imageTagMutabilityExclusionFilters",
            f"ImageTagMutabilityExclusionFilters can only be set when imageTagMutability is "
            f"set as {' or '.join(WITH_EXCLUSION)}, not {mutability}",
        )
    return ()


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


def create(
    caller: Caller,
    registry_id: str | None,
    name: str,
    *,
    tag_mutability: str = "MUTABLE",
    exclusion_filters: list[dict[str, str]] | None = None,
    scan_on_push: bool = False,
    encryption: dict[str, str] | None = None,
    resource_tags: list[dict[str, str]] | None = None,
) -> Repository:
    exclusions = checked_exclusion_filters(tag_mutability, exclusion_filters)
    tags = merged_tags({}, resource_tags or [])
    if caller.region != PUBLIC_REGION and name.startswith(f"{PUBLIC_HOST}/"):
        # on a server, ECR Public's repositories are under this prefix (``registry._public_path``)
        raise invalid_parameter(
            "repositoryName",
            f"Repository names under '{PUBLIC_HOST}/' are ECR Public's on this emulator",
        )
    backend = caller.backend
    with backend.transaction() as events:
        registry = access.own_registry(caller, registry_id, "ecr:CreateRepository", name)
        if name in registry.repositories:
            raise ServiceError(
                "RepositoryAlreadyExistsException",
                f"The repository with name '{name}' already exists in the registry "
                f"with id '{registry.account_id}'",
            )
        repository = Repository(
            registry=registry,
            name=name,
            created_at=backend.now(),
            tag_mutability=tag_mutability,
            tag_mutability_exclusions=exclusions,
            scan_on_push=scan_on_push,
            encryption=_encryption(registry, encryption),
            resource_tags=tags,
        )
        registry.add_repository(repository)
        events.append(RepositoryCreated(*repository.scope))
        return repository


def describe(
    caller: Caller,
    registry_id: str | None,
    *,
    names: list[str] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> tuple[list[Repository], str | None]:
    """DescribeRepositories: the named repositories (each must exist and be readable), or
    one page of the registry's, in creation order.  Listing another account's registry is
    refused on ``repository/*``, as AWS refuses it: no repository policy can grant that."""
    backend = caller.backend
    with backend.lock:
        if names:
            if max_results is not None or next_token is not None:
                raise invalid_parameter(
                    "maxResults", "maxResults and nextToken cannot be used with repositoryNames"
                )
            found = [
                access.repository(caller, registry_id, name, "ecr:DescribeRepositories")
                for name in dict.fromkeys(names)
            ]
            return found, None
        if registry_id not in (None, caller.account):
            raise access.access_denied(
                caller,
                "ecr:DescribeRepositories",
                repository_arn(registry_id, caller.region, "*"),
                Decision.IMPLICIT_DENY,
            )
        registry = access.own_registry_if_any(caller)
        if registry is None:
            return [], None
        return paginate_in_order(
            backend,
            registry.repository_order,
            lambda name: [registry.repositories[name]],
            next_token,
            max_results,
            f"DescribeRepositories:{registry.account_id}:{registry.region}",
        )


def delete(
    caller: Caller, registry_id: str | None, name: str, *, force: bool = False
) -> Repository:
    backend = caller.backend
    with backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:DeleteRepository")
        registry = repository.registry
        if repository.images and not force:
            raise ServiceError(
                "RepositoryNotEmptyException",
                f"The repository with name '{name}' in registry with id "
                f"'{registry.account_id}' cannot be deleted because it still contains images",
            )
        close_for_repository(backend, registry.account_id, registry.region, name)
        free(backend, registry.remove_repository(repository), events)
        events.append(RepositoryDeleted(*repository.scope))
        return repository


def set_tag_mutability(
    caller: Caller,
    registry_id: str | None,
    name: str,
    mutability: str,
    exclusion_filters: list[dict[str, str]] | None = None,
) -> Repository:
    exclusions = checked_exclusion_filters(mutability, exclusion_filters)
    with caller.backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:PutImageTagMutability")
        repository.tag_mutability = mutability
        repository.tag_mutability_exclusions = exclusions
        events.append(RepositoryChanged(*repository.scope, "imageTagMutability"))
        return repository


def set_scan_on_push(
    caller: Caller, registry_id: str | None, name: str, scan_on_push: bool
) -> Repository:
    with caller.backend.transaction() as events:
        repository = access.repository(
            caller, registry_id, name, "ecr:PutImageScanningConfiguration"
        )
        repository.scan_on_push = scan_on_push
        events.append(RepositoryChanged(*repository.scope, "scanOnPush"))
        return repository


def replication_rules(caller: Caller) -> list[dict[str, Any]]:
    """The caller's registry's replication rules (read without creating the registry)."""
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        return [dict(rule) for rule in registry.replication_rules] if registry else []
