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
from . import account_settings, iam, identities
from .caller import Caller
from .iam import Decision


def access_denied(
    caller: Caller,
    action: str,
    resource_arn: str,
    decision: Decision,
    kind: str = "resource-based",
) -> ServiceError:
    """AWS's wording for a request no policy allows (or one that a policy denies);
    ``kind`` names the policy that decided: resource-based or identity-based."""
    if decision is Decision.EXPLICIT_DENY:
        article = "an" if kind[0] in "aeiou" else "a"
        reason = f"with an explicit deny in {article} {kind} policy"
    else:
        reason = f"because no {kind} policy allows the {action} action"
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
    _check(caller, registry, action, repository.arn, repository.policy_document)


# What anyone may do to an ECR Public repository, without a login ("anyone can pull"):
# the registry plane's pulls, and its tag list (public.ecr.aws answers it anonymously).
PUBLIC_READS = frozenset(
    {
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ecr:ListImages",
    }
)


def _check(
    caller: Caller,
    registry: Registry | None,
    action: str,
    arn: str,
    repository_policy: dict[str, Any] | None,
) -> None:
    """The whole decision for ``action`` on ``arn`` in ``registry`` (None: a registry never
    written to): the resource policies for another account, and, in identity mode, the
    caller's identity policies (``identities``).  In a public registry the actions are
    ECR Public's (``service_action``), and its pulls are everyone's."""
    own = registry is not None and registry.account_id == caller.account
    if (  # the common case, on every push and pull: the owner, and no policy to read
        own
        and not caller.backend.enforce_iam
        and repository_policy is None
        and registry.policy_document is None  # type: ignore[union-attr]
    ):
        return
    if registry is not None and registry.public and action in PUBLIC_READS:
        return
    action = service_action(action, arn)
    identity = identities.decision(caller, action, arn)
    resource = (
        Decision.IMPLICIT_DENY
        if registry is None
        else decide(caller, registry, action, arn, repository_policy)
    )
    if own and identity is None:  # an account's root, or identity mode off
        if resource is Decision.EXPLICIT_DENY:  # a Deny in a resource policy binds the owner
            raise access_denied(caller, action, arn, resource)
        return
    if identity is Decision.EXPLICIT_DENY:
        raise access_denied(caller, action, arn, identity, "identity-based")
    if resource is Decision.EXPLICIT_DENY:
        raise access_denied(caller, action, arn, resource)
    if own:  # within an account, either kind of policy may allow
        if Decision.ALLOW not in (identity, resource):
            raise access_denied(caller, action, arn, Decision.IMPLICIT_DENY, "identity-based")
        return
    if resource is not Decision.ALLOW:  # across accounts, both must
        raise access_denied(caller, action, arn, resource)
    if identity not in (None, Decision.ALLOW):
        raise access_denied(caller, action, arn, Decision.IMPLICIT_DENY, "identity-based")


def service_action(action: str, resource_arn: str) -> str:
    """``action`` (the core names ECR's: ``ecr:PutImage``) as the service of the resource
    spells it: ``ecr-public:PutImage`` on an ECR Public ARN."""
    if resource_arn.startswith("arn:aws:ecr-public:") and action.startswith("ecr:"):
        return "ecr-public:" + action[len("ecr:") :]
    return action


def require(caller: Caller, action: str, resource_arn: str) -> None:
    """Identity mode: ``caller`` may do ``action`` on ``resource_arn`` of its own account (a
    registry-level operation: GetAuthorizationToken, DescribeRegistry, ...)."""
    action = service_action(action, resource_arn)
    identity = identities.decision(caller, action, resource_arn)
    if identity is not None and identity is not Decision.ALLOW:
        raise access_denied(caller, action, resource_arn, identity, "identity-based")


def repository(caller: Caller, registry_id: str | None, name: str, action: str) -> Repository:
    """The repository ``name`` of registry ``registry_id`` (default: the caller's own) in the
    caller's region, if the caller may do ``action`` on it."""
    account = registry_id or caller.account
    registry = caller.backend.find_registry(account, caller.region)
    found = registry.repositories.get(name) if registry is not None else None
    if account != caller.account:
        if found is None:
            if registry is not None and registry.public and action in PUBLIC_READS:
                raise repository_not_found(name, account)  # anyone may see what is public
            arn = repository_arn(account, caller.region, name)
            raise access_denied(caller, service_action(action, arn), arn, Decision.IMPLICIT_DENY)
        authorize(caller, found, action)
    elif found is None:
        require(caller, action, repository_arn(account, caller.region, name))  # before "missing"
        raise repository_not_found(name, account)
    else:
        authorize(caller, found, action)
    return found


def own_registry(caller: Caller, registry_id: str | None, action: str, name: str) -> Registry:
    """The caller's registry, made on first write, for an action on the registry itself
    (creating a repository ``name``); another account's only where its registry policy
    grants ``action`` on that repository."""
    account = registry_id or caller.account
    arn = repository_arn(account, caller.region, name)
    if account == caller.account:
        require(caller, action, arn)
        return caller.backend.ensure_registry(account, caller.region)
    registry = caller.backend.find_registry(account, caller.region)
    _check(caller, registry, action, arn, repository_policy=None)
    assert registry is not None
    return registry


def own_registry_if_any(caller: Caller) -> Registry | None:
    """The caller's own registry for a listing or a read of its settings; None when it was
    never written to (nothing to list), and not made by reading."""
    return caller.backend.find_registry(caller.account, caller.region)
