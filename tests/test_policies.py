"""SetRepositoryPolicy / GetRepositoryPolicy / DeleteRepositoryPolicy through boto3."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = "team-a/web"

# Kept as written (odd spacing and key order) to prove the text is stored verbatim.
PULL_POLICY = """{
  "Version" : "2012-10-17",
  "Statement" : [ {
    "Sid" : "AllowPull",
    "Effect" : "Allow",
    "Principal" : {"AWS": ["arn:aws:iam::111111111111:root"]},
    "Action" : [ "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer" ]
  } ]
}"""

LOCK_OUT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NoOne",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "ecr:SetRepositoryPolicy",
            }
        ],
    }
)


def error_of(call, **kwargs) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return raised.value.response["Error"]


def policy(*statements: dict, **top) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements), **top})


def statement(**overrides) -> dict:
    base = {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


@pytest.fixture
def repo(ecr) -> str:
    ecr.create_repository(repositoryName=REPO)
    return REPO


def test_policy_text_round_trips_verbatim(ecr, repo):
    answer = ecr.set_repository_policy(repositoryName=repo, policyText=PULL_POLICY)
    expected = {"registryId": "123456789012", "repositoryName": repo, "policyText": PULL_POLICY}
    assert {key: answer[key] for key in expected} == expected
    got = ecr.get_repository_policy(repositoryName=repo)
    assert {key: got[key] for key in expected} == expected


def test_set_replaces_and_delete_returns_the_removed_policy(ecr, repo):
    ecr.set_repository_policy(repositoryName=repo, policyText=PULL_POLICY)
    second = policy(statement(Sid="Everyone"))
    ecr.set_repository_policy(repositoryName=repo, policyText=second)
    assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == second
    deleted = ecr.delete_repository_policy(repositoryName=repo)
    assert (deleted["repositoryName"], deleted["policyText"]) == (repo, second)
    assert deleted["registryId"] == "123456789012"
    error = error_of(ecr.get_repository_policy, repositoryName=repo)
    assert error["Code"] == "RepositoryPolicyNotFoundException"


def test_get_and_delete_without_policy_are_policy_not_found(ecr, repo):
    for call in (ecr.get_repository_policy, ecr.delete_repository_policy):
        error = error_of(call, repositoryName=repo)
        assert error["Code"] == "RepositoryPolicyNotFoundException"
        assert "team-a/web" in error["Message"]
        assert "123456789012" in error["Message"]


def test_missing_repository_is_repository_not_found(ecr):
    for call, kwargs in [
        (ecr.set_repository_policy, {"policyText": PULL_POLICY}),
        (ecr.get_repository_policy, {}),
        (ecr.delete_repository_policy, {}),
    ]:
        error = error_of(call, repositoryName="nowhere", **kwargs)
        assert error["Code"] == "RepositoryNotFoundException"
        assert error["Message"] == (
            "The repository with name 'nowhere' does not exist in the registry "
            "with id '123456789012'"
        )


def test_policy_is_per_repository(ecr, repo):
    ecr.create_repository(repositoryName="team-b/web")
    ecr.set_repository_policy(repositoryName=repo, policyText=PULL_POLICY)
    error = error_of(ecr.get_repository_policy, repositoryName="team-b/web")
    assert error["Code"] == "RepositoryPolicyNotFoundException"


def test_policy_goes_with_a_deleted_repository(ecr, repo):
    ecr.set_repository_policy(repositoryName=repo, policyText=PULL_POLICY)
    ecr.delete_repository(repositoryName=repo)
    ecr.create_repository(repositoryName=repo)
    error = error_of(ecr.get_repository_policy, repositoryName=repo)
    assert error["Code"] == "RepositoryPolicyNotFoundException"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("{not json", id="malformed-json"),
        pytest.param('["Version"]', id="json-array"),
        pytest.param(json.dumps({"Version": "2012-10-17"}), id="no-statement"),
        pytest.param(policy(), id="empty-statement-list"),
        pytest.param(policy(statement(), Foo=1), id="unknown-top-level"),
        pytest.param(policy(statement(), Version="2020-01-01"), id="bad-version"),
        pytest.param(policy(statement(Effect="Maybe")), id="bad-effect"),
        pytest.param(policy(statement(Effect=None)), id="no-effect"),
        pytest.param(policy(statement(Principal=None)), id="no-principal"),
        pytest.param(policy(statement(Principal=[])), id="principal-list"),
        pytest.param(policy(statement(Action=None)), id="no-action"),
        pytest.param(policy(statement(Action="not an action")), id="bad-action"),
        pytest.param(policy(statement(Action=[])), id="empty-action-list"),
        pytest.param(policy(statement(Colour="blue")), id="unknown-statement-element"),
        pytest.param(policy(statement(Condition="yes")), id="bad-condition"),
    ],
)
def test_invalid_policies_are_invalid_parameter_and_keep_the_old_one(ecr, repo, text):
    ecr.set_repository_policy(repositoryName=repo, policyText=PULL_POLICY)
    error = error_of(ecr.set_repository_policy, repositoryName=repo, policyText=text)
    assert error["Code"] == "InvalidParameterException"
    assert error["Message"] == (
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
        "'Invalid repository policy provided'"
    )
    assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == PULL_POLICY


def test_duplicate_sids_are_accepted_as_aws_accepts_them(ecr, repo):
    text = policy(statement(Sid="A"), statement(Sid="A", Action="ecr:ListImages"))
    ecr.set_repository_policy(repositoryName=repo, policyText=text)
    assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == text


def test_valid_grammar_variants_are_accepted(ecr, repo):
    text = policy(
        statement(
            Sid="Cross",
            Principal={"AWS": "arn:aws:iam::111111111111:root", "Service": ["ec2.amazonaws.com"]},
            Action=["ecr:*", "ecr:Batch?etImage"],
            Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
        ),
        statement(
            Effect="Deny",
            Principal=None,
            NotPrincipal={"AWS": "*"},
            Action=None,
            NotAction="ecr:Get*",
        ),
    )
    ecr.set_repository_policy(repositoryName=repo, policyText=text)
    assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == text


@pytest.mark.parametrize(
    "deny",
    [
        pytest.param(json.loads(LOCK_OUT)["Statement"][0], id="exact-action"),
        pytest.param(statement(Effect="Deny", Action="ecr:*"), id="ecr-wildcard"),
        pytest.param(statement(Effect="Deny", Action="*", Principal={"AWS": "*"}), id="all"),
        pytest.param(
            statement(Effect="Deny", Action=["ecr:GetAuthorizationToken", "ecr:set*"]),
            id="case-insensitive",
        ),
        pytest.param(
            statement(Effect="Deny", Action="ecr:SetRepositoryPolicy", Principal={"AWS": ["*"]}),
            id="principal-list",
        ),
        pytest.param(
            statement(Effect="Deny", Action=None, NotAction="ecr:BatchGetImage"),
            id="not-action",
        ),
    ],
)
def test_lock_out_policy_needs_force(ecr, repo, deny):
    text = policy(deny)
    error = error_of(ecr.set_repository_policy, repositoryName=repo, policyText=text)
    assert error["Code"] == "InvalidParameterException"
    assert error_of(ecr.get_repository_policy, repositoryName=repo)["Code"] == (
        "RepositoryPolicyNotFoundException"
    )
    ecr.set_repository_policy(repositoryName=repo, policyText=text, force=True)
    # the owner is bound by the Deny too: where it covers reading the policy, so it is
    if _denies(deny, "ecr:GetRepositoryPolicy"):
        code = error_of(ecr.get_repository_policy, repositoryName=repo)["Code"]
        assert code == "AccessDeniedException"
    else:
        assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == text


def _denies(deny: dict, action: str) -> bool:
    from ecr_emulator.wildcard import matches

    if "Action" in deny and deny["Action"] is not None:
        listed = deny["Action"] if isinstance(deny["Action"], list) else [deny["Action"]]
        return any(matches(p, action, ignore_case=True) for p in listed)
    listed = deny["NotAction"] if isinstance(deny["NotAction"], list) else [deny["NotAction"]]
    return not any(matches(p, action, ignore_case=True) for p in listed)


def test_lock_out_in_a_lone_statement_object_needs_force(ecr, repo):
    text = json.dumps({"Version": "2012-10-17", "Statement": json.loads(LOCK_OUT)["Statement"][0]})
    error = error_of(ecr.set_repository_policy, repositoryName=repo, policyText=text)
    assert error["Code"] == "InvalidParameterException"
    ecr.set_repository_policy(repositoryName=repo, policyText=text, force=True)
    assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == text


def test_force_false_behaves_like_no_force(ecr, repo):
    error = error_of(
        ecr.set_repository_policy, repositoryName=repo, policyText=LOCK_OUT, force=False
    )
    assert error["Code"] == "InvalidParameterException"


@pytest.mark.parametrize(
    "deny",
    [
        pytest.param(statement(Effect="Deny", Action="ecr:BatchGetImage"), id="other-action"),
        pytest.param(
            statement(
                Effect="Deny",
                Action="ecr:SetRepositoryPolicy",
                Principal={"AWS": "arn:aws:iam::111111111111:root"},
            ),
            id="one-principal",
        ),
        pytest.param(
            statement(
                Effect="Deny",
                Action="ecr:SetRepositoryPolicy",
                Condition={"Bool": {"aws:SecureTransport": "false"}},
            ),
            id="conditional",
        ),
        pytest.param(statement(Action="ecr:SetRepositoryPolicy"), id="allow"),
        pytest.param(
            statement(Effect="Deny", Action=None, NotAction=["ecr:Get*", "ecr:Set*"]),
            id="not-action-spares-it",
        ),
        pytest.param(
            statement(
                Effect="Deny",
                Action="ecr:SetRepositoryPolicy",
                Principal={"Service": "ec2.amazonaws.com"},
            ),
            id="service-principal",
        ),
    ],
)
def test_policies_that_do_not_lock_out_need_no_force(ecr, repo, deny):
    text = policy(deny)
    ecr.set_repository_policy(repositoryName=repo, policyText=text)
    assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == text


def test_explicit_registry_id_of_own_account_works(ecr, repo):
    ecr.set_repository_policy(
        registryId="123456789012", repositoryName=repo, policyText=PULL_POLICY
    )
    got = ecr.get_repository_policy(registryId="123456789012", repositoryName=repo)
    assert got["policyText"] == PULL_POLICY


def test_policy_longer_than_the_model_allows_is_a_validation_error(ecr_target, repo):
    # botocore refuses the call itself; switch its check off to reach the emulator.
    unchecked = boto3.client(
        "ecr",
        region_name="us-east-1",
        endpoint_url=ecr_target,
        config=Config(parameter_validation=False),
    )
    text = policy(statement(Sid="x" * 10300))
    error = error_of(unchecked.set_repository_policy, repositoryName=repo, policyText=text)
    assert error["Code"] == "InvalidParameterException"
    assert error["Message"] == (
        "Invalid parameter at 'policyText' failed to satisfy constraint: "
        "'Member must have length less than or equal to 10240'"
    )
    assert error_of(unchecked.get_repository_policy, repositoryName=repo)["Code"] == (
        "RepositoryPolicyNotFoundException"
    )


@pytest.mark.parametrize("element", ["Resource", "NotResource"])
def test_a_resource_element_is_refused_as_ecr_refuses_it(ecr, repo, element):
    """A repository policy applies to its repository (aws/aws-cdk#3583)."""
    text = policy(statement(**{element: "arn:aws:ecr:us-east-1:123456789012:repository/other"}))
    error = error_of(ecr.set_repository_policy, repositoryName=repo, policyText=text)
    assert error["Message"] == (
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
        "'Invalid repository policy provided'"
    )
