"""Replication on the awsJson wire: PutReplicationConfiguration and
DescribeImageReplicationStatus (``core.replication``; DescribeRegistry shows the rules)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, replication
from . import operation
from .images import answered_id


@operation("PutReplicationConfiguration")
def put_replication_configuration(
    caller: Caller, *, replication_configuration: dict[str, Any]
) -> dict[str, Any]:
    return {
        "replicationConfiguration": replication.put_configuration(caller, replication_configuration)
    }


@operation("DescribeImageReplicationStatus")
def describe_image_replication_status(
    caller: Caller,
    *,
    repository_name: str,
    image_id: dict[str, str],
    registry_id: str | None = None,
) -> dict[str, Any]:
    image, statuses = replication.statuses(caller, registry_id, repository_name, image_id)
    return {
        "repositoryName": repository_name,
        "imageId": answered_id(image, image_id),
        "replicationStatuses": statuses,
    }
