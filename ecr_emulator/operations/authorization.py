"""GetAuthorizationToken: the credentials for ``docker login`` to this emulator's registry."""

from __future__ import annotations

from typing import Any

from ..identity import RequestContext
from ..tokens import encode_authorization_token, issue_password
from . import operation


@operation("GetAuthorizationToken")
def get_authorization_token(
    context: RequestContext, *, registry_ids: list[str] | None = None
) -> dict[str, Any]:
    backend = context.backend
    authorization_data = []
    for registry_id in dict.fromkeys(registry_ids or [context.account]):
        registry = context.registry(registry_id)
        password, expires_at = issue_password(backend, registry_id, context.region)
        scheme = backend.registry_scheme if backend.registry_host else "https"
        authorization_data.append(
            {
                "authorizationToken": encode_authorization_token(password),
                "expiresAt": expires_at,
                "proxyEndpoint": f"{scheme}://{registry.host}",
            }
        )
    return {"authorizationData": authorization_data}
