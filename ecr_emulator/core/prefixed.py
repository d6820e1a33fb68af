"""Registry settings keyed by a repository-name prefix (creation templates, pull-through cache
rules): the same prefix rules for both, as the user guide gives them for each.

A prefix ``prod`` (or ``prod/``) covers repositories whose names begin with ``prod/``; the
longest covering prefix wins; ``ROOT`` covers every repository no other prefix does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

ROOT = "ROOT"
T = TypeVar("T")


def normal(prefix: str) -> str:
    """The key a prefix is kept under: ``prod/`` and ``prod`` are one prefix."""
    return prefix if prefix == ROOT else prefix.rstrip("/")


def covering(
    entries: dict[str, T], name: str, wanted: Callable[[T], bool] = lambda _: True
) -> T | None:
    """The entry whose prefix covers ``name`` most closely, else ROOT's, of those ``wanted``."""
    best_key: str | None = None
    for key, entry in entries.items():
        if not wanted(entry):
            continue
        if key == ROOT:
            best_key = best_key or key
        elif name.startswith(key + "/") and (
            best_key in (None, ROOT) or len(key) > len(best_key)  # type: ignore[arg-type]
        ):
            best_key = key
    return None if best_key is None else entries[best_key]


def listed(
    entries: dict[str, Any], prefixes: Iterable[str] | None, not_found: Callable[[str], Exception]
) -> list[Any]:
    """The entries ``prefixes`` name (each must exist), or every entry by prefix."""
    if not prefixes:
        return [entries[key] for key in sorted(entries)]
    found = []
    for prefix in dict.fromkeys(prefixes):
        if normal(prefix) not in entries:
            raise not_found(prefix)
        found.append(entries[normal(prefix)])
    return found
