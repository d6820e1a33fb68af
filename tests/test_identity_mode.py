"""The opt-in identity mode (``--enforce-iam``, ``mock_ecr(enforce_iam=True)``): access keys
are principals with identity policies, evaluated as IAM does within and across accounts;
logins need ``ecr:GetAuthorizationToken`` and carry the principal to docker."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from conftest import docker_manifest
from support import (
    BUSYBOX,
    PYTHON_MODULE,
    Docker,
    require_docker,
    require_file,
    run_label,
    serving,
)

from ecr_emulator import mock_ecr

ACCOUNT = "111111111111"
OTHER = "222222222222"


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions, resource="*", effect="Allow"):
    return {"Effect": effect, "Action": actions, "Resource": resource}


def repo_arn(name, account=ACCOUNT):
    return f"arn:aws:ecr:us-east-1:{account}:repository/{name}"


PRINCIPALS = [
    {"accessKeyId": "AKIAROOTROOTROOT", "arn": f"arn:aws:iam::{ACCOUNT}:root"},
    {
        "accessKeyId": "AKIADEVELOPER001",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/developer",
        "policies": [
            policy(
                allow(
                    ["ecr:CreateRepository", "ecr:PutImage", "ecr:Describe*", "ecr:BatchGetImage"],
                    repo_arn("team/*"),
                ),
                allow("ecr:GetAuthorizationToken"),
                allow("ecr:BatchDeleteImage", repo_arn("team/*"), "Deny"),
            )
        ],
    },
    {"accessKeyId": "AKIANOTHING00001", "arn": f"arn:aws:iam::{ACCOUNT}:role/nothing"},
    {
        "accessKeyId": "AKIAPULLER000001",
        "arn": f"arn:aws:iam::{OTHER}:role/puller",
        "policies": [policy(allow(["ecr:BatchGetImage", "ecr:Describe*"], repo_arn("*")))],
    },
    {"accessKeyId": "AKIAOTHERNOTHING", "arn": f"arn:aws:iam::{OTHER}:role/nothing"},
]


def client(key):
    return boto3.client(
        "ecr", region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key="x"
    )


def error_of(call):
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_identity_policies_decide_within_the_account():
    with mock_ecr(enforce_iam=True, principals=PRINCIPALS):
        code, message = error_of(lambda: client("AKIAUNKNOWN00000").describe_repositories())
        assert (code, message) == (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
        root, developer, nobody = (
            client("AKIAROOTROOTROOT"),
            client("AKIADEVELOPER001"),
            client("AKIANOTHING00001"),
        )
        root.create_repository(repositoryName="admin/app")  # the root may do anything
        developer.create_repository(repositoryName="team/app")
        developer.put_image(
            repositoryName="team/app", imageManifest=docker_manifest("d"), imageTag="v1"
        )
        assert developer.batch_get_image(repositoryName="team/app", imageIds=[{"imageTag": "v1"}])[
            "images"
        ]
        code, message = error_of(lambda: developer.create_repository(repositoryName="admin/other"))
        assert code == "AccessDeniedException"
        assert message == (
            f"User: arn:aws:iam::{ACCOUNT}:user/developer is not authorized to perform: "
            f"ecr:CreateRepository on resource: {repo_arn('admin/other')} because no "
            "identity-based policy allows the ecr:CreateRepository action"
        )
        _code, message = error_of(
            lambda: developer.batch_delete_image(
                repositoryName="team/app", imageIds=[{"imageTag": "v1"}]
            )
        )
        assert message.endswith("with an explicit deny in an identity-based policy")
        # a repository that does not exist is refused, not revealed, where nothing allows
        assert error_of(lambda: nobody.describe_images(repositoryName="team/nope"))[0] == (
            "AccessDeniedException"
        )
        assert error_of(lambda: developer.describe_images(repositoryName="team/nope"))[0] == (
            "RepositoryNotFoundException"
        )
        # registry-level calls need an allow too; logging in is ecr:GetAuthorizationToken
        assert error_of(nobody.get_authorization_token)[0] == "AccessDeniedException"
        assert error_of(nobody.describe_registry)[0] == "AccessDeniedException"
        assert developer.get_authorization_token()["authorizationData"]
        # within the account a repository policy may allow what no identity policy does
        root.set_repository_policy(
            repositoryName="admin/app",
            policyText=json.dumps(
                policy(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/nothing"},
                        "Action": "ecr:DescribeImages",
                    }
                )
            ),
        )
        assert nobody.describe_images(repositoryName="admin/app")["imageDetails"] == []


def test_across_accounts_both_policies_must_allow():
    with mock_ecr(enforce_iam=True, principals=PRINCIPALS):
        root = client("AKIAROOTROOTROOT")
        root.create_repository(repositoryName="shared/app")
        root.put_image(
            repositoryName="shared/app", imageManifest=docker_manifest("s"), imageTag="v1"
        )
        puller, idle = client("AKIAPULLER000001"), client("AKIAOTHERNOTHING")
        pull = lambda c: c.batch_get_image(  # noqa: E731
            registryId=ACCOUNT, repositoryName="shared/app", imageIds=[{"imageTag": "v1"}]
        )
        _code, message = error_of(lambda: pull(puller))
        assert "because no resource-based policy allows" in message  # identity alone: no
        root.set_repository_policy(
            repositoryName="shared/app",
            policyText=json.dumps(
                policy(
                    {"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "ecr:BatchGetImage"}
                )
            ),
        )
        assert pull(puller)["images"]
        _code, message = error_of(lambda: pull(idle))  # resource alone: no
        assert "because no identity-based policy allows" in message


def test_docker_pull_is_judged_as_the_principal_of_the_login(tmp_path):
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    config = tmp_path / "iam.json"
    pull_policy = policy(
        allow("ecr:GetAuthorizationToken"),
        allow(
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            repo_arn("*"),
        ),
    )
    config.write_text(
        json.dumps(
            {
                "principals": [
                    PRINCIPALS[0],
                    {
                        "accessKeyId": "AKIALOGINONLY001",
                        "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
                        "policies": [policy(allow("ecr:GetAuthorizationToken"))],
                    },
                ]
            }
        )
    )
    docker = Docker(tmp_path / "docker-config", run_label())
    options = (
        "--enforce-iam",
        "--iam-config",
        str(config),
        "--registry-host",
        "--data-dir",
        str(tmp_path / "data"),
    )
    with serving(PYTHON_MODULE, tmp_path / "server.log", *options) as server:

        def ecr(key):
            return boto3.client(
                "ecr",
                endpoint_url=server.url,
                region_name="us-east-1",
                aws_access_key_id=key,
                aws_secret_access_key="x",
            )

        def login(key, config_dir):
            token = ecr(key).get_authorization_token()["authorizationData"][0]["authorizationToken"]
            user, _, password = base64.b64decode(token).decode().partition(":")
            logged = docker.with_config(tmp_path / config_dir)
            logged("login", "--username", user, "--password-stdin", server.host, input=password)
            return logged

        root = ecr("AKIAROOTROOTROOT")
        root.create_repository(repositoryName="iam/app")
        admin = login("AKIAROOTROOTROOT", "root")
        local = docker.build_busybox(
            tmp_path / "image", f"ecr-emulator-test/iam:{docker.label}", "hi"
        )
        remote = f"{server.host}/iam/app:v1"
        admin("tag", local, remote)
        admin("push", remote)
        admin("rmi", remote)
        refused = login("AKIALOGINONLY001", "ci")("pull", remote, check=False)
        assert refused.returncode != 0
        assert (
            f"denied: User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform: "
            "ecr:BatchGetImage"
        ) in refused.stderr
        # a principal added through the admin route, kept across a restart
        answer = requests.post(
            f"{server.url}/_emulator/iam/principals",
            json={
                "accessKeyId": "AKIAPULLER000002",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/puller",
                "policies": [pull_policy],
            },
            timeout=10,
        )
        assert answer.status_code == 200
        bad = requests.post(f"{server.url}/_emulator/iam/principals", json={"arn": "x"}, timeout=10)
        assert bad.status_code == 400
        try:
            pulled = login("AKIAPULLER000002", "puller")("pull", remote)
            assert "iam/app:v1" in pulled.stdout
        finally:
            docker.remove_test_images()
    with serving(PYTHON_MODULE, tmp_path / "server2.log", *options) as server:
        again = boto3.client(
            "ecr",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="AKIAPULLER000002",
            aws_secret_access_key="x",
        )
        assert again.batch_get_image(repositoryName="iam/app", imageIds=[{"imageTag": "v1"}])[
            "images"
        ]
