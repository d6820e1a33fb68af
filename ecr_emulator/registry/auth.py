"""Registry logins: HTTP Basic with user ``AWS`` and a GetAuthorizationToken password, or
the registry token flow (a Bearer token from ``/v2/token``) that docker and skopeo use.

The password names the account that asked for it, so every request with it
acts as that account (``core.authorization`` says which registry it reaches).
Both are accepted everywhere.  A 401 at an ECR-shaped host challenges for Basic, as
ECR does; elsewhere for a Bearer token from ``/v2/token`` (``_challenge``), where a
client with no login gets an anonymous token, which pulls public repositories and
nothing else: ``docker pull`` of a public image needs no ``docker login``, while every
private request still needs a password (``docker login`` gets its token with it).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from ..arns import PUBLIC_REGION
from ..core import Caller
from ..core.authorization import (
    RegistryRequest,
    anonymous_request,
    is_private_registry_host,
    registry_request,
)
from ..identity import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from ..state import Backend
from ..tokens import (
    USERNAME,
    InvalidToken,
    is_anonymous_token,
    issue_anonymous_token,
    verify_password,
)
from .errors import RegistryError

TOKEN_PATH = "/v2/token"
_MAX_TOKEN_FORM = 16384  # a form of a user name and a password
ANONYMOUS = "anonymous"  # the account of a caller with no login: no account is named so


def _challenge(request: Request) -> list[tuple[str, str]]:
    """ECR's Basic challenge at an ECR-shaped host; elsewhere (``public.ecr.aws``, or a
    server's one host, where public repositories live too) the token flow's Bearer
    challenge, as public.ecr.aws gives.  Only one: docker applies every challenge it
    knows, and a Basic one with no login fails a pull that needs none."""
    realm = f"{request.scheme}://{request.host}"
    if is_private_registry_host(request.host):
        return [("WWW-Authenticate", f'Basic realm="{realm}/",service="ecr.amazonaws.com"')]
    return [("WWW-Authenticate", f'Bearer realm="{realm}{TOKEN_PATH}",service="ecr.amazonaws.com"')]


def unauthorized(request: Request, message: str = "authentication required") -> RegistryError:
    return RegistryError("UNAUTHORIZED", message, 401, None, _challenge(request))


def _credentials(request: Request) -> str | None:
    """The request's password or token (Basic ``AWS:<password>``, or Bearer); None without
    one; a 401 for a Basic login that is not ``AWS`` and a password."""
    parts = request.headers.get("Authorization", "").split(None, 1)  # any whitespace
    scheme, credentials = (parts[0].lower(), parts[1].strip()) if len(parts) == 2 else ("", "")
    if scheme == "bearer" and credentials:
        return credentials
    if scheme != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
        username, _, password = decoded.partition(":")
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        username, password = "?", ""
    if not username and not password:  # skopeo's "Basic Og==" when it has no login
        return None
    if username != USERNAME or not password:
        raise unauthorized(
            request,
            "authentication required: log in with user AWS and a GetAuthorizationToken password",
        )
    return password


def _refused(request: Request, error: InvalidToken) -> RegistryError:
    if "expired" in str(error):
        return RegistryError(
            "DENIED", "Your authorization token has expired. Reauthenticate and try again.", 403
        )
    return unauthorized(request, "Your authorization token is invalid.")


def _login(backend: Backend, request: Request) -> RegistryRequest | str | None:
    """The request's login: None without one, ``ANONYMOUS`` for the anonymous token, else
    who its password says (a 401/403 ``RegistryError`` when it is forged or expired)."""
    secret = _credentials(request)
    if secret is None:
        return None
    if is_anonymous_token(backend, secret):
        return ANONYMOUS
    try:
        return registry_request(backend, secret, request.host, request.remote_addr)
    except InvalidToken as error:
        raise _refused(request, error) from None


def authenticate(backend: Backend, request: Request, required: bool) -> RegistryRequest:
    """Who a request to a private registry acts as and which registry it reaches, or a
    401/403 ``RegistryError``."""
    if not required:
        return anonymous_request(backend, DEFAULT_ACCOUNT_ID, DEFAULT_REGION, request.host)
    who = _login(backend, request)
    if who is None:
        raise unauthorized(request)
    if who == ANONYMOUS:
        # a token with no login behind it: refused for good (a 401 would have docker retry)
        raise RegistryError(
            "DENIED",
            "anonymous access reaches public repositories only: log in with a "
            "GetAuthorizationToken password to reach a private one",
            403,
        )
    assert isinstance(who, RegistryRequest)
    if who.caller.region == PUBLIC_REGION:
        # docker keeps one login per host, and a server's host is both services': an ECR
        # Public password acts as its account here too, in ECR Public's own region
        _same_service_in_identity_mode(backend, "an ECR Public", "a private")
        caller = dataclasses.replace(who.caller, region=DEFAULT_REGION, service="ecr")
        return RegistryRequest(caller, who.registry_id)
    return who


def _same_service_in_identity_mode(backend: Backend, password: str, repository: str) -> None:
    """In identity mode a login is the principal's right to one service
    (``ecr:GetAuthorizationToken`` or ``ecr-public:...``): its password opens only that
    service's repositories, or a principal refused one login would use the other's."""
    if backend.enforce_iam:
        raise RegistryError(
            "DENIED",
            f"{password} password opens no {repository} repository under identity mode: "
            "log in with that service's GetAuthorizationToken",
            403,
        )


def ping(backend: Backend, request: Request) -> None:
    """``GET /v2/``: a 401 with the challenge unless the request carries a login that
    works, of either service, or the anonymous token (which pulls public repositories)."""
    if _login(backend, request) is None:
        raise unauthorized(request)


def authenticate_public(
    backend: Backend, request: Request, required: bool, writing: bool = False
) -> Caller:
    """The caller of a request to a public registry: with no login, no one (who may pull,
    and is asked to log in for anything else); else the account of its password, of
    either service (docker keeps one login per host, and a server's one host serves
    both: the path, not the password, says which registry a request is for)."""
    if not required:
        return Caller(backend, DEFAULT_ACCOUNT_ID, PUBLIC_REGION, "ecr-public", request.host)
    who = _login(backend, request)
    if not isinstance(who, RegistryRequest):  # no login, or the anonymous token
        if writing:
            raise unauthorized(request)
        return Caller(
            backend, ANONYMOUS, PUBLIC_REGION, "ecr-public", request.host, request.remote_addr
        )
    if who.caller.region != PUBLIC_REGION:
        _same_service_in_identity_mode(backend, "a private registry's", "public")
    return dataclasses.replace(who.caller, region=PUBLIC_REGION, service="ecr-public")


def token(backend: Backend, request: Request) -> Response:
    """``/v2/token`` of the registry token flow: a login's own password back as the token
    (Bearer is then the same as Basic), or, with no login, an anonymous token.  The login
    comes as Basic on a GET (docker, skopeo) or as OAuth2's password or refresh-token
    grant in a POSTed form (containerd's ``ctr`` and buildkit)."""
    if request.method not in ("GET", "HEAD", "POST"):
        raise RegistryError("UNSUPPORTED", f"{request.method} is not supported on /v2/token", 405)
    login = _credentials(request)
    if request.method == "POST":
        login = _oauth_login(request) or login
    if login is None:
        value, expires_at = issue_anonymous_token(backend)
    else:
        try:
            expires_at = verify_password(backend, login).expires_at
        except InvalidToken as error:
            raise _refused(request, error) from None
        value = login
    now = backend.now()
    body = {
        "token": value,
        "access_token": value,
        "expires_in": int((expires_at - now).total_seconds()),
        "issued_at": now.isoformat().replace("+00:00", "Z"),
    }
    if login is not None and request.method == "POST":
        body["refresh_token"] = value  # what a client sends back for the next token
    return Response(json.dumps(body), 200, content_type="application/json")


def _oauth_login(request: Request) -> str | None:
    """The password of an OAuth2 token request's form (``grant_type=password`` with user
    ``AWS``, or ``grant_type=refresh_token``); None when the form holds no login."""
    body = request.stream.read(_MAX_TOKEN_FORM + 1)  # chunked or not: read no further
    if len(body) > _MAX_TOKEN_FORM:
        raise RegistryError("UNSUPPORTED", "the token request is too large", 413)
    try:
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
    except UnicodeDecodeError:
        return None
    grant = form.get("grant_type")
    if grant == "password" and form.get("password"):
        if form.get("username") != USERNAME:
            raise unauthorized(request, "log in with user AWS and a GetAuthorizationToken password")
        return form["password"]
    if grant == "refresh_token" and form.get("refresh_token"):
        return form["refresh_token"]
    return None
