"""Repository policies: stored, JSON- and grammar-checked (enforcement is a later feature)."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ServiceError, invalid_parameter
from ..identity import RequestContext
from ..state import Repository
from . import operation

MAX_POLICY_LENGTH = 10240
_STATEMENT_KEYS = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}
_ACTION = re.compile(r"^(\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+)$")
_VERSIONS = {"2012-10-17", "2008-10-17"}


class PolicyError(ValueError):
    """The policy document breaks IAM's grammar; the message says where."""


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise PolicyError("must be a string or a non-empty list of strings")
    return items


def parse_policy_document(text: str) -> dict[str, Any]:
    """The parsed policy, or ``PolicyError`` when it is not a valid resource policy."""
    if len(text) > MAX_POLICY_LENGTH:
        raise PolicyError(f"policy is longer than {MAX_POLICY_LENGTH} characters")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise PolicyError("policy is not valid JSON") from None
    if not isinstance(document, dict):
        raise PolicyError("policy must be a JSON object")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise PolicyError(f"unknown policy elements {sorted(unknown)}")
    if "Version" in document and document["Version"] not in _VERSIONS:
        raise PolicyError(f"Version must be one of {sorted(_VERSIONS)}")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyError("Statement must be an object or a non-empty list")
    sids: set[str] = set()
    for statement in statements:
        _check_statement(statement, sids)
    return document


def _check_statement(statement: Any, sids: set[str]) -> None:
    if not isinstance(statement, dict):
        raise PolicyError("each Statement must be an object")
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"unknown statement elements {sorted(unknown)}")
    sid = statement.get("Sid")
    if sid is not None:
        if not isinstance(sid, str) or sid in sids:
            raise PolicyError("Sid must be a unique string")
        sids.add(sid)
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise PolicyError("Effect must be Allow or Deny")
    if ("Principal" in statement) == ("NotPrincipal" in statement):
        raise PolicyError("a statement needs exactly one of Principal or NotPrincipal")
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    if principal != "*":
        if not isinstance(principal, dict) or not principal:
            raise PolicyError("Principal must be '*' or an object of principal lists")
        for values in principal.values():
            _strings(values)
    if ("Action" in statement) == ("NotAction" in statement):
        raise PolicyError("a statement needs exactly one of Action or NotAction")
    for action in _strings(statement.get("Action", statement.get("NotAction"))):
        if not _ACTION.fullmatch(action):
            raise PolicyError(f"invalid action '{action}'")
    for key in ("Resource", "NotResource"):
        if key in statement:
            _strings(statement[key])
    condition = statement.get("Condition")
    if condition is not None and not (
        isinstance(condition, dict) and all(isinstance(block, dict) for block in condition.values())
    ):
        raise PolicyError("Condition must map operators to objects")


def _action_matches(pattern: str, action: str) -> bool:
    regex = "^" + re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.fullmatch(regex, action.lower()) is not None


def locks_out_policy_changes(document: dict[str, Any]) -> bool:
    """Whether the policy denies everyone ``ecr:SetRepositoryPolicy`` without conditions."""
    statements = document["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        everyone = "*" in (principal, aws) or (isinstance(aws, list) and "*" in aws)
        if statement["Effect"] != "Deny" or not everyone or "Condition" in statement:
            continue
        if "Action" in statement:
            denied = any(_matches_set_policy(action) for action in _strings(statement["Action"]))
        else:  # NotAction: everything it does not list is denied
            denied = not any(_matches_set_policy(a) for a in _strings(statement["NotAction"]))
        if denied:
            return True
    return False


def _matches_set_policy(pattern: str) -> bool:
    return _action_matches(pattern, "ecr:SetRepositoryPolicy")


def _policy_result(repository: Repository) -> dict[str, Any]:
    return {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "policyText": repository.policy_text,
    }


def _policy_not_found(repository: Repository) -> ServiceError:
    return ServiceError(
        "RepositoryPolicyNotFoundException",
        f"Repository policy does not exist for the repository with name '{repository.name}' "
        f"in the registry with id '{repository.registry.account_id}'",
    )


@operation("SetRepositoryPolicy")
def set_repository_policy(
    context: RequestContext,
    *,
    repository_name: str,
    policy_text: str,
    registry_id: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    try:
        document = parse_policy_document(policy_text)
    except PolicyError as error:
        raise invalid_parameter(
            "PolicyText", f"Invalid repository policy provided: {error}"
        ) from None
    if not force and locks_out_policy_changes(document):
        raise invalid_parameter(
            "PolicyText",
            "The policy would prevent you from setting a repository policy in the future; "
            "set force to apply it anyway",
        )
    repository.policy_text = policy_text
    return _policy_result(repository)


@operation("GetRepositoryPolicy")
def get_repository_policy(
    context: RequestContext, *, repository_name: str, registry_id: str | None = None
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    if repository.policy_text is None:
        raise _policy_not_found(repository)
    return _policy_result(repository)


@operation("DeleteRepositoryPolicy")
def delete_repository_policy(
    context: RequestContext, *, repository_name: str, registry_id: str | None = None
) -> dict[str, Any]:
    repository = context.registry(registry_id).repository(repository_name)
    if repository.policy_text is None:
        raise _policy_not_found(repository)
    result = _policy_result(repository)
    repository.policy_text = None
    return result
