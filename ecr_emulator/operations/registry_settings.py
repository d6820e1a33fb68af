"""Registry-wide settings: DescribeRegistry (replication rules are set by a later feature)."""

from __future__ import annotations

from typing import Any

from ..identity import RequestContext
from . import operation


@operation("DescribeRegistry")
def describe_registry(context: RequestContext) -> dict[str, Any]:
    registry = context.registry()
    return {
        "registryId": registry.account_id,
        "replicationConfiguration": {"rules": [dict(rule) for rule in registry.replication_rules]},
    }
