"""Who is calling, and where: account from the access key id, region from SigV4's scope.

The DESIGN contract: an access key id of 12 digits *is* the account (so tests
can play several accounts with plain credentials); anything else is
``DEFAULT_ACCOUNT_ID``.  The region comes from the credential scope of the
``Authorization`` header, so a client for eu-west-1 only ever sees eu-west-1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .core.caller import Caller
from .errors import ServiceError

if TYPE_CHECKING:
    from .state import Backend

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def account_for_access_key(access_key_id: str) -> str:
    return (
        access_key_id
        if len(access_key_id) == 12 and access_key_id.isdigit()
        else DEFAULT_ACCOUNT_ID
    )


def caller_identity(
    backend: Backend, headers: Mapping[str, str], service: str = "ecr", host: str | None = None
) -> Caller:
    """Read account and region from a SigV4 ``Authorization`` header (unsigned: the defaults)."""
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    match = _CREDENTIAL.search(authorization)
    if match is None:
        if authorization:
            raise ServiceError(
                "IncompleteSignatureException",
                "Authorization header requires a SigV4 'Credential' parameter.",
                403,
            )
        return Caller(backend, DEFAULT_ACCOUNT_ID, DEFAULT_REGION, service, host)
    access_key, region, _signing_service = match.groups()
    return Caller(backend, account_for_access_key(access_key), region, service, host)
