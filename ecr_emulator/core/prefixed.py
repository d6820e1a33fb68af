"""Registry settings keyed by a repository-name prefix (creation templates, pull-through cache
rules): the same prefix rules for both, as the user guide gives them for each.

A prefix ``prod`` (or ``prod/``) covers repositories whose names begin with ``prod/``; the
longest covering prefix wins; ``ROOT`` covers every repository no other prefix does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..pagination import paginate_list
from . import access
from .caller import Caller

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


def removed(
    entries: dict[str, T], prefix: str, not_found: Callable[[str], Exception]
) -> tuple[dict[str, T], T]:
    """``entries`` without ``prefix``'s entry, as a new dict (a registry's setting is
    replaced, never changed in place, so the change is kept), and that entry."""
    key = normal(prefix)
    if key not in entries:
        raise not_found(prefix)
    left = dict(entries)
    entry = left.pop(key)
    return left, entry


def page(
    caller: Caller,
    setting: str,
    prefixes: Iterable[str] | None,
    next_token: str | None,
    max_results: int | None,
    not_found: Callable[[str], Exception],
) -> tuple[list[Any], str | None]:
    """One page of a Describe* of the caller's registry ``setting`` (``creation_templates``,
    ``pull_through_rules``): the entries ``prefixes`` name, else all of them by prefix."""
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        entries = getattr(registry, setting) if registry is not None else {}
        found = listed(entries, prefixes, not_found)
    scope = f"{setting}:{caller.account}:{caller.region}"
    return paginate_list(caller.backend, found, next_token, max_results, scope=scope)
