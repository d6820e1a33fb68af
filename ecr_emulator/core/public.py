"""ECR Public: each account's one public registry, its alias and catalog data.

A public registry is a ``Registry`` like a private one, kept under the account and
``PUBLIC_REGION`` (ECR Public has no regions), so repositories, images, layers,
policies and tags are the private core's own, on the same blob store and with the
same manifest rules.  What is ECR Public's alone lives here: the API answers in
us-east-1 only; the registry has an alias (``public.ecr.aws/<alias>/<repository>``)
and catalog data, and so does each repository; and anyone may pull
(``access``: reads of a public repository need no grant).
"""

from __future__ import annotations

import base64
import dataclasses
import re
from typing import Any

from ..arns import PUBLIC_REGION, default_public_alias, public_registry_arn
from ..errors import ServiceError, invalid_parameter
from ..pagination import paginate_list
from ..service_models import service_model
from ..state import Backend, Image, Registry, Repository
from . import access, repositories
from .caller import Caller

API_REGION = "us-east-1"
_DEFAULT_FORM = re.compile(r"e[0-9a-f]{7}")  # what ``default_public_alias`` makes
ALIAS_PATTERN_HINT = "[a-z][a-z0-9]+(?:[._-][a-z0-9]+)*, 2 to 50 characters"
# the members of RepositoryCatalogDataInput that are kept as given
CATALOG_TEXT = ("description", "aboutText", "usageText", "architectures", "operatingSystems")


def caller_for(caller: Caller, operation: str) -> Caller:
    """The caller of an ECR Public operation, acting on its account's public registry.
    As on AWS, the API answers only in us-east-1 (elsewhere:
    "GetAuthorizationToken command is only supported in us-east-1.", quoted in
    codeship-library/aws-utilities#117)."""
    if caller.region != API_REGION:
        raise ServiceError(
            "UnsupportedCommandException",
            f"{operation} command is only supported in {API_REGION}.",
        )
    return dataclasses.replace(caller, region=PUBLIC_REGION)


def describe_registry(caller: Caller) -> dict[str, Any]:
    """The model's ``Registry``: every account has one public registry, so this reads it
    without making it (never written to: the default alias)."""
    with caller.backend.lock:
        registry = caller.backend.find_registry(caller.account, PUBLIC_REGION)
        chosen = registry.alias if registry is not None else None
    alias = chosen or default_public_alias(caller.account)
    return {
        "registryId": caller.account,
        "registryArn": public_registry_arn(caller.account),
        "registryUri": f"{caller.backend.public_host}/{alias}",
        "verified": False,
        "aliases": [
            {
                "name": alias,
                "status": "ACTIVE",
                "primaryRegistryAlias": True,
                "defaultRegistryAlias": chosen is None,
            }
        ],
    }


def registry_catalog_data(caller: Caller) -> dict[str, Any]:
    with caller.backend.lock:
        registry = caller.backend.find_registry(caller.account, PUBLIC_REGION)
        return dict(registry.catalog_data or {}) if registry is not None else {}


def put_registry_catalog_data(caller: Caller, display_name: str | None) -> dict[str, Any]:
    with caller.backend.transaction():
        registry = caller.backend.ensure_registry(caller.account, PUBLIC_REGION)
        data = dict(registry.catalog_data or {})
        if display_name is not None:
            data["displayName"] = display_name
        registry.catalog_data = data
        return dict(data)


def set_alias(backend: Backend, account: str, alias: str) -> str:
    """The admin route and ``serve --public-alias``: AWS assigns aliases (a custom one is
    asked for in the console), so the emulator lets its operator choose one; the
    model's RegistryAliasName rules it, and no two registries share one."""
    shape = service_model("ecr-public").shape_for("RegistryAliasName")
    if not (
        shape.metadata["min"] <= len(alias) <= shape.metadata["max"]
        and re.fullmatch(shape.metadata["pattern"], alias)
    ):
        raise invalid_parameter("alias", f"An alias must match {ALIAS_PATTERN_HINT}")
    if alias != default_public_alias(account) and _DEFAULT_FORM.fullmatch(alias):
        # an account's default alias is its own even before its registry exists
        raise invalid_parameter("alias", f"The alias '{alias}' is reserved for a default alias")
    with backend.transaction():
        taken = registry_for_alias(backend, alias)
        if taken is not None and taken.account_id != account:
            raise invalid_parameter("alias", f"The alias '{alias}' is taken")
        registry = backend.ensure_registry(account, PUBLIC_REGION)
        registry.alias = alias
        return alias


