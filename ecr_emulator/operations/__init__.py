"""The awsJson wire of ECR: one module per feature, each operation a plain function.

``@operation("CreateRepository")`` registers a function under its model name;
the dispatcher finds it there, validates the request against the model and
calls it with the ``Caller`` and the members as snake_case keyword arguments.
Functions are thin: they call ``core`` (which checks access, takes the lock
and changes state), and shape its answer like the model's output; errors are
``ServiceError``s raised by the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., dict[str, Any]])

OPERATIONS: dict[str, dict[str, Callable[..., dict[str, Any]]]] = {"ecr": {}, "ecr-public": {}}


def operation(name: str, service: str = "ecr") -> Callable[[F], F]:
    """Register the decorated function as the implementation of ``service``'s ``name``."""

    def register(function: F) -> F:
        if name in OPERATIONS[service]:
            raise RuntimeError(f"{service} operation {name} registered twice")
        OPERATIONS[service][name] = function
        return function

    return register


# Importing the feature modules registers their operations.
from . import (  # noqa: E402
    authorization,
    creation_templates,
    images,
    layers,
    lifecycle,
    policies,
    public,
    pull_through,
    replication,
    repositories,
    scanning,
    signing,
    tagging,
)

__all__ = [
    "OPERATIONS",
    "authorization",
    "creation_templates",
    "images",
    "layers",
    "lifecycle",
    "operation",
    "policies",
    "public",
    "pull_through",
    "replication",
    "repositories",
    "scanning",
    "signing",
    "tagging",
]
