"""Replication on the awsJson wire: PutReplicationConfiguration and
DescribeImageReplicationStatus (``core.replication``; DescribeRegistry shows the rules)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, replication
from ..pagination import paginate_list
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


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "results"}


@operation("StartReplicationBackfill")
def start_replication_backfill(
    caller: Caller, *, destination: dict[str, str], registry_id: str | None = None
) -> dict[str, Any]:
    record = replication.start_backfill(caller, destination)
    return {"registryId": caller.account, **_summary(record)}


@operation("StopReplicationBackfill")
def stop_replication_backfill(
    caller: Caller, *, replication_backfill_id: str, registry_id: str | None = None
) -> dict[str, Any]:
    record = replication.stop_backfill(caller, replication_backfill_id)
    return {"registryId": caller.account, **_summary(record)}


@operation("ListReplicationBackfills")
def list_replication_backfills(
    caller: Caller,
    *,
    registry_id: str | None = None,
    max_results: int | None = None,
    next_token: str | None = None,
) -> dict[str, Any]:
    page, token = paginate_list(
        caller.backend,
        [_summary(record) for record in replication.backfills(caller)],
        next_token,
        max_results,
        scope=f"backfills:{caller.account}:{caller.region}",
        default=50,
    )
    return {"registryId": caller.account, "backfills": page, "nextToken": token}


@operation("DescribeReplicationBackfillResults")
def describe_replication_backfill_results(
    caller: Caller,
    *,
    replication_backfill_id: str,
    registry_id: str | None = None,
    result_status_filter: str | None = None,
    max_results: int | None = None,
    next_token: str | None = None,
) -> dict[str, Any]:
    record = replication.backfill(caller, replication_backfill_id)
    results = [
        result
        for result in record.get("results", [])  # only once it has ended, as AWS says
        if result_status_filter in (None, result["status"])
    ]
    page, token = paginate_list(
        caller.backend,
        results,
        next_token,
        max_results,
        scope=f"backfill:{replication_backfill_id}",
    )
    return {"registryId": caller.account, **_summary(record), "results": page, "nextToken": token}
