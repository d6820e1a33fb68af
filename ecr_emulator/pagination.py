"""nextToken / maxResults paging shared by every list-shaped operation.

Tokens are opaque to clients and bound to the operation (``scope``) that
issued them, so a token from one call cannot silently page another.
``paginate`` pages a small sequence by offset; ``paginate_in_order`` pages a
repository's images from a stored position, so a page costs the same however
many images come before it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import invalid_parameter

if TYPE_CHECKING:
    from .state import ArrivalOrder

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


def paginate_in_order(
    order: ArrivalOrder,
    entries_of: Callable[[str], Sequence[T]],
    next_token: str | None,
    max_results: int | None,
    scope: str,
    default: int = 100,
) -> tuple[list[T], str | None]:
    """One page of the entries of ``order``'s keys (none, one or several per key: ListImages
    lists an image once per tag) and the token for the next page (None at the end)."""
    position, skip = _resume(order, next_token, scope) if next_token else (0, 0)
    limit = max_results or default
    page: list[T] = []
    for index, key in order.starting_at(position):
        entries = entries_of(key)
        if not entries[skip:]:
            skip = 0
            continue
        if len(page) == limit:  # there is more: the next page starts here
            return page, _cursor(order, index, key, skip, scope)
        taken = entries[skip : skip + limit - len(page)]
        page.extend(taken)
        if skip + len(taken) < len(entries):
            return page, _cursor(order, index, key, skip + len(taken), scope)
        skip = 0
    return page, None


def _cursor(order: ArrivalOrder, position: int, key: str, skip: int, scope: str) -> str:
    state = {"position": position, "key": key, "skip": skip, "generation": order.generation}
    return _encode_state({**state, "scope": scope})


def _resume(order: ArrivalOrder, token: str, scope: str) -> tuple[int, int]:
    """(position, entries of that position's key already listed) from a token."""
    state = _decode_state(token, scope)
    try:
        generation, key = int(state["generation"]), str(state["key"])
        position = order.current_position(int(state["position"]), generation)
        if position is None or position < 0:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise invalid_parameter("nextToken", "Invalid NextToken") from None
    # the key the page stopped in may be gone: then the next key starts from its first entry
    skip = int(state.get("skip", 0)) if order.key_at(position) == key else 0
    return position, skip


def _encode(offset: int, scope: str) -> str:
    return _encode_state({"offset": offset, "scope": scope})


def _decode(token: str, scope: str) -> int:
    offset = _decode_state(token, scope).get("offset")
    if not isinstance(offset, int) or offset < 0:
        raise invalid_parameter("nextToken", "Invalid NextToken")
    return offset


def _encode_state(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _decode_state(token: str, scope: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(state, dict) or state.get("scope") != scope:
            raise ValueError
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        raise invalid_parameter("nextToken", "Invalid NextToken") from None
    return state
