"""Registry passwords: what GetAuthorizationToken issues and the /v2/ plane accepts.

A password is a signed, self-describing token: account, region and expiry,
HMAC-signed with the backend's secret.  The registry needs no lookup table to
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import Backend

TOKEN_LIFETIME = _dt.timedelta(hours=12)
USERNAME = "AWS"


class InvalidToken(Exception):
    """The password is malformed, tampered with, or expired."""


@dataclass(frozen=True, slots=True)
class TokenGrant:
    account: str
    region: str
    expires_at: _dt.datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(backend: Backend, payload: str) -> str:
    return _b64(hmac.new(backend.token_secret, payload.encode(), hashlib.sha256).digest())


def issue_password(backend: Backend, account: str, region: str) -> tuple[str, _dt.datetime]:
    expires_at = backend.now() + TOKEN_LIFETIME
    payload = _b64(
        json.dumps(
            {"account": account, "region": region, "expires": expires_at.timestamp()}
        ).encode()
    )
    return f"{payload}.{_sign(backend, payload)}", expires_at


def verify_password(backend: Backend, password: str) -> TokenGrant:
    payload, _, signature = password.partition(".")
    if not signature or not hmac.compare_digest(signature, _sign(backend, payload)):
        raise InvalidToken("the authorization token is not valid")
    try:
        data = json.loads(_unb64(payload))
        expires_at = _dt.datetime.fromtimestamp(data["expires"], _dt.timezone.utc)
        grant = TokenGrant(str(data["account"]), str(data["region"]), expires_at)
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("the authorization token is not valid") from None
    if backend.now() >= expires_at:
        raise InvalidToken("the authorization token has expired; get a new one")
    return grant


def encode_authorization_token(password: str) -> str:
    """``base64("AWS:<password>")``, the form GetAuthorizationToken returns."""
    return base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
