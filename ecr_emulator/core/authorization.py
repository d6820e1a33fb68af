"""Registry credentials: GetAuthorizationToken's passwords, and who a registry request is.

A password names the account that asked for it and the registry it was issued
for.  On AWS the token of one principal works at any registry that principal
may reach; here the registry a request reaches is the one its host names
(``<account>.dkr.ecr.<region>.amazonaws.com`` in-process) or, where every
registry shares one host (the server), the one the password was issued for.
(A password is for the registries of its own region.)  Either way the request
is judged as the account that asked for the password,
so a password obtained with ``registryIds=[other]`` opens nothing that other
account's repository policies do not open.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from ..state import Backend
from ..tokens import InvalidToken, encode_authorization_token, issue_password, verify_password
from .caller import Caller

_AWS_REGISTRY_HOST = re.compile(
    r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?(?::\d+)?"
)


def is_private_registry_host(host: str | None) -> bool:
    """``<account>.dkr.ecr.<region>.amazonaws.com``: a host that is one private registry's."""
    return _AWS_REGISTRY_HOST.fullmatch(host or "") is not None


@dataclass(frozen=True, slots=True)
class AuthorizationData:
    token: str
    expires_at: _dt.datetime
    proxy_endpoint: str


def authorization_data(caller: Caller, registry_ids: list[str] | None) -> list[AuthorizationData]:
    """One password per registry asked for (default: the caller's), for that registry's
    endpoint.  Issuing one creates nothing and checks no policy, as on AWS."""
    backend = caller.backend
    scheme = backend.url_scheme
    data = []
    for registry_id in dict.fromkeys(registry_ids or [caller.account]):
        password, expires_at = issue_password(
            backend, caller.account, registry_id, caller.region, caller.principal
        )
        host = backend.registry_host_for(registry_id, caller.region)
        data.append(
            AuthorizationData(
                encode_authorization_token(password), expires_at, f"{scheme}://{host}"
            )
        )
    return data


@dataclass(frozen=True, slots=True)
class RegistryRequest:
    """Who a registry request acts as, and which registry it reaches."""

    caller: Caller
    registry_id: str


def registry_request(
    backend: Backend, password: str, host: str | None, source_ip: str | None = None
) -> RegistryRequest:
    """The caller and target registry of a request with this password (``InvalidToken``
    if it is forged or expired) sent to ``host``."""
    grant = verify_password(backend, password)
    registry_id = grant.registry
    named = _AWS_REGISTRY_HOST.fullmatch(host or "")
    if named is not None:
        if named[2] != grant.region:  # a password is for one region's registries
            raise InvalidToken("the token is for another region")
        registry_id = named[1]
    caller = Caller(backend, grant.account, grant.region, "ecr", host, source_ip, grant.principal)
    return RegistryRequest(caller, registry_id)


def anonymous_request(
    backend: Backend, account: str, region: str, host: str | None
) -> RegistryRequest:
    """``--no-auth``: every request acts as ``account``'s owner in its own registry."""
    return RegistryRequest(Caller(backend, account, region, "ecr", host), account)
