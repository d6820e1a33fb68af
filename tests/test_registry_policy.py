"""The registry policy (Put/Get/DeleteRegistryPolicy), its scope (REGISTRY_POLICY_SCOPE V1/V2)
and the conditions resource policies may carry, through boto3 against the mock and the
server.

From the user guide's "Private registry permissions": V2 (the default) "allows all ECR
actions in the policy and enforces the registry policy in all ECR requests"; V1 only
enforces ecr:ReplicateImage, ecr:BatchImportUpstreamImage and ecr:CreateRepository.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest, ecr_client

from ecr_emulator.core import iam

OWNER = "111111111111"
CALLER = "222222222222"
STRANGER = "333333333333"
REPO = "team/app"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def statement(effect="Allow", actions: Any = "ecr:BatchGetImage", principal: Any = None, **more):
    return {
        "Effect": effect,
        "Principal": principal if principal is not None else {"AWS": f"arn:aws:iam::{CALLER}:root"},
        "Action": actions,
        **more,
    }


def repository_arn(name: str = "*") -> str:
    return f"arn:aws:ecr:us-east-1:{OWNER}:repository/{name}"


@pytest.fixture
def owner(make_client):
    client = make_client(account=OWNER)
    for name in (REPO, "other/app"):
        client.create_repository(repositoryName=name)
        client.put_image(repositoryName=name, imageManifest=docker_manifest(name), imageTag="v1")
    return client


@pytest.fixture
def caller(make_client):
    return make_client(account=CALLER)


def code_of(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def pull(client, name: str = REPO):
    return client.batch_get_image(
        registryId=OWNER, repositoryName=name, imageIds=[{"imageTag": "v1"}]
    )


def test_round_trip_and_not_found(owner):
    message = f"Registry policy does not exist in the registry with id '{OWNER}'"
    for call in (owner.get_registry_policy, owner.delete_registry_policy):
        with pytest.raises(ClientError) as raised:
            call()
        error = raised.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("RegistryPolicyNotFoundException", message)
    text = policy(statement(Resource=repository_arn()))
    put = owner.put_registry_policy(policyText=text)
    assert (put["registryId"], put["policyText"]) == (OWNER, text)
    assert owner.get_registry_policy()["policyText"] == text
    assert owner.delete_registry_policy()["policyText"] == text
    assert code_of(owner.get_registry_policy) == "RegistryPolicyNotFoundException"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        policy(statement(actions="s3:GetObject")),  # ECR actions only
        policy({"Effect": "Allow", "Action": "ecr:*"}),  # no principal
        policy(statement(Resource="repository/*")),  # not an ARN
        policy(statement(Resource=repository_arn(), NotResource=repository_arn())),
        # a condition value is a string, number or boolean (or a list of them)
        policy(statement(Condition={"StringEquals": {"aws:PrincipalAccount": {"a": 1}}})),
        policy(statement(Condition={"StringEquals": {"aws:PrincipalAccount": []}})),
        json.dumps({"Statement": []}),
    ],
)
def test_invalid_registry_policies(owner, text):
    with pytest.raises(ClientError) as raised:
        owner.put_registry_policy(policyText=text)
    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidParameterException"
    assert error["Message"] == (
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
        "'Invalid registry policy provided'"
    )


def test_a_registry_policy_grants_across_its_repositories(owner, caller):
    assert code_of(lambda: pull(caller)) == "AccessDeniedException"
    owner.put_registry_policy(policyText=policy(statement(Resource=repository_arn("team/*"))))
    assert pull(caller)["images"][0]["imageId"]["imageTag"] == "v1"
    assert code_of(lambda: pull(caller, "other/app")) == "AccessDeniedException"  # not covered
    assert (
        code_of(  # only the action it names
            lambda: caller.batch_delete_image(
                registryId=OWNER, repositoryName=REPO, imageIds=[{"imageTag": "v1"}]
            )
        )
        == "AccessDeniedException"
    )
    # a Deny in the repository's own policy wins over the registry's Allow
    owner.set_repository_policy(
        repositoryName=REPO, policyText=policy(statement("Deny", "ecr:*", Sid="NoOne"))
    )
    assert code_of(lambda: pull(caller)) == "AccessDeniedException"
    owner.delete_repository_policy(repositoryName=REPO)
    # and a Deny in the registry policy wins over a repository's Allow
    owner.set_repository_policy(repositoryName="other/app", policyText=policy(statement()))
    assert pull(caller, "other/app")["images"]
    owner.put_registry_policy(
        policyText=policy(statement("Deny", "ecr:Batch*", Resource=repository_arn()))
    )
    assert code_of(lambda: pull(caller, "other/app")) == "AccessDeniedException"


def test_scope_v1_enforces_only_the_registry_actions(owner, caller):
    grant_all = policy(statement(actions=["ecr:*"], Resource=repository_arn()))
    owner.put_registry_policy(policyText=grant_all)
    assert pull(caller)["images"]
    assert owner.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"] == "V2"
    owner.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V1")
    assert code_of(lambda: pull(caller)) == "AccessDeniedException"
    # CreateRepository is a registry action in either scope
    created = caller.create_repository(registryId=OWNER, repositoryName="replicas/app")
    assert created["repository"]["registryId"] == OWNER
    names = {r["repositoryName"] for r in owner.describe_repositories()["repositories"]}
    assert "replicas/app" in names
    with pytest.raises(ClientError, match="InvalidParameterException"):
        owner.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V3")
    with pytest.raises(ClientError, match="InvalidParameterException"):
        owner.get_account_setting(name="NO_SUCH_SETTING")


def test_creating_in_another_registry_needs_its_policy(owner, caller, make_client):
    assert (
        code_of(lambda: caller.create_repository(registryId=OWNER, repositoryName="planted"))
        == "AccessDeniedException"
    )
    owner.put_registry_policy(
        policyText=policy(
            statement(actions="ecr:CreateRepository", Resource=repository_arn("cache/*"))
        )
    )
    caller.create_repository(registryId=OWNER, repositoryName="cache/app")
    assert (
        code_of(lambda: caller.create_repository(registryId=OWNER, repositoryName="elsewhere"))
        == "AccessDeniedException"
    )
    stranger = make_client(account=STRANGER)
    assert (
        code_of(lambda: stranger.create_repository(registryId=OWNER, repositoryName="cache/x"))
        == "AccessDeniedException"
    )


CONDITIONS = [
    # (condition block, whether the caller's pull is allowed)
    ({"StringEquals": {"aws:PrincipalAccount": CALLER}}, True),
    ({"StringEquals": {"aws:PrincipalAccount": STRANGER}}, False),
    ({"StringNotEquals": {"aws:PrincipalAccount": STRANGER}}, True),
    ({"StringLike": {"aws:PrincipalAccount": "2222*"}}, True),
    ({"StringNotLike": {"aws:PrincipalAccount": "2222*"}}, False),
    ({"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{CALLER}:root"}}, True),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}}, True),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, False),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, True),
    ({"StringEqualsIgnoreCase": {"AWS:principalaccount": CALLER}}, True),
    # one of several values is enough; every key and operator must hold
    ({"StringEquals": {"aws:PrincipalAccount": [STRANGER, CALLER]}}, True),
    (
        {
            "StringEquals": {"aws:PrincipalAccount": CALLER},
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"},
        },
        False,
    ),
    # keys and operators the emulator does not evaluate never grant
    ({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}, False),
    ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, False),
    # a missing key: IfExists holds
    ({"StringEqualsIfExists": {"aws:PrincipalAccount": CALLER}}, True),
    # IAM compares numbers as their text
    ({"StringEquals": {"aws:PrincipalAccount": int(CALLER)}}, True),
]


@pytest.mark.parametrize(("condition", "allowed"), CONDITIONS, ids=[str(c) for c, _ in CONDITIONS])
@pytest.mark.parametrize("where", ["repository", "registry"])
def test_conditions_of_an_allow(owner, caller, condition, allowed, where):
    grant = statement(Condition=condition)
    if where == "registry":
        owner.put_registry_policy(policyText=policy({**grant, "Resource": repository_arn()}))
    else:
        owner.set_repository_policy(repositoryName=REPO, policyText=policy(grant))
    if allowed:
        assert pull(caller)["images"]
    else:
        assert code_of(lambda: pull(caller)) == "AccessDeniedException"


@pytest.mark.parametrize(
    ("condition", "denied"),
    [
        ({"StringEquals": {"aws:PrincipalAccount": CALLER}}, True),
        ({"StringEquals": {"aws:PrincipalAccount": STRANGER}}, False),
        ({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}, True),  # unknown: still denies
    ],
)
def test_conditions_of_a_deny(owner, caller, condition, denied):
    owner.set_repository_policy(
        repositoryName=REPO,
        policyText=policy(statement(), statement("Deny", Condition=condition)),
    )
    if denied:
        assert code_of(lambda: pull(caller)) == "AccessDeniedException"
    else:
        assert pull(caller)["images"]


def test_source_ip_conditions_on_the_server(ecr_server):
    """``aws:SourceIp`` is the client's address: the server knows it (127.0.0.1 here)."""

    owner = ecr_client(account=OWNER, endpoint_url=ecr_server.url)
    caller = ecr_client(account=CALLER, endpoint_url=ecr_server.url)
    owner.create_repository(repositoryName="ip/app")
    owner.put_image(repositoryName="ip/app", imageManifest=docker_manifest("ip"), imageTag="v1")
    ids = [{"imageTag": "v1"}]
    for cidr, allowed in (("127.0.0.0/8", True), ("10.0.0.0/8", False)):
        owner.set_repository_policy(
            repositoryName="ip/app",
            policyText=policy(statement(Condition={"IpAddress": {"aws:SourceIp": cidr}})),
        )
        call = lambda: caller.batch_get_image(  # noqa: E731
            registryId=OWNER, repositoryName="ip/app", imageIds=ids
        )
        if allowed:
            assert call()["images"]
        else:
            assert code_of(call) == "AccessDeniedException"
    owner.set_repository_policy(
        repositoryName="ip/app",
        policyText=policy(
            statement(),
            statement("Deny", Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        ),
    )
    assert (
        code_of(
            lambda: caller.batch_get_image(registryId=OWNER, repositoryName="ip/app", imageIds=ids)
        )
        == "AccessDeniedException"
    )


def test_principal_forms():
    """``iam.decide`` for the principal forms a policy may name (the caller is an account's
    root unless an identity names a user or role)."""
    root = iam.Request(CALLER, f"arn:aws:iam::{CALLER}:root", "aws")
    role = iam.Request(CALLER, f"arn:aws:iam::{CALLER}:role/deployer", "aws")
    cases = [
        ("*", root, True),
        ({"AWS": "*"}, root, True),
        ({"AWS": CALLER}, root, True),
        ({"AWS": f"arn:aws:iam::{CALLER}:root"}, role, True),  # the account delegates
        ({"AWS": f"arn:aws:iam::{CALLER}:role/deployer"}, role, True),
        ({"AWS": f"arn:aws:iam::{CALLER}:role/deployer"}, root, False),
        ({"AWS": f"arn:aws:iam::{CALLER}:role/other"}, role, False),
        ({"AWS": f"arn:aws-cn:iam::{CALLER}:root"}, root, False),  # another partition
        ({"AWS": [STRANGER, CALLER]}, root, True),
        ({"Service": "ecr.amazonaws.com"}, root, False),
    ]
    for principal, request, allowed in cases:
        document = {"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "ecr:*"}]}
        decision = iam.decide(document, request, "ecr:BatchGetImage")
        assert (decision is iam.Decision.ALLOW) == allowed, (principal, request)