def registry_for_alias(backend: Backend, alias: str) -> Registry | None:
    """The public registry whose alias is ``alias`` (lock held)."""
    for registry in backend.registries.values():
        if registry.public and registry.public_alias == alias:
            return registry
    return None


# --- repository catalog data -------------------------------------------------------------------


def catalog_input(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """What is kept of a ``RepositoryCatalogDataInput`` (its limits are the model's, checked
    by the dispatcher): the texts and lists as given, the logo as base64 with its type."""
    if data is None:
        return None
    kept = {key: data[key] for key in CATALOG_TEXT if data.get(key) is not None}
    logo = data.get("logoImageBlob")
    if logo is not None:
        try:
            raw = logo if isinstance(logo, bytes) else base64.b64decode(logo, validate=True)
        except ValueError:  # binascii.Error: the awsJson blob is not base64
            raise ServiceError(
                "SerializationException", "logoImageBlob is not valid base64"
            ) from None
        kept["logo"] = base64.b64encode(raw).decode("ascii")
    return kept


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return "application/octet-stream"


def catalog_output(repository: Repository, host: str, scheme: str) -> dict[str, Any]:
    """The model's ``RepositoryCatalogData`` of a repository."""
    data = repository.catalog_data or {}
    out = {key: data[key] for key in CATALOG_TEXT if key in data}
    if data.get("logo"):
        out["logoUrl"] = (
            f"{scheme}://{host}{LOGO_PATH}{repository.registry.account_id}/{repository.name}"
        )
    out["marketplaceCertified"] = False
    return out


LOGO_PATH = "/_emulator/public-logos/"


def repository_catalog_data(caller: Caller, registry_id: str | None, name: str) -> Repository:
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:GetRepositoryCatalogData")
        if repository.catalog_data is None:
            raise ServiceError(
                "RepositoryCatalogDataNotFoundException",
                f"The repository catalog data for repository '{name}' in the registry with id "
                f"'{repository.registry.account_id}' does not exist",
            )
        return repository


def put_repository_catalog_data(
    caller: Caller, registry_id: str | None, name: str, data: dict[str, Any]
) -> Repository:
    kept = catalog_input(data)
    with caller.backend.transaction():
        repository = access.repository(caller, registry_id, name, "ecr:PutRepositoryCatalogData")
        repository.catalog_data = {**(repository.catalog_data or {}), **(kept or {})}
        return repository


def create_repository(
    caller: Caller, name: str, catalog: dict[str, Any] | None, tags: list[dict[str, str]] | None
) -> Repository:
    """CreateRepository: the private core's, with its catalog data set in the same change
    (``ecr-public:CreateRepository`` is all it needs)."""
    kept = catalog_input(catalog) or {}
    with caller.backend.transaction():
        repository = repositories.create(caller, None, name, resource_tags=tags)
        repository.catalog_data = kept
        return repository


def logo(backend: Backend, account: str, name: str) -> tuple[bytes, str] | None:
    """A repository's logo for its ``logoUrl`` (anyone may fetch it, as the gallery shows it)."""
    with backend.lock:
        registry = backend.find_registry(account, PUBLIC_REGION)
        repository = registry.repositories.get(name) if registry is not None else None
        data = repository.catalog_data if repository is not None else None
        if not data or not data.get("logo"):
            return None
        raw = base64.b64decode(data["logo"])
        return raw, _image_type(raw)


# --- image tags ----------------------------------------------------------------------------------


def image_tags(
    caller: Caller,
    registry_id: str | None,
    name: str,
    next_token: str | None,
    max_results: int | None,
) -> tuple[list[tuple[str, Image]], str | None]:
    """DescribeImageTags: each tag of the repository and the image it names, by tag."""
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:DescribeImageTags")
        tagged = sorted(repository.tag_index.items())
        entries = [(tag, repository.images[digest]) for tag, digest in tagged]
        scope = f"public-tags:{repository.registry.account_id}:{name}"
    return paginate_list(caller.backend, entries, next_token, max_results, scope=scope)
