"""The one access check: may this caller do this ECR action on this repository?

Every repository a caller's request reaches is resolved here, by both planes,
with the IAM action it needs (``ecr:BatchGetImage``, ...).  (A layer download
URL carries no caller: like an S3 pre-signed URL, it was signed by a request
that passed this check, and ``core.blobs`` honours it until it expires.)  The caller's own account
is allowed (identity policies are a later feature and will be checked here
too); another account is allowed only where that repository's policy has an
Allow for the action whose Principal names the caller's account, and no Deny
does.  A refusal is ``AccessDeniedException`` with AWS's sentence, and the
registry plane turns it into ``DENIED``.  Reading another account never
creates a registry for it, and a repository that does not exist in another
account is refused the same way as one the caller may not see.

Callers hold ``backend.lock`` (inside a transaction) while they resolve, so
what they resolved cannot change before they act on it.
"""

from __future__ import annotations

from ..arns import partition_for, repository_arn
from ..errors import ServiceError, repository_not_found
from ..state import Registry, Repository
from .caller import Caller
from .iam import Decision, decide


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


def authorize(caller: Caller, repository: Repository, action: str) -> None:
    """Raise ``AccessDeniedException`` unless ``caller`` may do ``action`` on ``repository``."""
    if repository.registry.account_id == caller.account:
        return
    registry = repository.registry
    partition = partition_for(registry.region)
    decision = decide(repository.policy_document, caller.account, partition, action)
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
    (creating a repository): another account's is refused, since only a registry policy
    could grant that and none is set."""
    account = registry_id or caller.account
    if account != caller.account:
        arn = repository_arn(account, caller.region, name)
        raise access_denied(caller, action, arn, Decision.IMPLICIT_DENY)
    return caller.backend.ensure_registry(account, caller.region)


def own_registry_if_any(caller: Caller) -> Registry | None:
    """The caller's own registry for a listing or a read of its settings; None when it was
    never written to (nothing to list), and not made by reading."""
    return caller.backend.find_registry(caller.account, caller.region)
