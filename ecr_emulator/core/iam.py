"""IAM policy documents: the grammar a resource policy must follow, and how one decides.

``parse_policy`` checks a document the way ECR does before storing it (and
raises ``PolicyError`` with a reason for the log; the client only ever hears
ECR's one sentence).  ``decide`` evaluates a document for one request and one
action, the way AWS evaluates a resource-based policy: an explicit Deny wins,
else an Allow grants, else nothing does.  Actions and resources match with
IAM's wildcards (``*``, ``?``; actions case-insensitive) through
``wildcard.matches``; principals are ``*``, an account (id or root ARN) or a
principal ARN; conditions are the string, ARN and IP operators over
``aws:PrincipalAccount``, ``aws:PrincipalArn`` and ``aws:SourceIp``.  A
condition the emulator cannot evaluate never allows, but still denies.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..service_models import member_limit
from ..wildcard import matches

MAX_POLICY_LENGTH = member_limit("SetRepositoryPolicy", "policyText")
MAX_REGISTRY_POLICY_LENGTH = member_limit("PutRegistryPolicy", "policyText")
# A repository policy applies to its repository: ECR refuses a Resource element ("Invalid
# repository policy provided": aws/aws-cdk#3583, awsdocs/amazon-ecr-user-guide#20).  A
# registry policy names the repositories it covers ("Resource": "arn:aws:ecr:...:repository/*").
_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Condition"}
_RESOURCE_KEYS = {"Resource", "NotResource"}
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


def parse_identity_policy(text: str) -> dict[str, Any]:
    """An identity policy (identity mode): statements name actions and resources, never a
    Principal (the policy belongs to one)."""
    return parse_policy(text, registry=True, identity=True)


def parse_policy(text: str, *, registry: bool = False, identity: bool = False) -> dict[str, Any]:
    """The parsed policy, or ``PolicyError`` when it is not a valid repository policy (or,
    with ``registry``, registry policy: Resource elements, ECR actions only).  Duplicate
    ``Sid``s are accepted, as AWS accepts them."""
    limit = MAX_REGISTRY_POLICY_LENGTH if registry else MAX_POLICY_LENGTH
    if len(text) > limit:
        raise PolicyError(f"policy is longer than {limit} characters")
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
        _check_statement(statement, registry, identity)
    return document


def _check_statement(statement: Any, registry: bool, identity: bool = False) -> None:
    if not isinstance(statement, dict):
        raise PolicyError("each Statement must be an object")
    unknown = set(statement) - _STATEMENT_KEYS - (_RESOURCE_KEYS if registry else set())
    if unknown:
        raise PolicyError(f"unknown statement elements {sorted(unknown)}")
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise PolicyError("Sid must be a string")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise PolicyError("Effect must be Allow or Deny")
    if identity:
        if "Principal" in statement or "NotPrincipal" in statement:
            raise PolicyError("an identity policy names no Principal")
    elif ("Principal" in statement) == ("NotPrincipal" in statement):
        raise PolicyError("a statement needs exactly one of Principal or NotPrincipal")
    principal = statement.get("Principal", statement.get("NotPrincipal", "*"))
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
        prefixes = ("ecr:", "ecr-public:") if identity else ("ecr:",)  # identities: both services
        if registry and not (action == "*" or action.lower().startswith(prefixes)):
            raise PolicyError(f"a registry policy names ECR actions only, not '{action}'")
    if registry:
        if len(_RESOURCE_KEYS & set(statement)) > 1:
            raise PolicyError("a statement has Resource or NotResource, not both")
        for key in _RESOURCE_KEYS & set(statement):
            for resource in _strings(statement[key]):
                if resource != "*" and not resource.startswith("arn:"):
                    raise PolicyError(f"invalid resource '{resource}'")
    condition = statement.get("Condition")
    if condition is not None and not (
        isinstance(condition, dict) and all(isinstance(block, dict) for block in condition.values())
    ):
        raise PolicyError("Condition must map operators to objects")
    for block in (condition or {}).values():
        for values in block.values():  # IAM takes strings, numbers and booleans, or lists of them
            items = values if isinstance(values, list) else [values]
            if not items or not all(isinstance(item, str | int | float | bool) for item in items):
                raise PolicyError("a condition value is a string, number or boolean, or a list")


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks, as a policy sees it: the account, the principal ARN (the account's root
    unless an identity says otherwise), the partition of the resource, and the request's
    source address (None in-process)."""

    account: str
    principal_arn: str
    partition: str
    source_ip: str | None = None

    def context_value(self, key: str) -> str | None:
        """The value of a global condition key (case-insensitive, as IAM reads them)."""
        return {
            "aws:principalaccount": self.account,
            "aws:principalarn": self.principal_arn,
            "aws:sourceip": self.source_ip,
        }.get(key.lower())


