"""ECR Public on the awsJson wire (``SpencerFrontendService``): its 23 operations.

Most are private ECR's own functions run on the caller's public registry
(``core.public.caller_for``); their answers are serialized with ECR Public's
output shapes, which keep only the members ECR Public has (no ``proxyEndpoint``,
no scan status).  What ECR Public alone has, registries and catalog data and
DescribeImageTags, is here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core import Caller, authorization, public
from ..state import PUBLIC_HOST, Repository
from . import images, layers, operation, policies, repositories, tagging
from .images import image_detail

# ECR Public operations that are private ECR's with the same members
_SAME_AS_PRIVATE: dict[str, Callable[..., dict[str, Any]]] = {
    "BatchCheckLayerAvailability": layers.batch_check_layer_availability,
    "BatchDeleteImage": images.batch_delete_image,
    "CompleteLayerUpload": layers.complete_layer_upload,
    "DeleteRepository": repositories.delete_repository,
    "DeleteRepositoryPolicy": policies.delete_repository_policy,
    "DescribeImages": images.describe_images,
    "DescribeRepositories": repositories.describe_repositories,
    "GetRepositoryPolicy": policies.get_repository_policy,
    "InitiateLayerUpload": layers.initiate_layer_upload,
    "ListTagsForResource": tagging.list_tags_for_resource,
    "PutImage": images.put_image,
    "SetRepositoryPolicy": policies.set_repository_policy,
    "TagResource": tagging.tag_resource,
    "UntagResource": tagging.untag_resource,
    "UploadLayerPart": layers.upload_layer_part,
}


def _on_public_registry(name: str, private: Callable[..., dict[str, Any]]) -> None:
    @operation(name, service="ecr-public")
    def run(caller: Caller, **members: Any) -> dict[str, Any]:
        return private(public.caller_for(caller, name), **members)

    run.__name__ = f"public_{private.__name__}"


for _name, _private in _SAME_AS_PRIVATE.items():
    _on_public_registry(_name, _private)


def _catalog(caller: Caller, repository: Repository) -> dict[str, Any]:
    scheme = caller.backend.url_scheme
    host = caller.host or caller.backend.registry_host or PUBLIC_HOST  # in-process: mocked
    return public.catalog_output(repository, host, scheme)


@operation("CreateRepository", service="ecr-public")
def create_repository(
    caller: Caller,
    *,
    repository_name: str,
    catalog_data: dict[str, Any] | None = None,
    tags: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    caller = public.caller_for(caller, "CreateRepository")
    repository = public.create_repository(caller, repository_name, catalog_data, tags)
    return {
        "repository": repositories.describe_repository(repository),
        "catalogData": _catalog(caller, repository),
    }


@operation("GetAuthorizationToken", service="ecr-public")
def get_authorization_token(caller: Caller) -> dict[str, Any]:
    """A password for the caller's public registry: it pushes there, and ``docker login``
    to a public registry needs one (pulls need none)."""
    caller = public.caller_for(caller, "GetAuthorizationToken")
    (data,) = authorization.authorization_data(caller, None)
    return {"authorizationData": {"authorizationToken": data.token, "expiresAt": data.expires_at}}


@operation("DescribeRegistries", service="ecr-public")
def describe_registries(
    caller: Caller, *, next_token: str | None = None, max_results: int | None = None
) -> dict[str, Any]:
    """An account has one public registry."""
    caller = public.caller_for(caller, "DescribeRegistries")
    return {"registries": [public.describe_registry(caller)]}


@operation("GetRegistryCatalogData", service="ecr-public")
def get_registry_catalog_data(caller: Caller) -> dict[str, Any]:
    caller = public.caller_for(caller, "GetRegistryCatalogData")
    return {"registryCatalogData": public.registry_catalog_data(caller)}


@operation("PutRegistryCatalogData", service="ecr-public")
def put_registry_catalog_data(caller: Caller, *, display_name: str | None = None) -> dict[str, Any]:
    caller = public.caller_for(caller, "PutRegistryCatalogData")
    return {"registryCatalogData": public.put_registry_catalog_data(caller, display_name)}


@operation("GetRepositoryCatalogData", service="ecr-public")
def get_repository_catalog_data(
    caller: Caller, *, repository_name: str, registry_id: str | None = None
) -> dict[str, Any]:
    caller = public.caller_for(caller, "GetRepositoryCatalogData")
    repository = public.repository_catalog_data(caller, registry_id, repository_name)
    return {"catalogData": _catalog(caller, repository)}


@operation("PutRepositoryCatalogData", service="ecr-public")
def put_repository_catalog_data(
    caller: Caller,
    *,
    repository_name: str,
    catalog_data: dict[str, Any],
    registry_id: str | None = None,
) -> dict[str, Any]:
    caller = public.caller_for(caller, "PutRepositoryCatalogData")
    repository = public.put_repository_catalog_data(
        caller, registry_id, repository_name, catalog_data
    )
    return {"catalogData": _catalog(caller, repository)}


@operation("DescribeImageTags", service="ecr-public")
def describe_image_tags(
    caller: Caller,
    *,
    repository_name: str,
    registry_id: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> dict[str, Any]:
    caller = public.caller_for(caller, "DescribeImageTags")
    found, token = public.image_tags(caller, registry_id, repository_name, next_token, max_results)
    now = caller.backend.now()
    details = []
    for tag, image in found:
        assert image.repository is not None
        details.append(
            {
                "imageTag": tag,
                "createdAt": image.pushed_at,
                "imageDetail": image_detail(image.repository, image, now),
            }
        )
    return {"imageTagDetails": details, "nextToken": token}
