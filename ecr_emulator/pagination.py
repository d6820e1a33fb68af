"""nextToken / maxResults paging shared by every list-shaped operation.

A page resumes from a stored position in an ``ArrivalOrder`` (the images of
a repository, the repositories of a registry), so a page costs the same
however many entries come before it, and an entry deleted between two pages
makes the next page skip nothing.  Tokens are signed with the backend's
secret and bound to the listing (``scope``) that issued them: a forged,
altered or foreign token is a clean ``InvalidParameterException``, never a
position we did not hand out.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from .errors import invalid_parameter
from .tokens import PAGE, InvalidToken, sign_claims, verify_claims

if TYPE_CHECKING:
    from .state import ArrivalOrder, Backend

T = TypeVar("T")
TOKEN_LIFETIME = _dt.timedelta(hours=24)


def paginate_in_order(
    backend: Backend,
    order: ArrivalOrder,
    entries_of: Callable[[str], Sequence[T]],
    next_token: str | None,
    max_results: int | None,
    scope: str,
    default: int = 100,
) -> tuple[list[T], str | None]:
    """One page of the entries of ``order``'s keys (none, one or several per key: ListImages
    lists an image once per tag) and the token for the next page (None at the end)."""
    position, skip = _resume(backend, order, next_token, scope) if next_token else (0, 0)
    limit = max_results or default
    page: list[T] = []
    for index, key in order.starting_at(position):
        entries = entries_of(key)
        if not entries[skip:]:
            skip = 0
            continue
        if len(page) == limit:  # there is more: the next page starts here
            return page, _cursor(backend, order, index, key, skip, scope)
        taken = entries[skip : skip + limit - len(page)]
        page.extend(taken)
        if skip + len(taken) < len(entries):
            return page, _cursor(backend, order, index, key, skip + len(taken), scope)
        skip = 0
    return page, None


def _cursor(
    backend: Backend, order: ArrivalOrder, position: int, key: str, skip: int, scope: str
) -> str:
    expires = (backend.now() + TOKEN_LIFETIME).timestamp()
    claims = {
        "scope": scope,
        "position": position,
        "key": key,
        "skip": skip,
        "generation": order.generation,
        "expires": expires,
    }
    return sign_claims(backend, PAGE, claims)


def _invalid_token() -> Exception:
    return invalid_parameter("nextToken", "Invalid NextToken")


def _resume(backend: Backend, order: ArrivalOrder, token: str, scope: str) -> tuple[int, int]:
    """(position, entries of that position's key already listed) from a token."""
    try:
        state = verify_claims(backend, token, PAGE)
    except InvalidToken:
        raise _invalid_token() from None
    position, generation, skip = state.get("position"), state.get("generation"), state.get("skip")
    if state.get("scope") != scope or not all(
        isinstance(value, int) and value >= 0 for value in (position, generation, skip)
    ):
        raise _invalid_token()
    current = order.current_position(position, generation)
    if current is None:
        raise _invalid_token()
    # the key the page stopped in may be gone: then the next key starts from its first entry
    return current, skip if order.key_at(current) == state.get("key") else 0


def paginate_list(
    backend: Backend,
    entries: Sequence[T],
    next_token: str | None,
    max_results: int | None,
    scope: str,
    default: int = 100,
) -> tuple[list[T], str | None]:
    """One page of a listing that does not change between pages (a kept lifecycle preview)
    and the token for the next page: an offset, signed and bound to ``scope`` like the
    tokens of ``paginate_in_order``."""
    start = 0
    if next_token:
        try:
            state = verify_claims(backend, next_token, PAGE)
        except InvalidToken:
            raise _invalid_token() from None
        start = state.get("offset")
        if state.get("scope") != scope or not isinstance(start, int) or start < 0:
            raise _invalid_token()
    end = start + (max_results or default)
    if end >= len(entries):
        return list(entries[start:]), None
    expires = (backend.now() + TOKEN_LIFETIME).timestamp()
    claims = {"scope": scope, "offset": end, "expires": expires}
    return list(entries[start:end]), sign_claims(backend, PAGE, claims)
