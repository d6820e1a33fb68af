"""Paging DescribeImages and ListImages: every image exactly once, across changes between pages."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest


def _push(ecr, count: int, repository: str = "paged/app", tags_per_image: int = 1) -> list[str]:
    digests = []
    for number in range(count):
        manifest = docker_manifest(f"page-{number}")
        for tag_number in range(tags_per_image):
            image = ecr.put_image(
                repositoryName=repository,
                imageManifest=manifest,
                imageTag=f"v{number}-{tag_number}",
            )["image"]
        digests.append(image["imageId"]["imageDigest"])
    return digests


def _pages(call, **params) -> list[dict]:
    pages, token = [], None
    while True:
        page = call(**params, **({"nextToken": token} if token else {}))
        pages.append(page)
        token = page.get("nextToken")
        if not token:
            return pages


def test_describe_images_pages_in_push_order(ecr):
    ecr.create_repository(repositoryName="paged/app")
    digests = _push(ecr, 25)
    pages = _pages(ecr.describe_images, repositoryName="paged/app", maxResults=10)
    assert [len(page["imageDetails"]) for page in pages] == [10, 10, 5]
    assert [d["imageDigest"] for page in pages for d in page["imageDetails"]] == digests


def test_exact_multiple_has_no_empty_last_page(ecr):
    ecr.create_repository(repositoryName="paged/app")
    _push(ecr, 20)
    pages = _pages(ecr.describe_images, repositoryName="paged/app", maxResults=10)
    assert [len(page["imageDetails"]) for page in pages] == [10, 10]


def test_list_images_splits_an_image_with_many_tags_across_pages(ecr):
    ecr.create_repository(repositoryName="paged/app")
    _push(ecr, 4, tags_per_image=3)
    pages = _pages(ecr.list_images, repositoryName="paged/app", maxResults=5)
    assert [len(page["imageIds"]) for page in pages] == [5, 5, 2]
    tags = [image_id["imageTag"] for page in pages for image_id in page["imageIds"]]
    assert sorted(tags) == sorted(f"v{n}-{t}" for n in range(4) for t in range(3))


def test_filters_apply_while_paging(ecr):
    ecr.create_repository(repositoryName="paged/app")
    digests = _push(ecr, 12)
    for number in range(0, 12, 2):  # move each even image's tag onto the next image
        ecr.put_image(
            repositoryName="paged/app",
            imageManifest=docker_manifest(f"page-{number + 1}"),
            imageTag=f"v{number}-0",
        )
    untagged = _pages(
        ecr.describe_images,
        repositoryName="paged/app",
        maxResults=1,
        filter={"tagStatus": "UNTAGGED"},
    )
    assert [d["imageDigest"] for page in untagged for d in page["imageDetails"]] == digests[::2]
    tagged = _pages(
        ecr.list_images, repositoryName="paged/app", maxResults=4, filter={"tagStatus": "TAGGED"}
    )
    assert sum(len(page["imageIds"]) for page in tagged) == 12
    archived = ecr.list_images(repositoryName="paged/app", filter={"imageStatus": "ARCHIVED"})
    assert archived["imageIds"] == []


def test_deletions_between_pages_neither_skip_nor_repeat_survivors(ecr):
    ecr.create_repository(repositoryName="paged/app")
    digests = _push(ecr, 150)
    first = ecr.describe_images(repositoryName="paged/app", maxResults=20)
    seen = [d["imageDigest"] for d in first["imageDetails"]]
    # delete most images (enough to compact the listing), including the next page's first one
    doomed = digests[20:140]
    for start in range(0, len(doomed), 100):
        ecr.batch_delete_image(
            repositoryName="paged/app",
            imageIds=[{"imageDigest": d} for d in doomed[start : start + 100]],
        )
    rest = _pages(
        ecr.describe_images, repositoryName="paged/app", maxResults=20, nextToken=first["nextToken"]
    )
    seen += [d["imageDigest"] for page in rest for d in page["imageDetails"]]
    assert seen == digests[:20] + digests[140:]


def test_a_token_is_bound_to_its_operation_and_repository(ecr):
    ecr.create_repository(repositoryName="paged/app")
    ecr.create_repository(repositoryName="paged/other")
    _push(ecr, 3)
    token = ecr.describe_images(repositoryName="paged/app", maxResults=1)["nextToken"]
    for call, repository in (
        (ecr.list_images, "paged/app"),
        (ecr.describe_images, "paged/other"),
    ):
        with pytest.raises(ClientError) as raised:
            call(repositoryName=repository, nextToken=token)
        assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_describe_repositories_pages_by_stable_positions(ecr):
    names = [f"paged/repo-{number:02d}" for number in range(12)]
    for name in names:
        ecr.create_repository(repositoryName=name)
    first = ecr.describe_repositories(maxResults=5)
    listed = [r["repositoryName"] for r in first["repositories"]]
    assert listed == names[:5]
    # Deleting what the first page showed, and one the next page starts at, skips nothing.
    for name in (names[0], names[3], names[5]):
        ecr.delete_repository(repositoryName=name)
    ecr.create_repository(repositoryName="paged/late")
    token = first["nextToken"]
    while token:
        page = ecr.describe_repositories(maxResults=5, nextToken=token)
        listed += [r["repositoryName"] for r in page["repositories"]]
        token = page.get("nextToken")
    assert listed == [*names[:5], *names[6:], "paged/late"]


def test_describe_repositories_paginator_sees_every_repository(ecr):
    names = {f"paged/all-{number:03d}" for number in range(130)}
    for name in names:
        ecr.create_repository(repositoryName=name)
    seen = [
        repository["repositoryName"]
        for page in ecr.get_paginator("describe_repositories").paginate(
            PaginationConfig={"PageSize": 50}
        )
        for repository in page["repositories"]
    ]
    assert sorted(seen) == sorted(names)
