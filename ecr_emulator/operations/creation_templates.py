"""Repository creation templates on the awsJson wire: Create/Describe/Update/Delete
RepositoryCreationTemplate (``core.creation_templates``)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, creation_templates
from . import operation


def _settings(**members: Any) -> dict[str, Any]:
    """The template's settings under their model names."""
    names = {
        "description": "description",
        "encryption_configuration": "encryptionConfiguration",
        "resource_tags": "resourceTags",
        "image_tag_mutability": "imageTagMutability",
        "image_tag_mutability_exclusion_filters": "imageTagMutabilityExclusionFilters",
        "repository_policy": "repositoryPolicy",
        "lifecycle_policy": "lifecyclePolicy",
        "applied_for": "appliedFor",
        "custom_role_arn": "customRoleArn",
    }
    return {names[name]: value for name, value in members.items()}


@operation("CreateRepositoryCreationTemplate")
def create_repository_creation_template(
    caller: Caller, *, prefix: str, applied_for: list[str], **settings: Any
) -> dict[str, Any]:
    registry, template = creation_templates.create(
        caller, prefix, _settings(applied_for=applied_for, **settings)
    )
    return {"registryId": registry.account_id, "repositoryCreationTemplate": template}


@operation("UpdateRepositoryCreationTemplate")
def update_repository_creation_template(
    caller: Caller, *, prefix: str, **settings: Any
) -> dict[str, Any]:
    registry, template = creation_templates.update(caller, prefix, _settings(**settings))
    return {"registryId": registry.account_id, "repositoryCreationTemplate": template}


@operation("DeleteRepositoryCreationTemplate")
def delete_repository_creation_template(caller: Caller, *, prefix: str) -> dict[str, Any]:
    registry, template = creation_templates.delete(caller, prefix)
    return {"registryId": registry.account_id, "repositoryCreationTemplate": template}


@operation("DescribeRepositoryCreationTemplates")
def describe_repository_creation_templates(
    caller: Caller,
    *,
    prefixes: list[str] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> dict[str, Any]:
    found, token = creation_templates.describe(caller, prefixes, next_token, max_results)
    return {
        "registryId": caller.account,
        "repositoryCreationTemplates": found,
        "nextToken": token,
    }
