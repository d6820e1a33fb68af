"""nextToken / maxResults paging shared by every list-shaped operation.

The token is opaque to clients: an offset bound to the operation that issued
it, so a token from one call cannot silently page another.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TypeVar

from .errors import invalid_parameter

T = TypeVar("T")


def paginate(
    items: Sequence[T],
    next_token: str | None,
    max_results: int | None,
    scope: str,
    default: int = 100,
) -> tuple[Sequence[T], str | None]:
    """One page of ``items`` and the token for the next page (None at the end)."""
    start = _decode(next_token, scope) if next_token else 0
    end = start + (max_results or default)
    page = items[start:end]
    return page, _encode(end, scope) if end < len(items) else None


def _encode(offset: int, scope: str) -> str:
    return base64.urlsafe_b64encode(
        json.dumps({"offset": offset, "scope": scope}).encode()
    ).decode()


def _decode(token: str, scope: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = data["offset"]
        if data["scope"] != scope or not isinstance(offset, int) or offset < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise invalid_parameter("nextToken", "Invalid NextToken") from None
    return offset
