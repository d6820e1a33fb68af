"""Who is acting: the account and region a request comes from, and the backend it acts on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..arns import account_root_arn

if TYPE_CHECKING:
    from ..state import Backend


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller of one request: an account, in one region, of one service.

    ``principal`` is the caller's principal ARN when an identity says who inside the
    account is calling; None means the account's root.  ``host`` is the Host a
    server request came to (download URLs point back there) and ``source_ip`` the
    client's address (policy conditions on ``aws:SourceIp``); both None in-process.
    """

    backend: Backend
    account: str
    region: str
    service: str = "ecr"
    host: str | None = None
    source_ip: str | None = None
    principal: str | None = None

    @property
    def arn(self) -> str:
        return self.principal or account_root_arn(self.account, self.region)
