"""Resource tags on the awsJson wire: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from typing import Any

from ..core import Caller, resource_tags
from . import operation


@operation("TagResource")
def tag_resource(
    caller: Caller, *, resource_arn: str, tags: list[dict[str, str]]
) -> dict[str, Any]:
    resource_tags.tag(caller, resource_arn, tags)
    return {}


@operation("UntagResource")
def untag_resource(caller: Caller, *, resource_arn: str, tag_keys: list[str]) -> dict[str, Any]:
    resource_tags.untag(caller, resource_arn, tag_keys)
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(caller: Caller, *, resource_arn: str) -> dict[str, Any]:
    tags = resource_tags.list_tags(caller, resource_arn)
    return {"tags": [{"Key": key, "Value": value} for key, value in tags.items()]}
