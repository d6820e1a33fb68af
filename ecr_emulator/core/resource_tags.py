"""Resource tags on repositories, addressed by ARN: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

import re

from ..arns import parse_repository_arn
from ..errors import ServiceError, invalid_parameter
from ..events import ResourceTagsChanged
from ..state import Repository
from . import access
from .caller import Caller

MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_ALLOWED = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)


def _invalid_tag(message: str) -> ServiceError:
    return ServiceError("InvalidTagParameterException", message)


def check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise _invalid_tag(f"Tag key '{key}' must be between 1 and {MAX_KEY_LENGTH} characters")
    if key.lower().startswith("aws:"):
        raise _invalid_tag(f"Tag key '{key}' uses the reserved prefix 'aws:'")
    if not _ALLOWED.fullmatch(key):
        raise _invalid_tag(f"Tag key '{key}' contains characters that are not allowed")


def merged_tags(existing: dict[str, str], tags: list[dict[str, str]]) -> dict[str, str]:
    """``existing`` with ``tags`` applied, or an error before anything changes."""
    seen: set[str] = set()
    merged = dict(existing)
    for tag in tags:
        key, value = tag["Key"], tag["Value"]
        check_key(key)
        if len(value) > MAX_VALUE_LENGTH:
            raise _invalid_tag(
                f"Tag value for key '{key}' must be at most {MAX_VALUE_LENGTH} characters"
            )
        if not _ALLOWED.fullmatch(value):
            raise _invalid_tag(
                f"Tag value for key '{key}' contains characters that are not allowed"
            )
        if key in seen:
            raise _invalid_tag(f"Tag key '{key}' appears more than once")
        seen.add(key)
        merged[key] = value
    if len(merged) > MAX_TAGS:
        raise ServiceError(
            "TooManyTagsException",
            f"A repository can have at most {MAX_TAGS} tags; this request would leave {len(merged)}",
        )
    return merged


def _repository(caller: Caller, arn: str, action: str) -> Repository:
    """The repository an ARN names, through the access check (lock held)."""
    parts = parse_repository_arn(arn)
    if parts is None:
        raise invalid_parameter("resourceArn", "Invalid ARN")
    if parts.region != caller.region:
        raise invalid_parameter("resourceArn", f"ARN region must be {caller.region}")
    return access.repository(caller, parts.account, parts.name, action)


def tag(caller: Caller, arn: str, tags: list[dict[str, str]]) -> None:
    with caller.backend.transaction() as events:
        repository = _repository(caller, arn, "ecr:TagResource")
        repository.resource_tags = merged_tags(repository.resource_tags, tags)
        events.append(ResourceTagsChanged(*repository.scope))


def untag(caller: Caller, arn: str, keys: list[str]) -> None:
    for key in keys:
        check_key(key)
    with caller.backend.transaction() as events:
        repository = _repository(caller, arn, "ecr:UntagResource")
        repository.resource_tags = {
            k: v for k, v in repository.resource_tags.items() if k not in set(keys)
        }
        events.append(ResourceTagsChanged(*repository.scope))


def list_tags(caller: Caller, arn: str) -> dict[str, str]:
    with caller.backend.lock:
        return dict(_repository(caller, arn, "ecr:ListTagsForResource").resource_tags)
