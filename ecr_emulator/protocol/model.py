"""Compile botocore shapes into fast validators and serializers.

Each input shape becomes one closure that checks types and the model's
constraints (required, min/max, pattern, enum); each output shape becomes a
closure that keeps only the members the shape declares and renders timestamps
and blobs the way awsJson1.1 does.  Compiling once per shape keeps per-call
cost flat, which is what the PutImage benchmark measures.

A broken constraint is answered the way ECR answers it (quoted AWS answers in
public issue trackers, see ``tests/test_dispatcher.py``): one
``InvalidParameterException`` for the first violation, ``Invalid parameter at
'<member>' failed to satisfy constraint: '<constraint>'``.  The member is named
by its own name, never by its path (``imageDigest``, not
``imageIds.1.member.imageDigest``); a broken constraint of a list's items is
named by the list and wrapped, as in ``Invalid parameter at 'registryIds'
failed to satisfy constraint: 'Member must satisfy constraint: [Member must
satisfy regular expression pattern: [0-9]{12}]'``.  A value of the wrong JSON
type is Coral's ``SerializationException``, before any constraint is checked.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.model import Shape

from ..errors import ServiceError, invalid_parameter


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken constraint: the member's name, ECR's constraint text, and the text an
    item of a list gives inside the list's ``Member must satisfy constraint: [...]``."""

    member: str
    constraint: str
    as_item: str


Validator = Callable[[Any, str, list[Violation]], None]
Serializer = Callable[[Any], Any]


class SerializationError(ServiceError):
    """A value of the wrong JSON type: what Coral answers before any validation."""

    def __init__(self, message: str) -> None:
        super().__init__("SerializationException", message)


def _describe(value: Any) -> str:
    """A value as JSON spells it (``null``, ``true``), strings without quotes."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (int, float),
    "float": (int, float),
    "timestamp": (int, float, str),
    "blob": (str,),
    "structure": (dict,),
    "map": (dict,),
    "list": (list,),
}


def compile_validator(shape: Shape) -> Validator:
    """A function that appends a ``Violation`` per constraint broken by ``value``; its
    second argument is the name of the member ``value`` is."""
    return _compile_validator(shape, {})


def _compile_validator(shape: Shape, memo: dict[str, Validator]) -> Validator:
    if shape.name in memo:
        return memo[shape.name]
    checks: list[Validator] = []

    def validate(value: Any, name: str, errors: list[Violation]) -> None:
        for check in checks:
            check(value, name, errors)

    memo[shape.name] = validate
    type_name = shape.type_name
    json_types = _JSON_TYPES[type_name]
    is_integer = type_name in ("integer", "long")

    def check_type(value: Any, name: str, errors: list[Violation]) -> None:
        if not isinstance(value, json_types) or (is_integer and isinstance(value, bool)):
            raise SerializationError(
                f"Value {_describe(value)!s} at '{name}' cannot be read as {type_name}"
            )

    checks.append(check_type)
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if type_name in ("string", "list", "map") and (low is not None or high is not None):
        checks.append(_bounds_check(low, high, "length", len))
    elif type_name == "blob" and (low is not None or high is not None):
        checks.append(_bounds_check(low, high, "length", _decoded_size))
    elif type_name in ("integer", "long", "double", "float") and (
        low is not None or high is not None
    ):
        checks.append(_bounds_check(low, high, "value", _identity))
    if type_name == "string":
        if meta.get("pattern"):
            checks.append(_pattern_check(meta["pattern"]))
        if shape.enum:
            checks.append(_enum_check(shape.enum))
    if type_name == "structure":
        checks.append(_structure_check(shape, memo))
    elif type_name == "list":
        checks.append(_items_check(_compile_validator(shape.member, memo)))
    elif type_name == "map":
        key_validator = _compile_validator(shape.key, memo)
        value_validator = _compile_validator(shape.value, memo)

        def check_entries(value: dict, name: str, errors: list[Violation]) -> None:
            for key, item in value.items():
                key_validator(key, name, errors)
                value_validator(item, name, errors)

        checks.append(check_entries)
    return validate


def _structure_check(shape: Shape, memo: dict[str, Validator]) -> Validator:
    members = [(name, _compile_validator(member, memo)) for name, member in shape.members.items()]
    required = list(shape.required_members)

    def check_members(value: dict, name: str, errors: list[Violation]) -> None:
        for member in required:
            if value.get(member) is None:
                errors.append(Violation(member, *_both("must not be null", member)))
        for member, member_validator in members:
            item = value.get(member)
            if item is not None:
                member_validator(item, member, errors)

    return check_members


def _items_check(member_validator: Validator) -> Validator:
    """A list's items: a scalar item's violation is the list's, wrapped as ECR wraps it;
    members of structure items speak for themselves."""

    def check_items(value: list, name: str, errors: list[Violation]) -> None:
        for item in value:
            found: list[Violation] = []
            member_validator(item, name, found)
            for violation in found:
                if violation.member == name:
                    wrapped = f"Member must satisfy constraint: [{violation.as_item}]"
                    errors.append(Violation(name, wrapped, wrapped))
                else:
                    errors.append(violation)

    return check_items


# Members ECR checks with its own validators, which word a rule without "Member" (quoted:
# "'must have length greater than or equal to 2'" for repositoryName, "'must satisfy regular
# expression ...'" for repositoryName, registryId, imageDigest and imageTag).
ECR_CHECKED_MEMBERS = frozenset({"repositoryName", "registryId", "imageDigest", "imageTag"})


def _both(rule: str, name: str = "") -> tuple[str, str]:
    """A model rule as ECR words it for member ``name``, and for a list's item."""
    own = rule if name in ECR_CHECKED_MEMBERS else f"Member {rule}"
    return own, f"Member {rule}"


