"""GetAuthorizationToken on the awsJson wire: passwords for ``docker login`` (``core.authorization``)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, authorization
from . import operation


@operation("GetAuthorizationToken")
def get_authorization_token(
    caller: Caller, *, registry_ids: list[str] | None = None
) -> dict[str, Any]:
    data = authorization.authorization_data(caller, registry_ids)
    return {
        "authorizationData": [
            {
                "authorizationToken": item.token,
                "expiresAt": item.expires_at,
                "proxyEndpoint": item.proxy_endpoint,
            }
            for item in data
        ]
    }
