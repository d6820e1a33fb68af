"""Resource policies: a repository's and its registry's, stored after ECR's checks and
enforced by ``access`` for other accounts."""

from __future__ import annotations

from ..errors import ServiceError, invalid_parameter
from ..events import PolicyChanged, RegistryPolicyChanged
from ..state import Registry, Repository
from . import access
from .caller import Caller
from .iam import PolicyError, locks_out_policy_changes, parse_policy


def _not_found(repository: Repository) -> ServiceError:
    return ServiceError(
        "RepositoryPolicyNotFoundException",
        f"Repository policy does not exist for the repository with name '{repository.name}' "
        f"in the registry with id '{repository.registry.account_id}'",
    )


def set_policy(
    caller: Caller, registry_id: str | None, name: str, text: str, *, force: bool = False
) -> Repository:
    try:
        document = parse_policy(text)
    except PolicyError:  # ECR says one sentence, whatever is wrong
        raise invalid_parameter("PolicyText", "Invalid repository policy provided") from None
    if not force and locks_out_policy_changes(document):
        raise invalid_parameter(
            "PolicyText",
            "The policy would prevent you from setting a repository policy in the future; "
            "set force to apply it anyway",
        )
    with caller.backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:SetRepositoryPolicy")
        repository.policy_text = text
        repository.policy_document = document
        events.append(PolicyChanged(*repository.scope, text))
        return repository


def get_policy(caller: Caller, registry_id: str | None, name: str) -> tuple[Repository, str]:
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:GetRepositoryPolicy")
        if repository.policy_text is None:
            raise _not_found(repository)
        return repository, repository.policy_text


def delete_policy(caller: Caller, registry_id: str | None, name: str) -> tuple[Repository, str]:
    with caller.backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:DeleteRepositoryPolicy")
        text = repository.policy_text
        if text is None:
            raise _not_found(repository)
        repository.policy_text = None
        repository.policy_document = None
        events.append(PolicyChanged(*repository.scope, None))
        return repository, text


# --- the registry policy ----------------------------------------------------------------------


def _registry_policy_not_found(registry_id: str) -> ServiceError:
    return ServiceError(
        "RegistryPolicyNotFoundException",
        f"Registry policy does not exist in the registry with id '{registry_id}'",
    )


def put_registry_policy(caller: Caller, text: str) -> Registry:
    """PutRegistryPolicy: ECR actions only, Resource elements naming repositories."""
    try:
        document = parse_policy(text, registry=True)
    except PolicyError:
        raise invalid_parameter("PolicyText", "Invalid registry policy provided") from None
    with caller.backend.transaction() as events:
        registry = access.own_registry(caller, None, "ecr:PutRegistryPolicy", "*")
        registry.policy_text = text
        registry.policy_document = document
        events.append(RegistryPolicyChanged(caller.account, caller.region, text))
        return registry


def get_registry_policy(caller: Caller) -> str:
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        if registry is None or registry.policy_text is None:
            raise _registry_policy_not_found(caller.account)
        return registry.policy_text


def delete_registry_policy(caller: Caller) -> str:
    """The text the registry policy had."""
    with caller.backend.transaction() as events:
        registry = access.own_registry_if_any(caller)
        if registry is None or registry.policy_text is None:
            raise _registry_policy_not_found(caller.account)
        text = registry.policy_text
        registry.policy_text = None
        registry.policy_document = None
        events.append(RegistryPolicyChanged(caller.account, caller.region, None))
        return text
