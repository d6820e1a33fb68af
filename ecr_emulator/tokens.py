"""Signed tokens: registry passwords (GetAuthorizationToken), layer download URLs, page tokens.

A password is a signed, self-describing token: the account that asked for it
(the caller every registry request with it acts as), the registry it was
issued for, the region and the expiry, HMAC-signed with the backend's secret.  The registry needs no lookup table to
check one, a tampered byte breaks the signature, and expiry is read from the
backend's clock so frozen time applies to tokens too.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import Backend

TOKEN_LIFETIME = _dt.timedelta(hours=12)
USERNAME = "AWS"


class InvalidToken(Exception):
    """The password is malformed, tampered with, or expired."""


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a valid password says: who asked for it, for which registry, until when."""

    account: str
    registry: str
    region: str
    expires_at: _dt.datetime
    principal: str | None = None  # identity mode: the principal that asked for it


def urlsafe_b64(data: bytes) -> str:
    """Base64url without padding (JWT and JWS spell it so)."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(backend: Backend, payload: str) -> str:
    return urlsafe_b64(hmac.new(backend.token_secret, payload.encode(), hashlib.sha256).digest())


PASSWORD = "registry-password"
ANONYMOUS = "anonymous-pull"  # the registry token flow's token for a client with no login
DOWNLOAD = "layer-download"
PAGE = "page"


def sign_claims(backend: Backend, purpose: str, claims: dict[str, Any]) -> str:
    """``claims`` as a compact, HMAC-signed string only this backend can mint.

    The purpose is signed in, so a token minted for one use (a layer download
    URL) is refused for another (a registry password)."""
    payload = urlsafe_b64(json.dumps({**claims, "use": purpose}, separators=(",", ":")).encode())
    return f"{payload}.{_sign(backend, payload)}"


def verify_claims(backend: Backend, token: str, purpose: str) -> dict[str, Any]:
    """The claims of a ``purpose`` token, checked for tampering, purpose and expiry."""
    payload, _, signature = token.partition(".")
    expected = _sign(backend, payload).encode()
    # Bytes, not str: compare_digest refuses non-ASCII text, and a password is client input.
    if not signature or not hmac.compare_digest(signature.encode(), expected):
        raise InvalidToken("the token is not valid")
    try:
        claims = json.loads(_unb64(payload))
        expires = float(claims["expires"])
        if claims["use"] != purpose:
            raise ValueError(claims["use"])
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("the token is not valid") from None
    if backend.now().timestamp() >= expires:
        raise InvalidToken("the token has expired")
    return claims


def issue_password(
    backend: Backend, account: str, registry: str, region: str, principal: str | None = None
) -> tuple[str, _dt.datetime]:
    """A registry password for caller ``account`` (``principal`` in identity mode) to use at
    ``registry``'s endpoint."""
    expires_at = backend.now() + TOKEN_LIFETIME
    claims = {
        "account": account,
        "registry": registry,
        "region": region,
        "expires": expires_at.timestamp(),
    }
    if principal is not None:
        claims["principal"] = principal
    return sign_claims(backend, PASSWORD, claims), expires_at


def verify_password(backend: Backend, password: str) -> TokenGrant:
    claims = verify_claims(backend, password, PASSWORD)
    try:
        expires_at = _dt.datetime.fromtimestamp(claims["expires"], _dt.timezone.utc)
        principal = claims.get("principal")
        return TokenGrant(
            str(claims["account"]),
            str(claims["registry"]),
            str(claims["region"]),
            expires_at,
            None if principal is None else str(principal),
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        raise InvalidToken("the authorization token is not valid") from None


def issue_anonymous_token(backend: Backend) -> tuple[str, _dt.datetime]:
    """What the registry's token endpoint gives a client that sent no login: it pulls
    public repositories and nothing else."""
    expires_at = backend.now() + TOKEN_LIFETIME
    return sign_claims(backend, ANONYMOUS, {"expires": expires_at.timestamp()}), expires_at


def is_anonymous_token(backend: Backend, token: str) -> bool:
    try:
        verify_claims(backend, token, ANONYMOUS)
    except InvalidToken:
        return False
    return True


def encode_authorization_token(password: str) -> str:
    """``base64("AWS:<password>")``, the form GetAuthorizationToken returns."""
    return base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
