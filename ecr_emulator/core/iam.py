"""IAM policy documents: the grammar a resource policy must follow, and how one decides.

``parse_policy`` checks a document the way ECR does before storing it (and
raises ``PolicyError`` with a reason for the log; the client only ever hears
ECR's one sentence).  ``decide`` evaluates a document for one caller and one
action, the way AWS evaluates a resource-based policy: an explicit Deny wins,
else an Allow grants, else nothing does.  Actions match with IAM's wildcards
(``*``, ``?``, case-insensitive) through ``wildcard.matches``.

What the emulator cannot know it treats conservatively: it knows callers only
by account, so a principal naming a user or role never matches; a statement
with a ``Condition`` it cannot evaluate never allows, but still denies.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

from ..service_models import member_limit
from ..wildcard import matches

MAX_POLICY_LENGTH = member_limit("SetRepositoryPolicy", "policyText")
# A repository policy applies to its repository: ECR refuses a Resource element ("Invalid
# repository policy provided": aws/aws-cdk#3583, awsdocs/amazon-ecr-user-guide#20).
_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Condition"}
_ACTION = re.compile(r"\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+")
_VERSIONS = {"2012-10-17", "2008-10-17"}
_ACCOUNT = re.compile(r"\d{12}")
_ROOT_ARN = re.compile(r"arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):root")


class PolicyError(ValueError):
    """The policy document breaks IAM's grammar; the message says where."""


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise PolicyError("must be a string or a non-empty list of strings")
    return items


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def parse_policy(text: str) -> dict[str, Any]:
    """The parsed policy, or ``PolicyError`` when it is not a valid resource policy.
    Duplicate ``Sid``s are accepted, as AWS accepts them."""
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
    if not isinstance(statements, dict | list) or not statements:
        raise PolicyError("Statement must be an object or a non-empty list")
    for statement in _statements(document):
        _check_statement(statement)
    return document


def _check_statement(statement: Any) -> None:
    if not isinstance(statement, dict):
        raise PolicyError("each Statement must be an object")
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"unknown statement elements {sorted(unknown)}")
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise PolicyError("Sid must be a string")
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
    condition = statement.get("Condition")
    if condition is not None and not (
        isinstance(condition, dict) and all(isinstance(block, dict) for block in condition.values())
    ):
        raise PolicyError("Condition must map operators to objects")


def _names_account(principal: Any, account: str, partition: str) -> bool:
    """Whether a Principal element names ``account`` (its id, its root ARN in the
    repository's partition, or everyone)."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    values = principal.get("AWS")
    for value in values if isinstance(values, list) else [values]:
        if value in ("*", account):
            return True
        root = _ROOT_ARN.fullmatch(value) if isinstance(value, str) else None
        if root is not None and (root[1], root[2]) == (partition, account):
            return True
    return False


def _applies(statement: dict[str, Any], account: str, partition: str, action: str) -> bool:
    if "Principal" in statement:
        principal_matches = _names_account(statement["Principal"], account, partition)
    else:
        principal_matches = not _names_account(statement["NotPrincipal"], account, partition)
    if not principal_matches:
        return False
    if "Action" in statement:
        return any(matches(p, action, ignore_case=True) for p in _strings(statement["Action"]))
    return not any(matches(p, action, ignore_case=True) for p in _strings(statement["NotAction"]))


def decide(document: dict[str, Any] | None, account: str, partition: str, action: str) -> Decision:
    """What ``document`` (a policy of a repository in ``partition``) says about ``account``
    doing ``action`` (``ecr:BatchGetImage``)."""
    if document is None:
        return Decision.IMPLICIT_DENY
    allowed = False
    for statement in _statements(document):
        if not _applies(statement, account, partition, action):
            continue
        if statement["Effect"] == "Deny":
            return Decision.EXPLICIT_DENY
        if "Condition" not in statement:
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def locks_out_policy_changes(document: dict[str, Any]) -> bool:
    """Whether the policy denies everyone ``ecr:SetRepositoryPolicy`` without conditions."""
    for statement in _statements(document):
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        everyone = "*" in (principal, aws) or (isinstance(aws, list) and "*" in aws)
        if statement["Effect"] != "Deny" or not everyone or "Condition" in statement:
            continue
        if "Action" in statement:
            denied = any(_sets_policy(action) for action in _strings(statement["Action"]))
        else:  # NotAction: everything it does not list is denied
            denied = not any(_sets_policy(action) for action in _strings(statement["NotAction"]))
        if denied:
            return True
    return False


def _sets_policy(pattern: str) -> bool:
    return matches(pattern, "ecr:SetRepositoryPolicy", ignore_case=True)


def is_account_id(text: str) -> bool:
    return _ACCOUNT.fullmatch(text) is not None
