"""TagResource / UntagResource / ListTagsForResource, through boto3, in-process and on the server."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def tags(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in pairs]


def listed(ecr, arn: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in ecr.list_tags_for_resource(resourceArn=arn)["tags"]}


def error_of(call, **kwargs) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return raised.value.response["Error"]


@pytest.fixture
def arn(ecr) -> str:
    created = ecr.create_repository(repositoryName="team-a/web", tags=tags(("team", "a")))
    return created["repository"]["repositoryArn"]


def test_tags_given_at_create_are_listed(ecr, arn):
    assert arn == "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web"
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "team", "Value": "a"}]


def test_repository_without_tags_lists_none(ecr):
    arn = ecr.create_repository(repositoryName="bare")["repository"]["repositoryArn"]
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == []


def test_tag_adds_and_overwrites_untag_removes(ecr, arn):
    ecr.tag_resource(resourceArn=arn, tags=tags(("team", "b"), ("env", "prod"), ("empty", "")))
    assert listed(ecr, arn) == {"team": "b", "env": "prod", "empty": ""}
    ecr.untag_resource(resourceArn=arn, tagKeys=["team", "never-set"])
    assert listed(ecr, arn) == {"env": "prod", "empty": ""}


def test_fifty_tags_allowed_fifty_one_refused_and_nothing_changes(ecr, arn):
    ecr.tag_resource(resourceArn=arn, tags=tags(*((f"k{i}", "v") for i in range(49))))
    assert len(listed(ecr, arn)) == 50
    # Overwriting an existing key keeps the count at 50: allowed.
    ecr.tag_resource(resourceArn=arn, tags=tags(("k0", "new")))
    error = error_of(ecr.tag_resource, resourceArn=arn, tags=tags(("one-more", "v"), ("k1", "x")))
    assert error["Code"] == "TooManyTagsException"
    now = listed(ecr, arn)
    assert len(now) == 50
    assert now["k0"] == "new"
    assert now["k1"] == "v"
    assert "one-more" not in now


def test_more_than_fifty_tags_at_create_is_refused_and_nothing_is_created(ecr):
    error = error_of(
        ecr.create_repository,
        repositoryName="too-many",
        tags=tags(*((f"k{i}", "v") for i in range(51))),
    )
    assert error["Code"] == "TooManyTagsException"
    assert ecr.describe_repositories()["repositories"] == []


@pytest.mark.parametrize("key", ["aws:owner", "AWS:owner", "k" * 129, ""])
def test_reserved_or_badly_sized_keys_are_invalid_tag_parameters(ecr, arn, key):
    error = error_of(ecr.tag_resource, resourceArn=arn, tags=tags(("ok", "1"), (key, "v")))
    assert error["Code"] == "InvalidTagParameterException"
    assert listed(ecr, arn) == {"team": "a"}  # the valid tag of the same request is not applied


def test_longest_key_and_value_are_accepted(ecr, arn):
    ecr.tag_resource(resourceArn=arn, tags=tags(("k" * 128, "v" * 256)))
    assert listed(ecr, arn)["k" * 128] == "v" * 256
    error = error_of(ecr.tag_resource, resourceArn=arn, tags=tags(("k", "v" * 257)))
    assert error["Code"] == "InvalidTagParameterException"


def test_untag_with_reserved_key_is_invalid(ecr, arn):
    error = error_of(ecr.untag_resource, resourceArn=arn, tagKeys=["aws:team"])
    assert error["Code"] == "InvalidTagParameterException"


def test_reserved_key_at_create_is_refused_and_nothing_is_created(ecr):
    error = error_of(ecr.create_repository, repositoryName="reserved", tags=tags(("aws:x", "v")))
    assert error["Code"] == "InvalidTagParameterException"
    assert ecr.describe_repositories()["repositories"] == []


@pytest.mark.parametrize(
    "bad_arn",
    [
        "not-an-arn",
        "arn:aws:s3:::bucket",
        "arn:aws:ecr:us-east-1:123456789012:image/team-a/web",
        "arn:aws:ecr:us-east-1:12345:repository/team-a/web",
    ],
)
def test_malformed_arn_is_invalid_parameter_for_all_three_operations(ecr, arn, bad_arn):
    for call, kwargs in [
        (ecr.tag_resource, {"tags": tags(("k", "v"))}),
        (ecr.untag_resource, {"tagKeys": ["team"]}),
        (ecr.list_tags_for_resource, {}),
    ]:
        error = error_of(call, resourceArn=bad_arn, **kwargs)
        assert error["Code"] == "InvalidParameterException", call
    assert listed(ecr, arn) == {"team": "a"}


def test_unknown_repository_is_not_found_for_all_three_operations(ecr, arn):
    missing = arn.replace("team-a/web", "team-a/gone")
    for call, kwargs in [
        (ecr.tag_resource, {"tags": tags(("k", "v"))}),
        (ecr.untag_resource, {"tagKeys": ["team"]}),
        (ecr.list_tags_for_resource, {}),
    ]:
        error = error_of(call, resourceArn=missing, **kwargs)
        assert error["Code"] == "RepositoryNotFoundException"
        assert error["Message"] == (
            "The repository with name 'team-a/gone' does not exist in the registry "
            "with id '123456789012'"
        )


def test_tags_are_gone_after_the_repository_is_recreated(ecr, arn):
    ecr.tag_resource(resourceArn=arn, tags=tags(("env", "prod")))
    ecr.delete_repository(repositoryName="team-a/web")
    assert error_of(ecr.list_tags_for_resource, resourceArn=arn)["Code"] == (
        "RepositoryNotFoundException"
    )
    ecr.create_repository(repositoryName="team-a/web")
    assert listed(ecr, arn) == {}


def test_tags_of_one_repository_do_not_touch_another(ecr, arn):
    other = ecr.create_repository(repositoryName="team-b/web")["repository"]["repositoryArn"]
    ecr.tag_resource(resourceArn=other, tags=tags(("team", "b")))
    assert listed(ecr, arn) == {"team": "a"}
    assert listed(ecr, other) == {"team": "b"}


@pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_arns_of_other_partitions(make_client, region, partition):
    client = make_client(region=region)
    arn = client.create_repository(repositoryName="part")["repository"]["repositoryArn"]
    assert arn == f"arn:{partition}:ecr:{region}:123456789012:repository/part"
    client.tag_resource(resourceArn=arn, tags=tags(("k", "v")))
    assert listed(client, arn) == {"k": "v"}


def test_arn_of_another_region_is_invalid_parameter(make_client, arn):
    europe = make_client(region="eu-west-1")
    europe.create_repository(repositoryName="team-a/web")
    error = error_of(europe.list_tags_for_resource, resourceArn=arn)
    assert error["Code"] == "InvalidParameterException"
    error = error_of(europe.tag_resource, resourceArn=arn, tags=tags(("k", "v")))
    assert error["Code"] == "InvalidParameterException"
