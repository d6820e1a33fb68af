"""Who is acting: the account and region a request comes from, and the backend it acts on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..arns import account_root_arn

if TYPE_CHECKING:
    from ..state import Backend


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller of one request: an account (the emulator knows no users or roles inside
    an account, so it acts as the account's root), in one region, of one service.

    ``host`` is the Host a server request came to (download URLs point back
    there); None in-process.
    """

    backend: Backend
    account: str
    region: str
    service: str = "ecr"
    host: str | None = None

    @property
    def arn(self) -> str:
        return account_root_arn(self.account, self.region)
