"""Wildcard patterns (``*`` any run of characters, ``?`` one character) matched without regexes.

Every wildcard a client can send goes through here: tag-mutability exclusion
filters, IAM actions in policies, and later lifecycle ``tagPatternList`` and
replication or creation-template filters.  A regex built from ``a*a*a*a*X``
backtracks exponentially against a long tag; this matcher never backtracks:
the pattern is split at its stars, the first piece must start the text, the
last must end it, and each piece between is taken at its leftmost place,
which is always safe for ``*``.  Each piece is looked for once, left to right,
so the cost is bounded by ``len(text) * len(pattern)`` and is linear for
star-only patterns (``str.find``).
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def _pieces(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("*"))


def _piece_at(piece: str, text: str, start: int) -> bool:
    """Whether ``piece`` (``?`` = any one character) matches ``text`` at ``start``."""
    if start + len(piece) > len(text):
        return False
    if "?" not in piece:
        return text.startswith(piece, start)
    return all(
        p == "?" or p == t for p, t in zip(piece, text[start : start + len(piece)], strict=True)
    )


def _find(piece: str, text: str, start: int, end: int) -> int:
    """The leftmost place in ``text[start:end]`` where ``piece`` matches, or -1."""
    if "?" not in piece:
        return text.find(piece, start, end)
    for position in range(start, end - len(piece) + 1):
        if _piece_at(piece, text, position):
            return position
    return -1


def matches(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Whether ``text`` matches ``pattern`` as a whole."""
    if ignore_case:
        pattern, text = pattern.lower(), text.lower()
    pieces = _pieces(pattern)
    if len(pieces) == 1:
        return len(text) == len(pattern) and _piece_at(pattern, text, 0)
    first, *middle, last = pieces
    if len(first) + len(last) > len(text) or not _piece_at(first, text, 0):
        return False
    end = len(text) - len(last)
    if not _piece_at(last, text, end):
        return False
    position = len(first)
    for piece in middle:
        found = _find(piece, text, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True
