"""Repository creation templates: the settings a repository gets when ECR creates it for you
(on a push to a repository that does not exist, for replication, for pull-through
caching).

As the user guide's "Templates to control repositories created during a pull through
cache, create on push, or replication action" says: a template's ``prefix`` ``prod``
applies to repositories whose names begin with ``prod/``; the longest matching prefix
wins, and ``ROOT`` applies to any repository no other template matches.  A template
applies only to the actions its ``appliedFor`` names.  Its settings (tag mutability and
exclusions, encryption, resource tags, repository policy, lifecycle policy) become the new
repository's, checked as CreateRepository, SetRepositoryPolicy and PutLifecyclePolicy
check them; a template whose policy one of those refuses is refused when it is put.
"""

from __future__ import annotations

from typing import Any

from ..errors import ServiceError, invalid_parameter
from ..state import Registry, Repository
from . import access, lifecycle, prefixed, repositories
from .caller import Caller
from .iam import PolicyError, parse_policy

MAX_TEMPLATES = 300  # per registry; AWS's quota is not documented in what we could find
SETTINGS = (
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "repositoryPolicy",
    "lifecyclePolicy",
    "appliedFor",
    "customRoleArn",
)


def _not_found(prefix: str, registry_id: str) -> ServiceError:
    return ServiceError(
        "TemplateNotFoundException",
        f"The repository creation template with prefix '{prefix}' does not exist in the "
        f"registry with id '{registry_id}'",
    )


def _check(settings: dict[str, Any]) -> None:
    """What the template's settings will have to pass when a repository is created."""
    if settings.get("appliedFor") is not None and not settings["appliedFor"]:
        raise invalid_parameter("appliedFor", "appliedFor must name at least one action")
    repositories.checked_exclusion_filters(
        settings.get("imageTagMutability") or "MUTABLE",
        settings.get("imageTagMutabilityExclusionFilters"),
    )
    if settings.get("repositoryPolicy"):
        try:
            parse_policy(settings["repositoryPolicy"])
        except PolicyError:
            raise invalid_parameter(
                "repositoryPolicy", "Invalid repository policy provided"
            ) from None
    if settings.get("lifecyclePolicy"):
        lifecycle.parse_rules(settings["lifecyclePolicy"])


def create(
    caller: Caller, prefix: str, settings: dict[str, Any]
) -> tuple[Registry, dict[str, Any]]:
    _check(settings)
    key = prefixed.normal(prefix)
    backend = caller.backend
    with backend.transaction():
        registry = access.own_registry(caller, None, "ecr:CreateRepositoryCreationTemplate", "*")
        templates = registry.creation_templates
        if key in templates:
            raise ServiceError(
                "TemplateAlreadyExistsException",
                f"The repository creation template with prefix '{prefix}' already exists in "
                f"the registry with id '{registry.account_id}'",
            )
        if len(templates) >= MAX_TEMPLATES:
            raise ServiceError(
                "LimitExceededException",
                f"The operation did not succeed because it would have exceeded the limit of "
                f"{MAX_TEMPLATES} repository creation templates in the registry with id "
                f"'{registry.account_id}'",
            )
        now = backend.now()
        template = {
            "prefix": key,
            **{name: value for name, value in settings.items() if value is not None},
            "createdAt": now,
            "updatedAt": now,
        }
        template.setdefault("imageTagMutability", "MUTABLE")
        template.setdefault("encryptionConfiguration", {"encryptionType": "AES256"})
        registry.creation_templates = {**templates, key: template}
        return registry, template


def update(
    caller: Caller, prefix: str, settings: dict[str, Any]
) -> tuple[Registry, dict[str, Any]]:
    key = prefixed.normal(prefix)
    backend = caller.backend
    with backend.transaction():
        registry = access.own_registry(caller, None, "ecr:UpdateRepositoryCreationTemplate", "*")
        old = registry.creation_templates.get(key)
        if old is None:
            raise _not_found(prefix, registry.account_id)
        template = {
            **old,
            **{name: value for name, value in settings.items() if value is not None},
            "updatedAt": backend.now(),
        }
        _check(template)
        registry.creation_templates = {**registry.creation_templates, key: template}
        return registry, template


def delete(caller: Caller, prefix: str) -> tuple[Registry, dict[str, Any]]:
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:DeleteRepositoryCreationTemplate", "*")
        registry.creation_templates, template = prefixed.removed(
            registry.creation_templates, prefix, lambda p: _not_found(p, registry.account_id)
        )
        return registry, template


def describe(
    caller: Caller, prefixes: list[str] | None, next_token: str | None, max_results: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    return prefixed.page(
        caller,
        "creation_templates",
        prefixes,
        next_token,
        max_results,
        lambda p: _not_found(p, caller.account),
    )


def template_for(registry: Registry, name: str, action: str) -> dict[str, Any] | None:
    """The template that applies to creating ``name`` for ``action`` (CREATE_ON_PUSH,
    REPLICATION, PULL_THROUGH_CACHE): the longest matching prefix, else ROOT (lock held)."""
    return prefixed.covering(
        registry.creation_templates, name, lambda t: action in t.get("appliedFor", ())
    )


def create_from_template(
    caller: Caller, registry: Registry, name: str, template: dict[str, Any]
) -> Repository:
    """A new repository with ``template``'s settings (lock held)."""
    repository = repositories.create(
        caller,
        registry.account_id,
        name,
        tag_mutability=template.get("imageTagMutability", "MUTABLE"),
        exclusion_filters=template.get("imageTagMutabilityExclusionFilters"),
        encryption=template.get("encryptionConfiguration"),
        resource_tags=template.get("resourceTags"),
    )
    if template.get("repositoryPolicy"):
        repository.policy_text = template["repositoryPolicy"]
        repository.policy_document = parse_policy(template["repositoryPolicy"])
    if template.get("lifecyclePolicy"):
        repository.lifecycle_policy_text = template["lifecyclePolicy"]
    return repository


def ensure_for_push(caller: Caller, registry_id: str | None, name: str) -> None:
    """A push to a repository that does not exist creates it when a CREATE_ON_PUSH template
    applies; otherwise nothing changes (the push is refused as before)."""
    account = registry_id or caller.account
    if account != caller.account:
        return  # only a registry's own pushes create repositories in it
    registry = caller.backend.find_registry(account, caller.region)
    if registry is None or name in registry.repositories or not registry.creation_templates:
        return  # the common case, looked at without the lock: nothing to create
    with caller.backend.transaction():
        registry = caller.backend.find_registry(account, caller.region)
        if registry is None or name in registry.repositories:
            return
        template = template_for(registry, name, "CREATE_ON_PUSH")
        if template is None:
            return
        create_from_template(caller, registry, name, template)