def _decoded_size(value: str) -> int:
    """The bytes base64 text holds: the model's limits on blobs count bytes, not characters."""
    padding = len(value) - len(value.rstrip("="))
    return len(value) * 3 // 4 - padding


def _bounds_check(
    low: float | None, high: float | None, what: str, measure: Callable[[Any], Any]
) -> Validator:
    def check(value: Any, name: str, errors: list[Violation]) -> None:
        measured = measure(value)
        if low is not None and measured < low:
            errors.append(
                Violation(name, *_both(f"must have {what} greater than or equal to {low}", name))
            )
        elif high is not None and measured > high:
            errors.append(
                Violation(name, *_both(f"must have {what} less than or equal to {high}", name))
            )

    return check


def _pattern_check(pattern: str) -> Validator:
    """ECR's own wording for the members it checks itself, Coral's for the others and for
    a list's item (both quoted from AWS answers)."""
    matcher = re.compile(pattern).fullmatch
    own = f"must satisfy regular expression '{pattern}'"
    coral = f"Member must satisfy regular expression pattern: {pattern}"

    def check(value: str, name: str, errors: list[Violation]) -> None:
        if matcher(value) is None:
            errors.append(Violation(name, own if name in ECR_CHECKED_MEMBERS else coral, coral))

    return check


def _enum_check(allowed: list[str]) -> Validator:
    allowed_set = frozenset(allowed)
    rule = "must satisfy enum value set: [" + ", ".join(allowed) + "]"

    def check(value: str, name: str, errors: list[Violation]) -> None:
        if value not in allowed_set:
            errors.append(Violation(name, *_both(rule)))

    return check


def raise_for_violations(violations: list[Violation]) -> None:
    """ECR names one broken constraint, the first."""
    if violations:
        first = violations[0]
        raise invalid_parameter(first.member, first.constraint)


def compile_serializer(shape: Shape) -> Serializer:
    """A function that renders an operation's result dict as awsJson1.1 data."""
    return _compile_serializer(shape, {})


def _identity(value: Any) -> Any:
    return value


def _timestamp(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    return value


def _blob(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return value


def _compile_serializer(shape: Shape, memo: dict[str, Serializer]) -> Serializer:
    if shape.name in memo:
        return memo[shape.name]
    type_name = shape.type_name
    if type_name == "timestamp":
        return _timestamp
    if type_name == "blob":
        return _blob
    if type_name not in ("structure", "list", "map"):
        return _identity
    members: list[tuple[str, Serializer]] = []

    def serialize_structure(value: dict) -> dict:
        out = {}
        for name, member_serializer in members:
            item = value.get(name)
            if item is not None:
                out[name] = member_serializer(item)
        return out

    if type_name == "structure":
        memo[shape.name] = serialize_structure
        members.extend(
            (name, _compile_serializer(member, memo)) for name, member in shape.members.items()
        )
        return serialize_structure
    if type_name == "list":
        item_serializer = _compile_serializer(shape.member, memo)
        if item_serializer is _identity:
            return list
        return lambda value: [item_serializer(item) for item in value]
    value_serializer = _compile_serializer(shape.value, memo)
    return lambda value: {key: value_serializer(item) for key, item in value.items()}


UNBOUNDED_STRING_BYTES = 64 * 1024
UNBOUNDED_COLLECTION_BYTES = 1024 * 1024
MIN_BODY_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024


def max_request_bytes(shape: Shape | None) -> int:
    """The longest JSON body a request of ``shape`` can need: each member at its model
    limits, strings as if every character were escaped (``\\uXXXX``), blobs as base64,
    strings without a limit at 64 KiB and lists without one at 1 MiB; never more than
    32 MiB.  The server refuses a longer body before reading it."""
    if shape is None:
        return MIN_BODY_BYTES
    return min(MAX_BODY_BYTES, max(MIN_BODY_BYTES, _max_bytes(shape, set())))


def _max_bytes(shape: Shape, seen: set[str]) -> int:
    meta = shape.metadata
    type_name = shape.type_name
    if type_name == "string":
        return 6 * meta["max"] + 2 if "max" in meta else UNBOUNDED_STRING_BYTES
    if type_name == "blob":
        return -(-meta["max"] // 3) * 4 + 2 if "max" in meta else UNBOUNDED_COLLECTION_BYTES
    if shape.name in seen:  # a recursive shape: bounded only by the generic allowance
        return UNBOUNDED_COLLECTION_BYTES
    seen = seen | {shape.name}
    if type_name == "structure":
        return 2 + sum(
            len(name) + 4 + _max_bytes(member, seen) for name, member in shape.members.items()
        )
    if type_name == "list":
        if "max" not in meta:
            return UNBOUNDED_COLLECTION_BYTES
        return 2 + meta["max"] * (_max_bytes(shape.member, seen) + 1)
    if type_name == "map":
        if "max" not in meta:
            return UNBOUNDED_COLLECTION_BYTES
        entry = _max_bytes(shape.key, seen) + _max_bytes(shape.value, seen) + 2
        return 2 + meta["max"] * entry
    return 32  # numbers, booleans, timestamps
