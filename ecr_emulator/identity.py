"""Who is calling, and where: account from the access key id, region from SigV4's scope.

The DESIGN contract: an access key id of 12 digits *is* the account (so tests
can play several accounts with plain credentials); anything else is
``DEFAULT_ACCOUNT_ID``.  The region comes from the credential scope of the
``Authorization`` header, so a client for eu-west-1 only ever sees eu-west-1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ServiceError

if TYPE_CHECKING:
    from .state import Backend, Registry

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


@dataclass(slots=True)
class RequestContext:
    """The caller of one API request, and the backend it acts on."""

    backend: Backend
    account: str
    region: str
    service: str = "ecr"
    host: str | None = None  # the Host a server request came to; None in-process

    def registry(self, registry_id: str | None = None) -> Registry:
        """The registry a request names (``registryId``), else the caller's own."""
        return self.backend.registry(registry_id or self.account, self.region)


def account_for_access_key(access_key_id: str) -> str:
    return (
        access_key_id
        if len(access_key_id) == 12 and access_key_id.isdigit()
        else DEFAULT_ACCOUNT_ID
    )


def caller_identity(
    backend: Backend, headers: Mapping[str, str], service: str = "ecr"
) -> RequestContext:
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
        return RequestContext(backend, DEFAULT_ACCOUNT_ID, DEFAULT_REGION, service)
    access_key, region, _signing_service = match.groups()
    return RequestContext(backend, account_for_access_key(access_key), region, service)


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def dns_suffix_for(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
