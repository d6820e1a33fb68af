"""Account settings of a private registry (GetAccountSetting / PutAccountSetting), kept per
registry (account and region) and read where they change behaviour.

The names and values are those the API reference gives for ``PutAccountSetting``:
``BASIC_SCAN_TYPE_VERSION`` (``AWS_NATIVE``; ``CLAIR`` is the deprecated former
engine), ``REGISTRY_POLICY_SCOPE`` (``V2``, the default, enforces the registry
policy on every ECR action; ``V1`` only on ``ecr:ReplicateImage``,
``ecr:BatchImportUpstreamImage`` and ``ecr:CreateRepository``: user guide,
"Private registry permissions") and ``BLOB_MOUNTING`` (``ENABLED`` lets a push
mount a layer from another repository of the registry; off until enabled, as
the user guide's "Blob mounting" says: "aws ecr put-account-setting --name
BLOB_MOUNTING --value ENABLED").
"""

from __future__ import annotations

from ..errors import invalid_parameter
from ..state import Registry
from . import access
from .caller import Caller

# name -> (the values it takes, its value until one is put)
SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "BASIC_SCAN_TYPE_VERSION": (("AWS_NATIVE", "CLAIR"), "AWS_NATIVE"),
    "REGISTRY_POLICY_SCOPE": (("V1", "V2"), "V2"),
    "BLOB_MOUNTING": (("ENABLED", "DISABLED"), "DISABLED"),
}
V1_REGISTRY_ACTIONS = frozenset(
    {"ecr:ReplicateImage", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"}
)


def _known(name: str) -> tuple[tuple[str, ...], str]:
    if name not in SETTINGS:
        raise invalid_parameter(
            "name", f"Account setting name must be one of {', '.join(sorted(SETTINGS))}"
        )
    return SETTINGS[name]


def value_of(registry: Registry | None, name: str) -> str:
    """The setting's value in ``registry`` (its default where it was never put)."""
    default = SETTINGS[name][1]
    return default if registry is None else registry.settings.get(name, default)


def get(caller: Caller, name: str) -> str:
    _known(name)
    with caller.backend.lock:
        return value_of(access.own_registry_if_any(caller), name)


def put(caller: Caller, name: str, value: str) -> str:
    allowed, _ = _known(name)
    if value not in allowed:
        raise invalid_parameter(
            "value", f"Account setting value for {name} must be one of {', '.join(allowed)}"
        )
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:PutAccountSetting", "*")
        registry.settings = {**registry.settings, name: value}
        return value


def registry_policy_covers(registry: Registry, action: str) -> bool:
    """Whether ``registry``'s policy takes part in deciding ``action`` (its scope)."""
    if value_of(registry, "REGISTRY_POLICY_SCOPE") == "V2":
        return True
    return action in V1_REGISTRY_ACTIONS
