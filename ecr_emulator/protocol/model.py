"""Compile botocore shapes into fast validators and serializers.

Each input shape becomes one closure that checks types and the model's
constraints (required, min/max, pattern, enum); each output shape becomes a
closure that keeps only the members the shape declares and renders timestamps
and blobs the way awsJson1.1 does.  Compiling once per shape keeps per-call
cost flat, which is what the PutImage benchmark measures.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ServiceModel, Shape

from ..errors import ServiceError, invalid_parameter

Validator = Callable[[Any, str, list[str]], None]
Serializer = Callable[[Any], Any]


@cache
def service_model(service: str) -> ServiceModel:
    """The installed botocore model for ``ecr`` or ``ecr-public`` (loaded once)."""
    return botocore.session.get_session().get_service_model(service)


class SerializationError(ServiceError):
    """A value of the wrong JSON type: what Coral answers before any validation."""

    def __init__(self, message: str) -> None:
        super().__init__("SerializationException", message)


def _describe(value: Any) -> str:
    """A value as JSON spells it (``null``, ``true``), strings without quotes."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


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
    """A function that appends one message per constraint broken by ``value``."""
    return _compile_validator(shape, {})


def _compile_validator(shape: Shape, memo: dict[str, Validator]) -> Validator:
    if shape.name in memo:
        return memo[shape.name]
    checks: list[Validator] = []

    def validate(value: Any, path: str, errors: list[str]) -> None:
        for check in checks:
            check(value, path, errors)

    memo[shape.name] = validate
    type_name = shape.type_name
    json_types = _JSON_TYPES[type_name]
    is_integer = type_name in ("integer", "long")

    def check_type(value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, json_types) or (is_integer and isinstance(value, bool)):
            raise SerializationError(
                f"Value {_describe(value)!s} at '{path}' cannot be read as {type_name}"
            )

    checks.append(check_type)
    meta = shape.metadata
    if type_name in ("string", "list", "map"):
        low, high = meta.get("min"), meta.get("max")
        if low is not None or high is not None:
            checks.append(_length_check(low, high))
    elif type_name == "blob":  # the limits count decoded bytes, not base64 characters
        low, high = meta.get("min"), meta.get("max")
        if low is not None or high is not None:
            checks.append(_blob_length_check(low, high))
    if type_name in ("integer", "long", "double", "float"):
        low, high = meta.get("min"), meta.get("max")
        if low is not None or high is not None:
            checks.append(_range_check(low, high))
    if type_name == "string":
        if meta.get("pattern"):
            checks.append(_pattern_check(meta["pattern"]))
        if shape.enum:
            checks.append(_enum_check(shape.enum))
    if type_name == "structure":
        checks.append(_structure_check(shape, memo))
    elif type_name == "list":
        member_validator = _compile_validator(shape.member, memo)

        def check_items(value: list, path: str, errors: list[str]) -> None:
            for index, item in enumerate(value, 1):
                member_validator(item, f"{path}.{index}.member", errors)

        checks.append(check_items)
    elif type_name == "map":
        key_validator = _compile_validator(shape.key, memo)
        value_validator = _compile_validator(shape.value, memo)

        def check_entries(value: dict, path: str, errors: list[str]) -> None:
            for key, item in value.items():
                key_validator(key, f"{path}.key", errors)
                value_validator(item, f"{path}.{key}", errors)

        checks.append(check_entries)
    return validate


def _structure_check(shape: Shape, memo: dict[str, Validator]) -> Validator:
    members = [(name, _compile_validator(member, memo)) for name, member in shape.members.items()]
    required = list(shape.required_members)

    def check_members(value: dict, path: str, errors: list[str]) -> None:
        for name in required:
            if value.get(name) is None:
                errors.append(
                    f"Value null at '{_at(path, name)}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for name, member_validator in members:
            item = value.get(name)
            if item is not None:
                member_validator(item, _at(path, name), errors)

    return check_members


def _length_check(low: int | None, high: int | None) -> Validator:
    def check(value: Any, path: str, errors: list[str]) -> None:
        size = len(value)
        if low is not None and size < low:
            errors.append(
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {low}"
            )
        elif high is not None and size > high:
            shown = "..." if size > 256 else _describe(value)
            errors.append(
                f"Value '{shown}' at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {high}"
            )

    return check


def _blob_length_check(low: int | None, high: int | None) -> Validator:
    length_check = _length_check(low, high)

    def check(value: str, path: str, errors: list[Any]) -> None:
        padding = len(value) - len(value.rstrip("="))
        decoded_size = len(value) * 3 // 4 - padding  # what base64 text of that length holds
        length_check(_Sized(decoded_size), path, errors)

    return check


class _Sized:
    """A stand-in of a given length, so one length rule serves strings and blobs."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __str__(self) -> str:
        return f"<{self.size} bytes>"


def _range_check(low: float | None, high: float | None) -> Validator:
    def check(value: Any, path: str, errors: list[str]) -> None:
        if low is not None and value < low:
            errors.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low}"
            )
        elif high is not None and value > high:
            errors.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high}"
            )

    return check


def _pattern_check(pattern: str) -> Validator:
    """ECR itself (not Coral) checks patterns, so a mismatch is its InvalidParameterException."""
    matcher = re.compile(pattern).fullmatch

    def check(value: str, path: str, errors: list[Any]) -> None:
        if matcher(value) is None:
            errors.append(invalid_parameter(path, f"must satisfy regular expression '{pattern}'"))

    return check


def _enum_check(allowed: list[str]) -> Validator:
    allowed_set = frozenset(allowed)
    shown = "[" + ", ".join(allowed) + "]"

    def check(value: str, path: str, errors: list[str]) -> None:
        if value not in allowed_set:
            errors.append(
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: {shown}"
            )

    return check


def raise_for_violations(violations: list[Any]) -> None:
    """Coral's ValidationException listing every broken shape constraint; only when the
    shape is otherwise valid does ECR's own pattern check (InvalidParameterException) speak."""
    constraint_messages = [item for item in violations if isinstance(item, str)]
    if constraint_messages:
        count = len(constraint_messages)
        noun = "error" if count == 1 else "errors"
        raise ServiceError(
            "ValidationException",
            f"{count} validation {noun} detected: " + "; ".join(constraint_messages),
        )
    for item in violations:
        raise item


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
