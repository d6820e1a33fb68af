"""Resource tags on repositories: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

import re
from typing import Any

from ..errors import ServiceError, invalid_parameter
from ..identity import RequestContext
from ..state import Repository
from . import operation

MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_ALLOWED = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)
_REPOSITORY_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:ecr:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):repository/(?P<name>.+)$"
)


def _invalid_tag(message: str) -> ServiceError:
    return ServiceError("InvalidTagParameterException", message)


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise _invalid_tag(f"Tag key '{key}' must be between 1 and {MAX_KEY_LENGTH} characters")
    if key.lower().startswith("aws:"):
        raise _invalid_tag(f"Tag key '{key}' uses the reserved prefix 'aws:'")
    if not _ALLOWED.fullmatch(key):
        raise _invalid_tag(f"Tag key '{key}' contains characters that are not allowed")


def validate_new_tags(existing: dict[str, str], tags: list[dict[str, str]]) -> dict[str, str]:
    """``existing`` with ``tags`` applied, or an error before anything changes."""
    seen: set[str] = set()
    merged = dict(existing)
    for tag in tags:
        key, value = tag["Key"], tag["Value"]
        _check_key(key)
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


def repository_for_arn(context: RequestContext, arn: str) -> Repository:
    match = _REPOSITORY_ARN.fullmatch(arn)
    if match is None:
        raise invalid_parameter("resourceArn", "Invalid ARN")
    if match["region"] != context.region:
        raise invalid_parameter("resourceArn", f"ARN region must be {context.region}")
    registry = context.backend.registry(match["account"], match["region"])
    return registry.repository(match["name"])


@operation("TagResource")
def tag_resource(
    context: RequestContext, *, resource_arn: str, tags: list[dict[str, str]]
) -> dict[str, Any]:
    repository = repository_for_arn(context, resource_arn)
    repository.resource_tags = validate_new_tags(repository.resource_tags, tags)
    return {}


@operation("UntagResource")
def untag_resource(
    context: RequestContext, *, resource_arn: str, tag_keys: list[str]
) -> dict[str, Any]:
    repository = repository_for_arn(context, resource_arn)
    for key in tag_keys:
        _check_key(key)
    for key in tag_keys:
        repository.resource_tags.pop(key, None)
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(context: RequestContext, *, resource_arn: str) -> dict[str, Any]:
    repository = repository_for_arn(context, resource_arn)
    return {
        "tags": [{"Key": key, "Value": value} for key, value in repository.resource_tags.items()]
    }
