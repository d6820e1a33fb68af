"""Image scanning on the awsJson wire: StartImageScan, DescribeImageScanFindings,
Put/GetRegistryScanningConfiguration, BatchGetRepositoryScanningConfiguration
(``core.scanning``)."""

from __future__ import annotations

from typing import Any

from ..core import Caller, scanning
from ..pagination import paginate_list
from . import operation
from .images import answered_id


@operation("StartImageScan")
def start_image_scan(
    caller: Caller,
    *,
    repository_name: str,
    image_id: dict[str, str],
    registry_id: str | None = None,
) -> dict[str, Any]:
    repository, image, status = scanning.start_scan(caller, registry_id, repository_name, image_id)
    return {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "imageId": answered_id(image, image_id),
        "imageScanStatus": status,
    }


@operation("DescribeImageScanFindings")
def describe_image_scan_findings(
    caller: Caller,
    *,
    repository_name: str,
    image_id: dict[str, str],
    registry_id: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> dict[str, Any]:
    repository, image, scan = scanning.findings(caller, registry_id, repository_name, image_id)
    status, summary = scanning.summary(image)
    answer: dict[str, Any] = {
        "registryId": repository.registry.account_id,
        "repositoryName": repository.name,
        "imageId": answered_id(image, image_id),
        "imageScanStatus": status,
    }
    if summary is not None:
        page, token = paginate_list(
            caller.backend,
            scan.get("findings") or [],
            next_token,
            max_results,
            scope=f"scan-findings:{repository.arn}:{image.digest}:{scan['started_at'].isoformat()}",
        )
        found: dict[str, Any] = dict(summary)
        if scan.get("type") == "ENHANCED":
            found["enhancedFindings"] = [
                scanning.enhanced_finding(f, repository, image, scan) for f in page
            ]
        else:
            found["findings"] = [scanning.basic_finding(f) for f in page]
        answer["imageScanFindings"] = found
        answer["nextToken"] = token
    return answer


@operation("PutRegistryScanningConfiguration")
def put_registry_scanning_configuration(
    caller: Caller, *, scan_type: str | None = None, rules: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    configuration = scanning.put_registry_configuration(caller, scan_type, rules)
    return {"registryScanningConfiguration": configuration}


@operation("GetRegistryScanningConfiguration")
def get_registry_scanning_configuration(caller: Caller) -> dict[str, Any]:
    return {
        "registryId": caller.account,
        "scanningConfiguration": scanning.get_registry_configuration(caller),
    }


@operation("BatchGetRepositoryScanningConfiguration")
def batch_get_repository_scanning_configuration(
    caller: Caller, *, repository_names: list[str]
) -> dict[str, Any]:
    found, failures = scanning.repository_configurations(caller, repository_names)
    return {"scanningConfigurations": found, "failures": failures}
