"""Repository policies on the awsJson wire: SetRepositoryPolicy, GetRepositoryPolicy,
DeleteRepositoryPolicy (checked and stored by ``core.policies``, enforced by ``core.access``)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, policies
from ..state import Repository
from . import operation


def _result(repository: Repository, text: str | None) -> dict[str, Any]:
    return {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "policyText": text,
    }


@operation("SetRepositoryPolicy")
def set_repository_policy(
    caller: Caller,
    *,
    repository_name: str,
    policy_text: str,
    registry_id: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    repository = policies.set_policy(caller, registry_id, repository_name, policy_text, force=force)
    return _result(repository, policy_text)


@operation("GetRepositoryPolicy")
def get_repository_policy(
    caller: Caller, *, repository_name: str, registry_id: str | None = None
) -> dict[str, Any]:
    return _result(*policies.get_policy(caller, registry_id, repository_name))


@operation("DeleteRepositoryPolicy")
def delete_repository_policy(
    caller: Caller, *, repository_name: str, registry_id: str | None = None
) -> dict[str, Any]:
    return _result(*policies.delete_policy(caller, registry_id, repository_name))
