"""Registry errors in the distribution spec's JSON format: ``{"errors": [{code, message, detail}]}``."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from ..errors import ServiceError

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


class RegistryError(Exception):
    """An error code of the OCI distribution spec with its HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        detail: Any = None,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        response = Response(
            json.dumps({"errors": [error]}), self.status, content_type="application/json"
        )
        response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        pairs = self.headers.items() if isinstance(self.headers, dict) else self.headers
        for name, value in pairs:  # a list may name a header twice (two challenges)
            response.headers.add(name, value)
        return response


def blob_unknown(digest: str) -> RegistryError:
    return RegistryError("BLOB_UNKNOWN", "blob unknown to registry", 404, {"digest": digest})


def upload_unknown(upload_id: str) -> RegistryError:
    return RegistryError(
        "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404, {"uuid": upload_id}
    )


def digest_invalid(message: str, digest: str | None = None) -> RegistryError:
    return RegistryError("DIGEST_INVALID", message, 400, {"digest": digest} if digest else None)


def manifest_unknown(reference: str) -> RegistryError:
    return RegistryError("MANIFEST_UNKNOWN", "manifest unknown", 404, {"reference": reference})


def manifest_invalid(message: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", "manifest invalid", 400, message)


def name_unknown(message: str, name: str) -> RegistryError:
    return RegistryError("NAME_UNKNOWN", message, 404, {"name": name})


# The core speaks ECR's error codes; the registry answers with the distribution spec's.
_FROM_SERVICE = {
    "RepositoryNotFoundException": ("NAME_UNKNOWN", 404),
    "AccessDeniedException": ("DENIED", 403),
    "ImageTagAlreadyExistsException": ("TAG_INVALID", 400),
    "ImageDigestDoesNotMatchException": ("DIGEST_INVALID", 400),
    "LayersNotFoundException": ("MANIFEST_BLOB_UNKNOWN", 400),
    "ReferencedImagesNotFoundException": ("MANIFEST_BLOB_UNKNOWN", 400),
    "InvalidParameterException": ("MANIFEST_INVALID", 400),
    "LimitExceededException": ("TOOMANYREQUESTS", 429),
}


def from_service_error(error: ServiceError) -> RegistryError:
    code, status = _FROM_SERVICE.get(error.code, ("UNKNOWN", error.status))
    return RegistryError(code, error.message, status, error.detail)
