"""ECR operations, one module per feature, each a plain function of keyword arguments.

``@operation("CreateRepository")`` registers a function under its model name;
the dispatcher finds it there, validates the request against the model and
calls it with the members as snake_case keyword arguments.  Functions return
a dict shaped like the model's output and raise ``ServiceError`` for errors.
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
    images,
    layers,
    policies,
    registry_settings,
    repositories,
    tagging,
)

__all__ = [
    "OPERATIONS",
    "authorization",
    "images",
    "layers",
    "operation",
    "policies",
    "registry_settings",
    "repositories",
    "tagging",
]
