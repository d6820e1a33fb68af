"""Resource policies and account settings on the awsJson wire: Set/Get/DeleteRepositoryPolicy,
Put/Get/DeleteRegistryPolicy (checked and stored by ``core.policies``, enforced by
``core.access``), Get/PutAccountSetting (``core.account_settings``)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, account_settings, policies
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


@operation("PutRegistryPolicy")
def put_registry_policy(caller: Caller, *, policy_text: str) -> dict[str, Any]:
    registry = policies.put_registry_policy(caller, policy_text)
    return {"registryId": registry.account_id, "policyText": policy_text}


@operation("GetRegistryPolicy")
def get_registry_policy(caller: Caller) -> dict[str, Any]:
    return {"registryId": caller.account, "policyText": policies.get_registry_policy(caller)}


@operation("DeleteRegistryPolicy")
def delete_registry_policy(caller: Caller) -> dict[str, Any]:
    return {"registryId": caller.account, "policyText": policies.delete_registry_policy(caller)}


@operation("GetAccountSetting")
def get_account_setting(caller: Caller, *, name: str) -> dict[str, Any]:
    return {"name": name, "value": account_settings.get(caller, name)}


@operation("PutAccountSetting")
def put_account_setting(caller: Caller, *, name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": account_settings.put(caller, name, value)}
