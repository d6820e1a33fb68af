"""awsJson1.1 in, awsJson1.1 out: one dispatcher for both ECR services' models (``ecr`` and
``ecr-public``; an operation not built yet answers NotImplementedException).

The request's ``X-Amz-Target`` names the service and operation; the body is
validated against the model's input shape, the members are passed as keyword
arguments (snake_case) to the operation's plain function, and the returned
dict is serialized with the output shape.  Errors become ``{"__type",
"message"}`` bodies.  The in-process mock and the HTTP server both call
``ApiDispatcher.handle``, so they cannot drift apart.  The dispatcher takes
no lock: the core takes it, for as short as each change needs.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore import xform_name

from ..arns import PUBLIC_REGION, repository_arn
from ..core import Caller, access
from ..errors import ServiceError, not_implemented
from ..identity import caller_identity
from ..operations import OPERATIONS
from ..service_models import service_model
from .model import (
    Serializer,
    Validator,
    compile_serializer,
    compile_validator,
    max_request_bytes,
    raise_for_violations,
)

if TYPE_CHECKING:
    from ..state import Backend

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
SERVICES = ("ecr", "ecr-public")


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class BoundOperation:
    """An operation of the model joined to the function that implements it."""

    service: str
    name: str
    validate: Validator
    serialize: Serializer
    function: Callable[..., dict[str, Any]]
    argument_names: dict[str, str]
    max_body_bytes: int  # the longest body a request can need: a longer one is refused unread
    registry_level: bool  # names no repository (GetAuthorizationToken, DescribeRegistry...)


def _bind(service: str, name: str) -> BoundOperation | None:
    function = OPERATIONS[service].get(name)
    if function is None:
        return None
    operation_model = service_model(service).operation_model(name)
    input_shape, output_shape = operation_model.input_shape, operation_model.output_shape
    return BoundOperation(
        service=service,
        name=name,
        validate=compile_validator(input_shape) if input_shape else lambda *_: None,
        serialize=compile_serializer(output_shape) if output_shape else lambda _: {},
        function=function,
        argument_names={
            member: xform_name(member) for member in (input_shape.members if input_shape else {})
        },
        max_body_bytes=max_request_bytes(input_shape),
        registry_level=not _REPOSITORY_MEMBERS & set(input_shape.members if input_shape else ()),
    )


# the members by which an operation names its repository: the core's access check judges it
_REPOSITORY_MEMBERS = {"repositoryName", "resourceArn"}


class ApiDispatcher:
    """Turns one awsJson1.1 request into one response, for both ECR services."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._services_by_prefix = {
            service_model(service).metadata["targetPrefix"]: service for service in SERVICES
        }
        self._bound: dict[tuple[str, str], BoundOperation | None] = {}

    def handle(
        self,
        headers: Mapping[str, str],
        body: bytes,
        operation: BoundOperation | None = None,
        source_ip: str | None = None,
    ) -> ApiResponse:
        """The answer to one request; ``operation`` when the caller already looked it up
        (the server does, to bound the body before reading it); ``source_ip`` the client's
        address when a server received it."""
        try:
            if operation is None:
                operation = self.operation_for(headers)
            if len(body) > operation.max_body_bytes:
                raise request_too_large(operation.max_body_bytes)
            params = _parse_body(body)
            caller = caller_identity(
                self.backend, headers, operation.service, headers.get("Host"), source_ip
            )
            result = self._call(operation, caller, params)
            payload = json.dumps(operation.serialize(result), separators=(",", ":"))
            return ApiResponse(200, _headers(), payload.encode())
        except ServiceError as error:
            return error_response(error)
        except RecursionError:  # JSON nested deeper than anything the model can hold
            return error_response(
                ServiceError("SerializationException", "The request is nested too deeply.")
            )
        except UnicodeEncodeError:  # a lone surrogate (\ud800) in a string member
            return error_response(
                ServiceError("SerializationException", "The request contains invalid Unicode.")
            )
        except Exception as exc:  # a bug of ours: still answer like AWS, and say so in the log
            log.exception("internal error while handling %s", headers.get("X-Amz-Target"))
            return error_response(ServiceError("ServerException", f"Internal error: {exc!r}", 500))

    def call(self, name: str, caller: Caller, params: dict[str, Any]) -> dict:
        """Run operation ``name`` of ``caller``'s service with API-shaped ``params``, validated
        like a request (fixtures use it); the serialized result."""
        operation = self._operation(caller.service, name)
        return operation.serialize(self._call(operation, caller, params))

    def operation_for(self, headers: Mapping[str, str]) -> BoundOperation:
        """The operation ``X-Amz-Target`` names (UnknownOperation / NotImplemented otherwise)."""
        target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
        if not target:
            raise ServiceError("UnknownOperationException", "Missing the X-Amz-Target header.")
        prefix, _, name = target.rpartition(".")
        service = self._services_by_prefix.get(prefix)
        if service is None or name not in service_model(service).operation_names:
            raise ServiceError("UnknownOperationException", f"Unknown operation {target!r}.")
        return self._operation(service, name)

    def _operation(self, service: str, name: str) -> BoundOperation:
        key = (service, name)
        if key not in self._bound:
            self._bound[key] = _bind(service, name)
        operation = self._bound[key]
        if operation is None:
            raise not_implemented(name)
        return operation

    def _call(self, operation: BoundOperation, caller: Caller, params: dict) -> dict:
        violations: list[Any] = []
        operation.validate(params, "", violations)
        if violations:
            raise_for_violations(violations)
        if caller.backend.enforce_iam and operation.registry_level:
            # identity mode: operations on no one repository are allowed here, on the
            # registry's repositories; the others by the core's access check
            if operation.service == "ecr-public":
                scope = repository_arn(caller.account, PUBLIC_REGION, "*")
            else:
                scope = repository_arn(caller.account, caller.region, "*")
            access.require(caller, f"{operation.service}:{operation.name}", scope)
        names = operation.argument_names
        kwargs = {
            names[key]: value for key, value in params.items() if key in names and value is not None
        }
        return operation.function(caller, **kwargs)


def _parse_body(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body) if body else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError("SerializationException", f"Malformed JSON body: {exc}") from None
    if not isinstance(params, dict):
        raise ServiceError("SerializationException", "The request body must be a JSON object.")
    return params


def request_too_large(limit: int) -> ServiceError:
    """A body longer than the operation's model allows: refused before it is read whole."""
    return ServiceError(
        "RequestEntityTooLargeException",
        f"Request body is larger than the {limit} bytes this operation accepts.",
        413,
    )


def _headers() -> dict[str, str]:
    return {"Content-Type": JSON_CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())}


def error_response(error: ServiceError) -> ApiResponse:
    body = json.dumps({"__type": error.code, "message": error.message, **error.fields})
    headers = _headers()
    headers["x-amzn-ErrorType"] = error.code
    return ApiResponse(error.status, headers, body.encode())
