"""State that is kept under ``--data-dir`` by construction.

Every class of state (registry, repository, image, upload, ...) is a ``Record``
dataclass.  Each of its fields is kept unless declared ``transient`` (back
references, indexes rebuilt on load, locks): a field added tomorrow is kept
without another line.  Once a record is attached to a ``Journal`` (the
container that holds it says so, ``Backend.keep``), assigning any field marks
it changed, and the journal writes it when the state lock is let go.  So state
is changed by assignment, never in place: ``repository.resource_tags = {...}``,
not ``repository.resource_tags[k] = v`` (``tests/test_persistence.py``
compares every field after a restart, which catches a change made in place).

Values are JSON with three tagged forms for what JSON lacks: datetimes, tuples
and sets; a dict with a key of its own starting with ``$`` (client JSON such as a
policy) is wrapped in a fourth, ``$dict``, so it is never read back as a tag.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from typing import Any, Protocol

TRANSIENT = {"kept": False}
"""``field(metadata=TRANSIENT)``: rebuilt on load or meaningless after a restart."""


class Journal(Protocol):
    def changed(self, record: Record) -> None: ...


@dataclasses.dataclass(slots=True, eq=False)
class Record:
    """A piece of kept state; subclasses are ``@dataclass(slots=True, eq=False)``."""

    journal: Journal | None = dataclasses.field(
        default=None, init=False, repr=False, metadata=TRANSIENT
    )

    KIND = "record"

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        journal = self.journal
        if journal is not None:
            journal.changed(self)

    def record_key(self) -> str:
        """Unique among all records; starts with the parent's key when there is one."""
        raise NotImplementedError

    def record_parent(self) -> str | None:
        """The key of the record whose removal removes this one too."""
        return None


KEY_SEPARATOR = "\x1f"  # no name, region or digest may contain it


def key_of(kind: str, *parts: str) -> str:
    return KEY_SEPARATOR.join((kind, *parts))


def key_parts(key: str) -> list[str]:
    return key.split(KEY_SEPARATOR)[1:]


_KEPT: dict[type, tuple[str, ...]] = {}


def kept_fields(cls: type) -> tuple[str, ...]:
    """The names of ``cls``'s kept fields (every field not marked ``TRANSIENT``)."""
    names = _KEPT.get(cls)
    if names is None:
        names = _KEPT[cls] = tuple(
            f.name for f in dataclasses.fields(cls) if f.metadata.get("kept", True)
        )
    return names


def encode(record: Record) -> str:
    """The kept fields of ``record`` as JSON."""
    return json.dumps(
        {name: _plain(getattr(record, name)) for name in kept_fields(type(record))},
        separators=(",", ":"),
    )


def decode(body: str) -> dict[str, Any]:
    """The fields ``encode`` wrote, as keyword arguments for the record's class."""
    return {name: _typed(value) for name, value in json.loads(body).items()}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, _dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [_plain(item) for item in value]}
    if isinstance(value, set | frozenset):
        return {"$set": sorted(_plain(item) for item in value)}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        plain = {str(key): _plain(item) for key, item in value.items()}
        if any(key.startswith("$") for key in plain):  # a client's own "$datetime" stays a key
            return {"$dict": plain}
        return plain
    raise TypeError(f"cannot keep a {type(value).__name__}: mark the field TRANSIENT")


def _typed(value: Any) -> Any:
    if isinstance(value, list):
        return [_typed(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, inner), *_ = value.items()
            if tag == "$datetime":
                return _dt.datetime.fromisoformat(inner)
            if tag == "$tuple":
                return tuple(_typed(item) for item in inner)
            if tag == "$set":
                return {_typed(item) for item in inner}
            if tag == "$dict":
                return {key: _typed(item) for key, item in inner.items()}
        return {key: _typed(item) for key, item in value.items()}
    return value
