"""botocore's installed service models: the source of truth for shapes and limits.

A leaf module, so the wire layer (``protocol``) and the core can both read
the model (a limit two planes share comes from one place) without the core
depending on the wire.
"""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import ServiceModel


@cache
def service_model(service: str) -> ServiceModel:
    """The installed botocore model for ``ecr`` or ``ecr-public`` (loaded once)."""
    return botocore.session.get_session().get_service_model(service)


def member_limit(operation: str, member: str, bound: str = "max", service: str = "ecr") -> int:
    """A limit of the model on ``operation``'s input ``member`` (its ``min`` or ``max``), so
    a rule the service shares with another plane is read from one place."""
    shape = service_model(service).operation_model(operation).input_shape.members[member]
    return int(shape.metadata[bound])
