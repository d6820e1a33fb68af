"""The one access check: may this caller do this ECR action on this repository?

Every repository a caller's request reaches is resolved here, by both planes,
with the IAM action it needs (``ecr:BatchGetImage``, ...).  (A layer download
URL carries no caller: like an S3 pre-signed URL, it was signed by a request
that passed this check, and ``core.blobs`` honours it until it expires.)  The caller's own account
is allowed (identity policies are a later feature and will be checked here
too); another account is allowed only where the repository's policy or the
registry's policy (``account_settings.registry_policy_covers``) has an Allow for
the action that covers the caller (``iam.decide``: principal, resource,
conditions), and no Deny does.  A refusal is ``AccessDeniedException`` with AWS's sentence, and the
registry plane turns it into ``DENIED``.  Reading another account never
creates a registry for it, and a repository that does not exist in another
account is refused the same way as one the caller may not see.

Callers hold ``backend.lock`` (inside a transaction) while they resolve, so
what they resolved cannot change before they act on it.
"""

from __future__ import annotations

from typing import Any

from ..arns import partition_for, repository_arn
from ..errors import ServiceError, repository_not_found
from ..state import Registry, Repository
from . import account_settings, iam
from .caller import Caller
from .iam import Decision


def access_denied(
    caller: Caller, action: str, resource_arn: str, decision: Decision
) -> ServiceError:
    """AWS's wording for a request no policy allows (or one that a policy denies)."""
    if decision is Decision.EXPLICIT_DENY:
        reason = "with an explicit deny in a resource-based policy"
    else:
        reason = f"because no resource-based policy allows the {action} action"
    return ServiceError(
        "AccessDeniedException",
        f"User: {caller.arn} is not authorized to perform: {action} on resource: "
        f"{resource_arn} {reason}",
    )


def decide(
    caller: Caller,
    registry: Registry,
    action: str,
    resource_arn: str,
    repository_policy: dict[str, Any] | None,
) -> Decision:
    """What the repository's policy and, within its scope, the registry's policy say about
    another account's ``caller`` doing ``action``: a Deny in either wins, an Allow in
    either grants."""
    request = iam.Request(
        caller.account, caller.arn, partition_for(registry.region), caller.source_ip
    )
    decisions = [iam.decide(repository_policy, request, action)]
    if registry.policy_document is not None and account_settings.registry_policy_covers(
        registry, action
    ):
        decisions.append(iam.decide(registry.policy_document, request, action, resource_arn))
    if Decision.EXPLICIT_DENY in decisions:
        return Decision.EXPLICIT_DENY
    return Decision.ALLOW if Decision.ALLOW in decisions else Decision.IMPLICIT_DENY


def authorize(caller: Caller, repository: Repository, action: str) -> None:
    """Raise ``AccessDeniedException`` unless ``caller`` may do ``action`` on ``repository``."""
    registry = repository.registry
    if registry.account_id == caller.account:
        return
    decision = decide(caller, registry, action, repository.arn, repository.policy_document)
    if decision is not Decision.ALLOW:
        raise access_denied(caller, action, repository.arn, decision)


def repository(caller: Caller, registry_id: str | None, name: str, action: str) -> Repository:
    """The repository ``name`` of registry ``registry_id`` (default: the caller's own) in the
    caller's region, if the caller may do ``action`` on it."""
    account = registry_id or caller.account
    registry = caller.backend.find_registry(account, caller.region)
    found = registry.repositories.get(name) if registry is not None else None
    if account != caller.account:
        if found is None:
            arn = repository_arn(account, caller.region, name)
            raise access_denied(caller, action, arn, Decision.IMPLICIT_DENY)
        authorize(caller, found, action)
    elif found is None:
        raise repository_not_found(name, account)
    return found


def own_registry(caller: Caller, registry_id: str | None, action: str, name: str) -> Registry:
    """The caller's registry, made on first write, for an action on the registry itself
    (creating a repository ``name``); another account's only where its registry policy
    grants ``action`` on that repository."""
    account = registry_id or caller.account
    if account == caller.account:
        return caller.backend.ensure_registry(account, caller.region)
    arn = repository_arn(account, caller.region, name)
    registry = caller.backend.find_registry(account, caller.region)
    decision = (
        Decision.IMPLICIT_DENY
        if registry is None
        else decide(caller, registry, action, arn, repository_policy=None)
    )
    if registry is None or decision is not Decision.ALLOW:
        raise access_denied(caller, action, arn, decision)
    return registry


def own_registry_if_any(caller: Caller) -> Registry | None:
    """The caller's own registry for a listing or a read of its settings; None when it was
    never written to (nothing to list), and not made by reading."""
    return caller.backend.find_registry(caller.account, caller.region)
