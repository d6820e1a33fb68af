"""The opt-in identity mode (``serve --enforce-iam``, ``mock_ecr(enforce_iam=True)``): access
key ids map to principals (user, role or root ARNs) with identity policies, and every call
needs an Allow, as IAM evaluates policies for one account:

- within the account, an explicit Deny in the identity or the resource policy refuses;
  otherwise an Allow in either grants ("an identity-based policy or a resource-based
  policy"); an account's root is allowed everything in its own account;
- across accounts, the identity policy *and* the resource policy must both allow (IAM
  user guide, "Cross-account policy evaluation logic");
- ``ecr:GetAuthorizationToken`` must be allowed to log in, and the registry password
  carries the principal, so ``docker pull`` is judged as that principal.

An access key id that maps to no principal is refused with AWS's
``UnrecognizedClientException``.  Principals come from a file (``--iam-config``:
``{"principals": [{"accessKeyId", "arn", "policies": [...]}]}``, YAML or JSON), the admin
route ``POST /_emulator/iam/principals`` or ``mock.add_principal``, and are kept under
``--data-dir``.  Off by default: every caller is then its account's root, as before.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from ..arns import partition_for
from ..errors import ServiceError
from ..state import Backend, Principal
from . import iam
from .caller import Caller

_ARN = re.compile(
    r"arn:(aws|aws-cn|aws-us-gov):(iam|sts)::\d{12}:(root|user/.+|role/.+|assumed-role/.+)"
)
_ACCESS_KEY = re.compile(r"[A-Z0-9]{12,128}")


class IdentityError(ValueError):
    """A principal entry that cannot be used; the message says why."""


def unrecognized() -> ServiceError:
    return ServiceError(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        400,
    )


def _policy(value: Any) -> dict[str, Any]:
    document = json.loads(value) if isinstance(value, str) else value
    try:
        return iam.parse_identity_policy(json.dumps(document))
    except iam.PolicyError as error:
        raise IdentityError(f"invalid identity policy: {error}") from None


def put_principal(
    backend: Backend, access_key_id: str, arn: str, policies: list[Any] | tuple[Any, ...] = ()
) -> Principal:
    """Add or replace the principal of ``access_key_id`` (``IdentityError`` when invalid)."""
    if not isinstance(access_key_id, str) or not _ACCESS_KEY.fullmatch(access_key_id):
        raise IdentityError("accessKeyId must be 12 to 128 upper-case letters and digits")
    if not isinstance(arn, str) or not _ARN.fullmatch(arn):
        raise IdentityError("arn must be an IAM user, role or root ARN")
    if not isinstance(policies, list | tuple):
        raise IdentityError("policies must be a list of policy documents")
    parsed = tuple(_policy(policy) for policy in policies)
    with backend.transaction():
        old = backend.principals.get(access_key_id)
        if old is not None:
            backend.forget(old)
        principal = backend.principals[access_key_id] = Principal(access_key_id, arn, parsed)
        backend.keep(principal)
        return principal


def load_file(backend: Backend, path: str | Path) -> int:
    """The principals of an ``--iam-config`` file; how many."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        raise IdentityError(f"not YAML or JSON: {error}") from None
    entries = (document or {}).get("principals", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise IdentityError("the file must hold {principals: [...]}")
    for entry in entries:
        if not isinstance(entry, dict):
            raise IdentityError("each principal is an object")
        put_principal(
            backend, entry.get("accessKeyId"), entry.get("arn"), entry.get("policies", [])
        )
    return len(entries)


def principal_for(backend: Backend, access_key_id: str) -> Principal:
    principal = backend.principals.get(access_key_id)
    if principal is None:
        raise unrecognized()
    return principal


def decision(caller: Caller, action: str, resource: str) -> iam.Decision | None:
    """What the caller's identity policies say about ``action`` on ``resource``; None when
    they do not take part (identity mode off, or the caller is an account's root)."""
    backend = caller.backend
    if not backend.enforce_iam or caller.principal is None or caller.principal.endswith(":root"):
        return None
    request = iam.Request(
        caller.account, caller.principal, partition_for(caller.region), caller.source_ip
    )
    allowed = False
    for principal in list(backend.principals.values()):
        if principal.arn != caller.principal:
            continue
        for policy in principal.policies:
            found = iam.decide(policy, request, action, resource, identity=True)
            if found is iam.Decision.EXPLICIT_DENY:
                return found
            allowed = allowed or found is iam.Decision.ALLOW
    return iam.Decision.ALLOW if allowed else iam.Decision.IMPLICIT_DENY
