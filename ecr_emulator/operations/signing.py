"""Managed signing on the awsJson wire: Put/Get/DeleteSigningConfiguration and
DescribeImageSigningStatus (``core.signing``)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, signing
from . import operation
from .images import answered_id


@operation("PutSigningConfiguration")
def put_signing_configuration(
    caller: Caller, *, signing_configuration: dict[str, Any]
) -> dict[str, Any]:
    return {"signingConfiguration": signing.put_configuration(caller, signing_configuration)}


@operation("GetSigningConfiguration")
def get_signing_configuration(caller: Caller) -> dict[str, Any]:
    return {"registryId": caller.account, "signingConfiguration": signing.get_configuration(caller)}


@operation("DeleteSigningConfiguration")
def delete_signing_configuration(caller: Caller) -> dict[str, Any]:
    return {
        "registryId": caller.account,
        "signingConfiguration": signing.delete_configuration(caller),
    }


@operation("DescribeImageSigningStatus")
def describe_image_signing_status(
    caller: Caller,
    *,
    repository_name: str,
    image_id: dict[str, str],
    registry_id: str | None = None,
) -> dict[str, Any]:
    image, statuses = signing.statuses(caller, registry_id, repository_name, image_id)
    return {
        "repositoryName": repository_name,
        "imageId": answered_id(image, image_id),
        "registryId": registry_id or caller.account,
        "signingStatuses": statuses,
    }
