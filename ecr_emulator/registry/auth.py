"""ECR's registry login: HTTP Basic with user ``AWS`` and a GetAuthorizationToken password.

The password names the account that asked for it, so every request with it
acts as that account (``core.authorization`` says which registry it reaches).
"""

from __future__ import annotations

import base64

from werkzeug.wrappers import Request

from ..core.authorization import RegistryRequest, anonymous_request, registry_request
from ..identity import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from ..state import Backend
from ..tokens import USERNAME, InvalidToken
from .errors import RegistryError


def _challenge(request: Request) -> dict[str, str]:
    realm = f"{request.scheme}://{request.host}/"
    return {"WWW-Authenticate": f'Basic realm="{realm}",service="ecr.amazonaws.com"'}


def authenticate(backend: Backend, request: Request, required: bool) -> RegistryRequest:
    """Who a request acts as and which registry it reaches, or a 401/403 ``RegistryError``."""
    if not required:
        return anonymous_request(backend, DEFAULT_ACCOUNT_ID, DEFAULT_REGION, request.host)
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        raise RegistryError(
            "UNAUTHORIZED", "authentication required", 401, None, _challenge(request)
        )
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        username, _, password = decoded.partition(":")
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        username, password = "", ""
    if username != USERNAME or not password:
        raise RegistryError(
            "UNAUTHORIZED",
            "authentication required: log in with user AWS and a GetAuthorizationToken password",
            401,
            None,
            _challenge(request),
        )
    try:
        return registry_request(backend, password, request.host, request.remote_addr)
    except InvalidToken as error:
        if "expired" in str(error):
            raise RegistryError(
                "DENIED",
                "Your authorization token has expired. Reauthenticate and try again.",
                403,
            ) from None
        raise RegistryError(
            "UNAUTHORIZED", "Your authorization token is invalid.", 401, None, _challenge(request)
        ) from None
