"""Repositories through real boto3: create, describe, delete, tag mutability, scanning.

Every test runs in-process and against the live server (the ``ecr`` fixture).
``raw_ecr`` skips botocore's client-side checks so the emulator's own
validation (lengths, enums, list sizes) is what answers.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from conftest import docker_manifest

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "111122223333"
KEY_ARN = re.compile(
    r"^arn:aws:kms:us-east-1:123456789012:key/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def names_in(ecr, **kwargs) -> list[str]:
    return [repo["repositoryName"] for repo in ecr.describe_repositories(**kwargs)["repositories"]]


def assert_no_repository(ecr, name: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_repositories(repositoryNames=[name])
    assert error_of(excinfo)[0] == "RepositoryNotFoundException"


# --- CreateRepository ---------------------------------------------------------------------------


def test_create_repository_returns_aws_shaped_description(ecr, ecr_target):
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    repository = ecr.create_repository(repositoryName="team-a/web-app")["repository"]
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)

    assert repository["repositoryName"] == "team-a/web-app"
    assert repository["registryId"] == ACCOUNT
    assert repository["repositoryArn"] == (
        "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web-app"
    )
    if ecr_target is None:  # in-process URIs are AWS-shaped; the server's point at itself
        assert repository["repositoryUri"] == (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/web-app"
        )
    else:
        host = ecr_target.split("://", 1)[1]
        assert repository["repositoryUri"] == f"{host}/team-a/web-app"
    assert before <= repository["createdAt"] <= after
    assert repository["imageTagMutability"] == "MUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in repository
    assert repository["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}

    (described,) = ecr.describe_repositories(repositoryNames=["team-a/web-app"])["repositories"]
    assert described == repository


@pytest.mark.parametrize(
    "name",
    ["ab", "team-a/web-app", "a/b/c", "my.repo", "my_repo", "my__repo", "my---repo", "x" * 256],
)
def test_create_repository_accepts_valid_names(ecr, name):
    assert ecr.create_repository(repositoryName=name)["repository"]["repositoryName"] == name
    assert names_in(ecr, repositoryNames=[name]) == [name]


@pytest.mark.parametrize(
    "name",
    ["Upper", "-leading", "trailing-", "/lead", "trail/", "a//b", "a..b", "a___b", "sp ace", "a:b"],
)
def test_create_repository_rejects_names_that_break_the_pattern(ecr, name):
    with pytest.raises(ClientError) as excinfo:
        ecr.create_repository(repositoryName=name)
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert message.startswith("Invalid parameter at 'repositoryName' failed to satisfy constraint")
    assert "must satisfy regular expression" in message
    assert names_in(ecr) == []


def test_create_repository_rejects_names_too_short_or_too_long(ecr, raw_ecr):
    with pytest.raises(ParamValidationError):  # botocore itself knows the minimum
        ecr.create_repository(repositoryName="a")

    with pytest.raises(ClientError) as excinfo:
        raw_ecr.create_repository(repositoryName="a")
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"  # quoted from AWS (aws/aws-dotnet-deploy#549)
    assert message == (
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
        "'must have length greater than or equal to 2'"
    )

    with pytest.raises(ClientError) as excinfo:
        ecr.create_repository(repositoryName="a" * 257)
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert message == (
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
        "'must have length less than or equal to 256'"
    )
    assert names_in(ecr) == []


def test_create_repository_twice_is_an_error(ecr):
    ecr.create_repository(repositoryName="team-a/web-app")
    with pytest.raises(ClientError) as excinfo:
        ecr.create_repository(repositoryName="team-a/web-app", imageTagMutability="IMMUTABLE")
    assert error_of(excinfo) == (
        "RepositoryAlreadyExistsException",
        "The repository with name 'team-a/web-app' already exists in the registry with id "
        "'123456789012'",
    )
    (repository,) = ecr.describe_repositories()["repositories"]
    assert repository["imageTagMutability"] == "MUTABLE"  # the first one is untouched


def test_same_name_in_other_account_and_region_is_a_different_repository(ecr, make_client):
    ecr.create_repository(repositoryName="shared")
    other_account = make_client(account=OTHER_ACCOUNT)
    other_region = make_client(region="eu-west-1")
    created = other_account.create_repository(repositoryName="shared")["repository"]
    assert created["registryId"] == OTHER_ACCOUNT
    assert created["repositoryArn"] == f"arn:aws:ecr:us-east-1:{OTHER_ACCOUNT}:repository/shared"
    in_region = other_region.create_repository(repositoryName="shared")["repository"]
    assert in_region["repositoryArn"] == f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/shared"
    other_region.create_repository(repositoryName="only-in-eu")

    assert names_in(ecr) == ["shared"]
    assert names_in(other_account) == ["shared"]
    assert sorted(names_in(other_region)) == ["only-in-eu", "shared"]


def test_create_repository_with_tags(ecr):
    tags = [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "prod"}]
    arn = ecr.create_repository(repositoryName="tagged", tags=tags)["repository"]["repositoryArn"]
    listed = ecr.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted(listed, key=lambda tag: tag["Key"]) == sorted(tags, key=lambda tag: tag["Key"])


@pytest.mark.parametrize(
    ("tags", "code"),
    [
        (
            [{"Key": "ok", "Value": "1"}, {"Key": "aws:reserved", "Value": "x"}],
            "InvalidTagParameterException",
        ),
        (
            [{"Key": "ok", "Value": "1"}, {"Key": "k" * 129, "Value": "x"}],
            "InvalidTagParameterException",
        ),
        ([{"Key": "ok", "Value": "v" * 257}], "InvalidTagParameterException"),
        (
            [{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}],
            "InvalidTagParameterException",
        ),
        ([{"Key": f"k{i}", "Value": "v"} for i in range(51)], "TooManyTagsException"),
    ],
    ids=["reserved-prefix", "key-too-long", "value-too-long", "duplicate-key", "51-tags"],
)
def test_create_repository_with_a_bad_tag_creates_nothing(ecr, tags, code):
    with pytest.raises(ClientError) as excinfo:
        ecr.create_repository(repositoryName="atomic", tags=tags)
    assert error_of(excinfo)[0] == code
    assert_no_repository(ecr, "atomic")
    # and the name is still free
    assert (
        ecr.create_repository(repositoryName="atomic")["repository"]["repositoryName"] == "atomic"
    )


def test_fifty_tags_are_allowed(ecr):
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    arn = ecr.create_repository(repositoryName="fifty", tags=tags)["repository"]["repositoryArn"]
    assert len(ecr.list_tags_for_resource(resourceArn=arn)["tags"]) == 50


# --- encryption ----------------------------------------------------------------------------------


def test_kms_without_a_key_uses_the_accounts_default_ecr_key(ecr, make_client):
    first = ecr.create_repository(
        repositoryName="kms-one", encryptionConfiguration={"encryptionType": "KMS"}
    )["repository"]["encryptionConfiguration"]
    second = ecr.create_repository(
        repositoryName="kms-two", encryptionConfiguration={"encryptionType": "KMS"}
    )["repository"]["encryptionConfiguration"]
    assert first["encryptionType"] == "KMS"
    assert KEY_ARN.match(first["kmsKey"]), first["kmsKey"]
    assert second == first  # one AWS-managed aws/ecr key per account and region

    in_eu = make_client(region="eu-west-1").create_repository(
        repositoryName="kms-one", encryptionConfiguration={"encryptionType": "KMS"}
    )["repository"]["encryptionConfiguration"]["kmsKey"]
    assert in_eu.startswith("arn:aws:kms:eu-west-1:123456789012:key/")

    (described,) = ecr.describe_repositories(repositoryNames=["kms-one"])["repositories"]
    assert described["encryptionConfiguration"] == first


def test_kms_dsse_without_a_key_uses_the_default_key(ecr):
    encryption = ecr.create_repository(
        repositoryName="dsse", encryptionConfiguration={"encryptionType": "KMS_DSSE"}
    )["repository"]["encryptionConfiguration"]
    assert encryption["encryptionType"] == "KMS_DSSE"
    assert KEY_ARN.match(encryption["kmsKey"])


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        (
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("alias/my-key", "arn:aws:kms:us-east-1:123456789012:alias/my-key"),
    ],
    ids=["arn", "key-id", "alias"],
)
def test_kms_with_a_key(ecr, given, stored):
    encryption = ecr.create_repository(
        repositoryName="kms-key",
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": given},
    )["repository"]["encryptionConfiguration"]
    assert encryption == {"encryptionType": "KMS", "kmsKey": stored}


def test_aes256_explicitly(ecr):
    encryption = ecr.create_repository(
        repositoryName="aes", encryptionConfiguration={"encryptionType": "AES256"}
    )["repository"]["encryptionConfiguration"]
    assert encryption == {"encryptionType": "AES256"}


def test_aes256_with_a_kms_key_is_rejected(ecr):
    with pytest.raises(ClientError) as excinfo:
        ecr.create_repository(
            repositoryName="aes-kms",
            encryptionConfiguration={"encryptionType": "AES256", "kmsKey": "alias/my-key"},
        )
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert "encryptionConfiguration" in message
    assert "kmsKey" in message
    assert_no_repository(ecr, "aes-kms")


def test_unknown_encryption_type_is_a_validation_error(raw_ecr):
    with pytest.raises(ClientError) as excinfo:
        raw_ecr.create_repository(
            repositoryName="rsa", encryptionConfiguration={"encryptionType": "RSA"}
        )
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert message == (
        "Invalid parameter at 'encryptionType' failed to satisfy constraint: "
        "'Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]'"
    )
    assert_no_repository(raw_ecr, "rsa")


# --- scanning and tag mutability at creation -------------------------------------------------------


def test_scan_on_push_at_creation(ecr):
    repository = ecr.create_repository(
        repositoryName="scanned", imageScanningConfiguration={"scanOnPush": True}
    )["repository"]
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    (described,) = ecr.describe_repositories(repositoryNames=["scanned"])["repositories"]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}


@pytest.mark.parametrize("mutability", ["MUTABLE", "IMMUTABLE"])
def test_plain_tag_mutability_at_creation(ecr, mutability):
    repository = ecr.create_repository(repositoryName="plain", imageTagMutability=mutability)[
        "repository"
    ]
    assert repository["imageTagMutability"] == mutability
    assert "imageTagMutabilityExclusionFilters" not in repository


@pytest.mark.parametrize("mutability", ["IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"])
def test_tag_mutability_with_exclusions_at_creation(ecr, mutability):
    filters = [
        {"filterType": "WILDCARD", "filter": "latest"},
        {"filterType": "WILDCARD", "filter": "dev-*"},
    ]
    repository = ecr.create_repository(
        repositoryName="excluded",
        imageTagMutability=mutability,
        imageTagMutabilityExclusionFilters=filters,
    )["repository"]
    assert repository["imageTagMutability"] == mutability
    assert repository["imageTagMutabilityExclusionFilters"] == filters
    (described,) = ecr.describe_repositories(repositoryNames=["excluded"])["repositories"]
    assert described["imageTagMutabilityExclusionFilters"] == filters


@pytest.mark.parametrize("mutability", ["IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"])
def test_exclusion_modes_need_filters(ecr, mutability):
    with pytest.raises(ClientError) as excinfo:
        ecr.create_repository(repositoryName="needs-filters", imageTagMutability=mutability)
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert "imageTagMutabilityExclusionFilters" in message
    assert mutability in message
    assert_no_repository(ecr, "needs-filters")


@pytest.mark.parametrize("mutability", ["MUTABLE", "IMMUTABLE"])
def test_filters_only_go_with_exclusion_modes(ecr, mutability):
    with pytest.raises(ClientError) as excinfo:
        ecr.create_repository(
            repositoryName="stray-filters",
            imageTagMutability=mutability,
            imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}],
        )
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert "imageTagMutabilityExclusionFilters" in message
    assert_no_repository(ecr, "stray-filters")


@pytest.mark.parametrize(
    ("filters", "code", "fragment"),
    [
        (
            [{"filterType": "WILDCARD", "filter": "bad/tag"}],
            "InvalidParameterException",
            "Invalid parameter at 'filter' failed to satisfy constraint: 'Member must satisfy "
            "regular expression pattern: ^[0-9a-zA-Z._*-]{1,128}$'",
        ),
        (
            [{"filterType": "REGEX", "filter": "latest"}],
            "InvalidParameterException",
            "Member must satisfy enum value set: [WILDCARD]",
        ),
        (
            [{"filterType": "WILDCARD", "filter": f"t{i}"} for i in range(6)],
            "InvalidParameterException",
            "Member must have length less than or equal to 5",
        ),
        ([], "InvalidParameterException", "Member must have length greater than or equal to 1"),
    ],
    ids=["bad-pattern", "bad-type", "too-many", "empty"],
)
def test_exclusion_filters_are_validated(raw_ecr, filters, code, fragment):
    with pytest.raises(ClientError) as excinfo:
        raw_ecr.create_repository(
            repositoryName="bad-filters",
            imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
            imageTagMutabilityExclusionFilters=filters,
        )
    actual_code, message = error_of(excinfo)
    assert actual_code == code
    assert fragment in message
    assert_no_repository(raw_ecr, "bad-filters")


def test_unknown_tag_mutability_is_a_validation_error(raw_ecr):
    with pytest.raises(ClientError) as excinfo:
        raw_ecr.create_repository(repositoryName="sometimes", imageTagMutability="SOMETIMES")
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert message.startswith(
        "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: "
        "'Member must satisfy enum value set: ["
    )


# --- DescribeRepositories ---------------------------------------------------------------------------


def test_describe_repositories_empty_registry(ecr):
    response = ecr.describe_repositories()
    assert response["repositories"] == []
    assert "nextToken" not in response


def test_describe_repositories_by_names(ecr):
    for name in ("alpha", "beta", "team-a/gamma"):
        ecr.create_repository(repositoryName=name)
    assert sorted(names_in(ecr)) == ["alpha", "beta", "team-a/gamma"]
    assert sorted(names_in(ecr, repositoryNames=["team-a/gamma", "alpha"])) == [
        "alpha",
        "team-a/gamma",
    ]
    assert names_in(ecr, repositoryNames=["beta", "beta"]) == ["beta"]


def test_describe_repositories_with_a_missing_name(ecr):
    ecr.create_repository(repositoryName="alpha")
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_repositories(repositoryNames=["alpha", "xy"])
    assert error_of(excinfo) == (
        "RepositoryNotFoundException",
        "The repository with name 'xy' does not exist in the registry with id '123456789012'",
    )


def test_describe_repositories_of_another_registry(ecr, make_client):
    make_client(account=OTHER_ACCOUNT).create_repository(repositoryName="theirs")
    ecr.create_repository(repositoryName="mine")

    assert names_in(ecr) == ["mine"]
    assert names_in(ecr, registryId=ACCOUNT) == ["mine"]
    # Listing another account's registry is refused on repository/* (quoted AWS answer).
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_repositories(registryId=OTHER_ACCOUNT)
    assert error_of(excinfo) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: "
        f"ecr:DescribeRepositories on resource: arn:aws:ecr:us-east-1:{OTHER_ACCOUNT}:repository/* "
        "because no resource-based policy allows the ecr:DescribeRepositories action",
    )

    with pytest.raises(ClientError) as excinfo:
        ecr.describe_repositories(registryId=OTHER_ACCOUNT, repositoryNames=["mine"])
    code, message = error_of(excinfo)
    assert code == "AccessDeniedException"
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: "
        f"ecr:DescribeRepositories on resource: "
        f"arn:aws:ecr:us-east-1:{OTHER_ACCOUNT}:repository/mine "
        "because no resource-based policy allows the ecr:DescribeRepositories action"
    )


def test_describe_repositories_rejects_a_malformed_registry_id(ecr):
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_repositories(registryId="12345")
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert "registryId" in message


def test_describe_repositories_pages_with_max_results(ecr):
    names = [f"repo-{i}" for i in range(7)]
    for name in names:
        ecr.create_repository(repositoryName=name)

    pages, token = [], None
    while True:
        kwargs = {"maxResults": 3}
        if token:
            kwargs["nextToken"] = token
        response = ecr.describe_repositories(**kwargs)
        pages.append([repo["repositoryName"] for repo in response["repositories"]])
        token = response.get("nextToken")
        if token is None:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    seen = [name for page in pages for name in page]
    assert sorted(seen) == sorted(names)  # every repository once, none twice

    exact = ecr.describe_repositories(maxResults=7)
    assert len(exact["repositories"]) == 7
    assert "nextToken" not in exact


def test_describe_repositories_paginator(ecr):
    names = {f"repo-{i}" for i in range(7)}
    for name in names:
        ecr.create_repository(repositoryName=name)
    paginator = ecr.get_paginator("describe_repositories")

    pages = list(paginator.paginate(PaginationConfig={"PageSize": 3}))
    assert [len(page["repositories"]) for page in pages] == [3, 3, 1]
    assert {repo["repositoryName"] for page in pages for repo in page["repositories"]} == names

    limited = paginator.paginate(
        PaginationConfig={"PageSize": 2, "MaxItems": 5}
    ).build_full_result()
    assert len(limited["repositories"]) == 5
    assert "NextToken" in limited

    rest = paginator.paginate(
        PaginationConfig={"PageSize": 2, "StartingToken": limited["NextToken"]}
    ).build_full_result()
    resumed = {repo["repositoryName"] for repo in limited["repositories"] + rest["repositories"]}
    assert resumed == names


@pytest.mark.parametrize("token", ["garbage", "eyJvZmZzZXQiOiAtMX0="], ids=["garbage", "forged"])
def test_describe_repositories_rejects_an_invalid_next_token(raw_ecr, token):
    raw_ecr.create_repository(repositoryName="one")
    with pytest.raises(ClientError) as excinfo:
        raw_ecr.describe_repositories(nextToken=token)
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert "nextToken" in message


def test_describe_repositories_rejects_a_token_from_another_operation(ecr):
    ecr.create_repository(repositoryName="images")
    for seed in "abc":
        ecr.put_image(repositoryName="images", imageManifest=docker_manifest(seed))
    token = ecr.list_images(repositoryName="images", maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_repositories(nextToken=token)
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_describe_repositories_paging_does_not_mix_with_names(ecr):
    ecr.create_repository(repositoryName="one")
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_repositories(repositoryNames=["one"], maxResults=1)
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert "repositoryNames" in message


@pytest.mark.parametrize(
    ("max_results", "fragment"),
    [
        (0, "Member must have value greater than or equal to 1"),
        (1001, "Member must have value less than or equal to 1000"),
    ],
)
def test_describe_repositories_max_results_range(raw_ecr, max_results, fragment):
    with pytest.raises(ClientError) as excinfo:
        raw_ecr.describe_repositories(maxResults=max_results)
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert (
        message == f"Invalid parameter at 'maxResults' failed to satisfy constraint: '{fragment}'"
    )


# --- DeleteRepository ----------------------------------------------------------------------------------


def test_delete_empty_repository(ecr):
    created = ecr.create_repository(repositoryName="team-a/web-app")["repository"]
    deleted = ecr.delete_repository(repositoryName="team-a/web-app")["repository"]
    assert deleted["repositoryName"] == "team-a/web-app"
    assert deleted["repositoryArn"] == created["repositoryArn"]
    assert deleted["registryId"] == ACCOUNT
    assert_no_repository(ecr, "team-a/web-app")
    assert names_in(ecr) == []


def test_delete_missing_repository(ecr):
    with pytest.raises(ClientError) as excinfo:
        ecr.delete_repository(repositoryName="nope")
    assert error_of(excinfo) == (
        "RepositoryNotFoundException",
        "The repository with name 'nope' does not exist in the registry with id '123456789012'",
    )


def test_delete_repository_with_images_needs_force(ecr):
    ecr.create_repository(repositoryName="full")
    ecr.put_image(repositoryName="full", imageManifest=docker_manifest("a"), imageTag="v1")
    with pytest.raises(ClientError) as excinfo:
        ecr.delete_repository(repositoryName="full")
    code, message = error_of(excinfo)
    assert code == "RepositoryNotEmptyException"
    assert "'full'" in message
    assert "'123456789012'" in message
    assert "still contains images" in message
    assert names_in(ecr) == ["full"]

    with pytest.raises(ClientError) as excinfo:
        ecr.delete_repository(repositoryName="full", force=False)
    assert error_of(excinfo)[0] == "RepositoryNotEmptyException"

    deleted = ecr.delete_repository(repositoryName="full", force=True)["repository"]
    assert deleted["repositoryName"] == "full"
    assert_no_repository(ecr, "full")

    # a repository re-created under the same name starts empty
    ecr.create_repository(repositoryName="full")
    assert ecr.list_images(repositoryName="full")["imageIds"] == []


def test_delete_repository_of_another_registry(ecr, make_client):
    make_client(account=OTHER_ACCOUNT).create_repository(repositoryName="theirs")
    with pytest.raises(ClientError) as excinfo:
        ecr.delete_repository(repositoryName="theirs")
    assert error_of(excinfo)[0] == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as excinfo:  # another account's: its policy decides
        ecr.delete_repository(repositoryName="theirs", registryId=OTHER_ACCOUNT)
    assert error_of(excinfo)[0] == "AccessDeniedException"
    theirs = make_client(account=OTHER_ACCOUNT)
    assert [r["repositoryName"] for r in theirs.describe_repositories()["repositories"]] == [
        "theirs"
    ]


# --- PutImageTagMutability ----------------------------------------------------------------------------


def test_put_image_tag_mutability(ecr):
    ecr.create_repository(repositoryName="mut")
    response = ecr.put_image_tag_mutability(repositoryName="mut", imageTagMutability="IMMUTABLE")
    assert response["registryId"] == ACCOUNT
    assert response["repositoryName"] == "mut"
    assert response["imageTagMutability"] == "IMMUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in response
    (described,) = ecr.describe_repositories(repositoryNames=["mut"])["repositories"]
    assert described["imageTagMutability"] == "IMMUTABLE"

    # the setting is enforced from now on
    ecr.put_image(repositoryName="mut", imageManifest=docker_manifest("a"), imageTag="v1")
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image(repositoryName="mut", imageManifest=docker_manifest("b"), imageTag="v1")
    assert error_of(excinfo)[0] == "ImageTagAlreadyExistsException"


def test_put_image_tag_mutability_with_exclusions_then_back(ecr):
    ecr.create_repository(repositoryName="mut")
    filters = [{"filterType": "WILDCARD", "filter": "latest"}]
    response = ecr.put_image_tag_mutability(
        repositoryName="mut",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters,
    )
    assert response["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert response["imageTagMutabilityExclusionFilters"] == filters
    (described,) = ecr.describe_repositories(repositoryNames=["mut"])["repositories"]
    assert described["imageTagMutabilityExclusionFilters"] == filters

    ecr.put_image_tag_mutability(repositoryName="mut", imageTagMutability="MUTABLE")
    (described,) = ecr.describe_repositories(repositoryNames=["mut"])["repositories"]
    assert described["imageTagMutability"] == "MUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in described


def test_put_image_tag_mutability_errors(ecr, raw_ecr):
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image_tag_mutability(repositoryName="missing", imageTagMutability="IMMUTABLE")
    assert error_of(excinfo) == (
        "RepositoryNotFoundException",
        "The repository with name 'missing' does not exist in the registry with id '123456789012'",
    )

    ecr.create_repository(repositoryName="mut")
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image_tag_mutability(
            repositoryName="mut", imageTagMutability="MUTABLE_WITH_EXCLUSION"
        )
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image_tag_mutability(
            repositoryName="mut",
            imageTagMutability="IMMUTABLE",
            imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "x"}],
        )
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        raw_ecr.put_image_tag_mutability(repositoryName="mut", imageTagMutability="NEVER")
    assert error_of(excinfo)[0] == "InvalidParameterException"

    (described,) = ecr.describe_repositories(repositoryNames=["mut"])["repositories"]
    assert described["imageTagMutability"] == "MUTABLE"  # failed calls changed nothing


# --- PutImageScanningConfiguration ----------------------------------------------------------------------


def test_put_image_scanning_configuration(ecr):
    ecr.create_repository(repositoryName="scan")
    response = ecr.put_image_scanning_configuration(
        repositoryName="scan", imageScanningConfiguration={"scanOnPush": True}
    )
    assert response["registryId"] == ACCOUNT
    assert response["repositoryName"] == "scan"
    assert response["imageScanningConfiguration"] == {"scanOnPush": True}
    (described,) = ecr.describe_repositories(repositoryNames=["scan"])["repositories"]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}

    ecr.put_image_scanning_configuration(
        repositoryName="scan", imageScanningConfiguration={"scanOnPush": False}
    )
    (described,) = ecr.describe_repositories(repositoryNames=["scan"])["repositories"]
    assert described["imageScanningConfiguration"] == {"scanOnPush": False}


def test_put_image_scanning_configuration_errors(ecr, raw_ecr):
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image_scanning_configuration(
            repositoryName="missing", imageScanningConfiguration={"scanOnPush": True}
        )
    assert error_of(excinfo)[0] == "RepositoryNotFoundException"

    ecr.create_repository(repositoryName="scan")
    with pytest.raises(ClientError) as excinfo:
        raw_ecr.put_image_scanning_configuration(repositoryName="scan")
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert message == (
        "Invalid parameter at 'imageScanningConfiguration' failed to satisfy constraint: "
        "'Member must not be null'"
    )
