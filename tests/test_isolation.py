"""Accounts (from the access key id) and regions (from SigV4's scope) are fully isolated."""

from __future__ import annotations

import itertools

import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest
from registry_client import manifest_digest

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
CELLS = list(itertools.product(ACCOUNTS, REGIONS))
NAME = "shared/app"


def expected_uri(ecr_target, account: str, region: str, name: str) -> str:
    if ecr_target is None:
        return f"{account}.dkr.ecr.{region}.amazonaws.com/{name}"
    return f"{ecr_target.removeprefix('http://')}/{name}"  # the plugin's server points at itself


@pytest.fixture
def cells(make_client) -> dict[tuple[str, str], object]:
    """One client per (account, region), each with its own ``shared/app`` and image."""
    clients = {}
    for account, region in CELLS:
        client = make_client(region=region, account=account)
        client.create_repository(
            repositoryName=NAME, tags=[{"Key": "cell", "Value": account + region}]
        )
        client.put_image(
            repositoryName=NAME, imageManifest=docker_manifest(account + region), imageTag="v1"
        )
        clients[account, region] = client
    return clients


def test_same_name_in_every_account_and_region(cells, ecr_target):
    for (account, region), client in cells.items():
        (repository,) = client.describe_repositories()["repositories"]
        assert repository["registryId"] == account
        assert repository["repositoryArn"] == f"arn:aws:ecr:{region}:{account}:repository/{NAME}"
        assert repository["repositoryUri"] == expected_uri(ecr_target, account, region, NAME)


def test_images_are_only_visible_in_their_own_cell(cells):
    for (account, region), client in cells.items():
        (detail,) = client.describe_images(repositoryName=NAME)["imageDetails"]
        assert detail["registryId"] == account
        assert detail["imageDigest"] == manifest_digest(docker_manifest(account + region))
        listed = client.list_images(repositoryName=NAME)["imageIds"]
        assert listed == [{"imageDigest": detail["imageDigest"], "imageTag": "v1"}]
        for other_account, other_region in CELLS:
            if (other_account, other_region) == (account, region):
                continue
            other_digest = manifest_digest(docker_manifest(other_account + other_region))
            failures = client.batch_get_image(
                repositoryName=NAME, imageIds=[{"imageDigest": other_digest}]
            )["failures"]
            assert [failure["failureCode"] for failure in failures] == ["ImageNotFound"]


def test_tags_follow_each_cells_arn(cells):
    for (account, region), client in cells.items():
        arn = f"arn:aws:ecr:{region}:{account}:repository/{NAME}"
        assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
            {"Key": "cell", "Value": account + region}
        ]


def test_deleting_in_one_cell_leaves_the_others(cells):
    cells[ACCOUNTS[0], REGIONS[0]].delete_repository(repositoryName=NAME, force=True)
    with pytest.raises(ClientError) as raised:
        cells[ACCOUNTS[0], REGIONS[0]].describe_repositories(repositoryNames=[NAME])
    assert raised.value.response["Error"]["Code"] == "RepositoryNotFoundException"
    assert raised.value.response["Error"]["Message"] == (
        f"The repository with name '{NAME}' does not exist in the registry with id '{ACCOUNTS[0]}'"
    )
    for cell in CELLS[1:]:
        assert len(cells[cell].describe_images(repositoryName=NAME)["imageDetails"]) == 1


def test_a_repository_in_one_cell_is_missing_elsewhere(make_client):
    make_client(region="eu-west-1", account=ACCOUNTS[1]).create_repository(
        repositoryName="only-here"
    )
    for account, region in [*CELLS[:3], ("123456789012", "eu-west-1")]:
        client = make_client(region=region, account=account)
        assert client.describe_repositories()["repositories"] == []
        with pytest.raises(ClientError) as raised:
            client.put_image(
                repositoryName="only-here", imageManifest=docker_manifest(), imageTag="x"
            )
        assert raised.value.response["Error"]["Code"] == "RepositoryNotFoundException"


def test_policies_are_per_account(make_client):
    first, second = (make_client(account=account) for account in ACCOUNTS)
    for client in (first, second):
        client.create_repository(repositoryName="guarded")
    policy = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
        '"Action":"ecr:BatchGetImage"}]}'
    )
    first.set_repository_policy(repositoryName="guarded", policyText=policy)
    assert first.get_repository_policy(repositoryName="guarded")["registryId"] == ACCOUNTS[0]
    with pytest.raises(ClientError) as raised:
        second.get_repository_policy(repositoryName="guarded")
    assert raised.value.response["Error"]["Code"] == "RepositoryPolicyNotFoundException"


@pytest.mark.parametrize(
    "access_key",
    ["testing", "AKIAIOSFODNN7EXAMPLE", "11111111111", "1111111111111", "11111111111a"],
)
def test_keys_that_are_not_twelve_digits_use_the_default_account(
    make_client, ecr_target, access_key
):
    client = make_client(region="eu-west-1", account=access_key)
    repository = client.create_repository(repositoryName="defaulted")["repository"]
    assert repository["registryId"] == "123456789012"
    assert repository["repositoryArn"] == "arn:aws:ecr:eu-west-1:123456789012:repository/defaulted"
    assert repository["repositoryUri"] == expected_uri(
        ecr_target, "123456789012", "eu-west-1", "defaulted"
    )
    # Every non-account key lands in the same default registry.
    same = make_client(region="eu-west-1", account="another-key")
    assert [r["repositoryName"] for r in same.describe_repositories()["repositories"]] == [
        "defaulted"
    ]
    assert same.describe_registry()["registryId"] == "123456789012"


def test_describe_registry_per_account(make_client):
    for account, region in CELLS:
        assert (
            make_client(region=region, account=account).describe_registry()["registryId"] == account
        )
