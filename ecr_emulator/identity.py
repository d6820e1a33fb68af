"""Who is calling, and where: account from the access key id, region from SigV4's scope.

The DESIGN contract: an access key id of 12 digits *is* the account (so tests
can play several accounts with plain credentials); anything else is
``DEFAULT_ACCOUNT_ID``.  The region comes from the credential scope of the
``Authorization`` header, so a client for eu-west-1 only ever sees eu-west-1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .arns import PUBLIC_REGION
from .core import identities
from .core.caller import Caller
from .errors import ServiceError

if TYPE_CHECKING:
    from .state import Backend

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

MAX_AUTHORIZATION_LENGTH = 8192  # a SigV4 header is a few hundred characters


def _credential_scope(authorization: str) -> tuple[str, str] | None:
    """(access key id, region) from ``Credential=<key>/<date>/<region>/<service>/aws4_request``,
    read with ``str.find`` in one pass (a regex search over a long hostile header can take
    quadratic time while it holds the interpreter)."""
    start = authorization.find("Credential=")
    if start < 0:
        return None
    value = authorization[start + len("Credential=") :]
    end = len(value)
    for stop in (",", " ", "\t"):
        found = value.find(stop)
        if 0 <= found < end:
            end = found
    parts = value[:end].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        return None
    access_key, date, region, _service, _ = parts
    if len(date) != 8 or not date.isdigit():
        return None
    return access_key, region


def account_for_access_key(access_key_id: str) -> str:
    return (
        access_key_id
        if len(access_key_id) == 12 and access_key_id.isdigit()
        else DEFAULT_ACCOUNT_ID
    )


def caller_identity(
    backend: Backend,
    headers: Mapping[str, str],
    service: str = "ecr",
    host: str | None = None,
    source_ip: str | None = None,
) -> Caller:
    """Read account and region from a SigV4 ``Authorization`` header (unsigned: the defaults)."""
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    scope = (
        _credential_scope(authorization) if len(authorization) <= MAX_AUTHORIZATION_LENGTH else None
    )
    if scope is None:
        if authorization:
            raise ServiceError(
                "IncompleteSignatureException",
                "Authorization header requires a SigV4 'Credential' parameter.",
                403,
            )
        if backend.enforce_iam:
            raise ServiceError(
                "MissingAuthenticationTokenException", "Missing Authentication Token", 403
            )
        return Caller(backend, DEFAULT_ACCOUNT_ID, DEFAULT_REGION, service, host, source_ip)
    access_key, region = scope
    if region == PUBLIC_REGION:  # the key of ECR Public's registries, which is no region
        raise ServiceError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{region}'. ",
            403,
        )
    if backend.enforce_iam:  # identity mode: the key's principal, or no one
        principal = identities.principal_for(backend, access_key)
        return Caller(backend, principal.account, region, service, host, source_ip, principal.arn)
    account = account_for_access_key(access_key)
    return Caller(backend, account, region, service, host, source_ip)
