"""Pull-through cache rules on the awsJson wire: Create/Describe/Update/Delete/Validate
PullThroughCacheRule (``core.pull_through``)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, pull_through
from . import operation


def _settings(**members: Any) -> dict[str, Any]:
    names = {
        "upstream_registry_url": "upstreamRegistryUrl",
        "upstream_registry": "upstreamRegistry",
        "credential_arn": "credentialArn",
        "custom_role_arn": "customRoleArn",
        "upstream_repository_prefix": "upstreamRepositoryPrefix",
    }
    return {names[name]: value for name, value in members.items() if name in names}


@operation("CreatePullThroughCacheRule")
def create_pull_through_cache_rule(
    caller: Caller, *, ecr_repository_prefix: str, registry_id: str | None = None, **settings: Any
) -> dict[str, Any]:
    return pull_through.create_rule(caller, ecr_repository_prefix, _settings(**settings))


@operation("UpdatePullThroughCacheRule")
def update_pull_through_cache_rule(
    caller: Caller, *, ecr_repository_prefix: str, registry_id: str | None = None, **settings: Any
) -> dict[str, Any]:
    return pull_through.update_rule(caller, ecr_repository_prefix, _settings(**settings))


@operation("DeletePullThroughCacheRule")
def delete_pull_through_cache_rule(
    caller: Caller, *, ecr_repository_prefix: str, registry_id: str | None = None
) -> dict[str, Any]:
    return pull_through.delete_rule(caller, ecr_repository_prefix)


@operation("DescribePullThroughCacheRules")
def describe_pull_through_cache_rules(
    caller: Caller,
    *,
    registry_id: str | None = None,
    ecr_repository_prefixes: list[str] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> dict[str, Any]:
    rules, token = pull_through.describe_rules(
        caller, ecr_repository_prefixes, next_token, max_results
    )
    return {"pullThroughCacheRules": rules, "nextToken": token}


@operation("ValidatePullThroughCacheRule")
def validate_pull_through_cache_rule(
    caller: Caller, *, ecr_repository_prefix: str, registry_id: str | None = None
) -> dict[str, Any]:
    rule, valid, failure = pull_through.validate_rule(caller, ecr_repository_prefix)
    return {**rule, "isValid": valid, "failure": failure}
