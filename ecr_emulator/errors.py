"""AWS-shaped errors raised by operations and turned into wire errors by the dispatcher.

An operation raises ``ServiceError(code, message)``; the dispatcher writes it as
``{"__type": code, "message": message}`` with the error's HTTP status.  The
helpers below carry ECR's own wording so every module says the same thing the
same way.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error the client should see, with the code botocore will raise as ClientError."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        fields: dict[str, object] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields or {}  # extra members some error shapes carry
        self.detail = detail  # more than ECR says, for the registry's error detail

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r}, {self.status})"


def invalid_parameter(parameter: str, constraint: str, detail: str | None = None) -> ServiceError:
    """ECR's wording for a parameter that breaks a rule of the service."""
    return ServiceError(
        "InvalidParameterException",
        f"Invalid parameter at '{parameter}' failed to satisfy constraint: '{constraint}'",
        detail=detail,
    )


def repository_not_found(name: str, registry_id: str) -> ServiceError:
    return ServiceError(
        "RepositoryNotFoundException",
        f"The repository with name '{name}' does not exist in the registry with id '{registry_id}'",
    )


def image_not_found(image_id: str, name: str, registry_id: str) -> ServiceError:
    return ServiceError(
        "ImageNotFoundException",
        f"The image with imageId {image_id} does not exist within the repository with name "
        f"'{name}' in the registry with id '{registry_id}'",
    )


def not_implemented(operation: str) -> ServiceError:
    """For operations of the model that the emulator does not build yet (never a fake success)."""
    return ServiceError(
        "NotImplementedException",
        f"The operation {operation} is not implemented by ecr-emulator yet.",
        status=501,
    )