def _names_principal(principal: Any, request: Request) -> bool:
    """Whether a Principal element names the caller: everyone, its account (id or root
    ARN: the account delegates to its own identities), or its own principal ARN."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    values = principal.get("AWS")
    for value in values if isinstance(values, list) else [values]:
        if value in ("*", request.account, request.principal_arn):
            return True
        root = _ROOT_ARN.fullmatch(value) if isinstance(value, str) else None
        if root is not None and (root[1], root[2]) == (request.partition, request.account):
            return True
    return False


def _applies(
    statement: dict[str, Any],
    request: Request,
    action: str,
    resource: str | None,
    identity: bool = False,
) -> bool:
    """Principal (none in an identity policy), action and resource of ``statement`` all
    cover this request."""
    if identity:
        principal_matches = True
    elif "Principal" in statement:
        principal_matches = _names_principal(statement["Principal"], request)
    else:
        principal_matches = not _names_principal(statement["NotPrincipal"], request)
    if not principal_matches:
        return False
    if "Action" in statement:
        listed = any(matches(p, action, ignore_case=True) for p in _strings(statement["Action"]))
    else:
        listed = not any(
            matches(p, action, ignore_case=True) for p in _strings(statement["NotAction"])
        )
    if not listed:
        return False
    if resource is None or ("Resource" not in statement and "NotResource" not in statement):
        return True
    if "Resource" in statement:
        return any(matches(p, resource) for p in _strings(statement["Resource"]))
    return not any(matches(p, resource) for p in _strings(statement["NotResource"]))


def decide(
    document: dict[str, Any] | None,
    request: Request,
    action: str,
    resource: str | None = None,
    *,
    identity: bool = False,
) -> Decision:
    """What ``document`` (a resource policy, or with ``identity`` the caller's own policy)
    says about ``request`` doing ``action`` (``ecr:BatchGetImage``) on ``resource`` (an ARN;
    registry and identity policies name theirs)."""
    if document is None:
        return Decision.IMPLICIT_DENY
    allowed = False
    for statement in _statements(document):
        if not _applies(statement, request, action, resource, identity):
            continue
        condition = statement.get("Condition")
        if statement["Effect"] == "Deny":
            # a condition the emulator cannot evaluate still denies: never grant by mistake
            if condition is None or conditions_hold(condition, request, unknown=True):
                return Decision.EXPLICIT_DENY
        elif condition is None or conditions_hold(condition, request, unknown=False):
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


# --- conditions ---------------------------------------------------------------------------
#
# IAM's rules (IAM user guide, "Condition element" and "Condition operators"): every operator
# of a block must hold, every key under an operator must hold, and a key holds when the
# request's value matches any of the listed values.  A key the request has no value for
# fails, except under a negated operator (StringNotEquals...) or with ``...IfExists``.


def _string_like(pattern: str, value: str) -> bool:
    return matches(pattern, value)


def _ip_in(cidr: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


# operator -> (test of one listed value against the request's value, negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda listed, value: listed == value, False),
    "StringNotEquals": (lambda listed, value: listed == value, True),
    "StringEqualsIgnoreCase": (lambda listed, value: listed.lower() == value.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda listed, value: listed.lower() == value.lower(), True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (lambda listed, value: listed == value, False),
    "ArnNotEquals": (lambda listed, value: listed == value, True),
    "ArnLike": (_string_like, False),
    "ArnNotLike": (_string_like, True),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
}


def _condition_text(item: Any) -> str:
    """A condition value as IAM compares it: booleans as ``true``/``false``."""
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


class UnknownCondition(Exception):
    """An operator or key the emulator does not evaluate."""


def conditions_hold(condition: dict[str, Any], request: Request, *, unknown: bool) -> bool:
    """Whether a Condition block holds for ``request``; ``unknown`` is the answer for an
    operator or key the emulator cannot evaluate (True where that is the safe side)."""
    try:
        return all(
            _operator_holds(operator, block, request) for operator, block in condition.items()
        )
    except UnknownCondition:
        return unknown


def _operator_holds(operator: str, block: dict[str, Any], request: Request) -> bool:
    if_exists = operator.endswith("IfExists")
    name = operator.removesuffix("IfExists")
    for prefix in ("ForAnyValue:", "ForAllValues:"):  # our keys are single-valued
        name = name.removeprefix(prefix)
    if name not in _OPERATORS:
        raise UnknownCondition(operator)
    test, negated = _OPERATORS[name]
    for key, listed in block.items():
        if key.lower() not in ("aws:principalaccount", "aws:principalarn", "aws:sourceip"):
            raise UnknownCondition(key)
        value = request.context_value(key)
        if value is None:
            if not (if_exists or negated):
                return False
            continue
        items = listed if isinstance(listed, list) else [listed]
        hit = any(test(_condition_text(item), value) for item in items)
        if hit == negated:
            return False
    return True


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
