"""Repository creation templates: the four operations through boto3, prefix matching (the
longest prefix wins, ROOT otherwise), the settings a created repository gets, and create on
push with docker."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest
from registry_client import RegistryClient
from support import (
    BUSYBOX,
    PYTHON_MODULE,
    Docker,
    aws_cli,
    aws_env,
    require_docker,
    require_file,
    run,
    run_label,
    serving,
)

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Pull",
                "Effect": "Allow",
                "Principal": {"AWS": "210987654321"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
)
LIFECYCLE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "imageCountMoreThan",
                    "countNumber": 3,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


def test_templates_round_trip_and_errors(ecr):
    registry = ecr.describe_registry()["registryId"]
    created = ecr.create_repository_creation_template(
        prefix="prod/",
        description="production",
        appliedFor=["CREATE_ON_PUSH", "REPLICATION"],
        imageTagMutability="IMMUTABLE",
        resourceTags=[{"Key": "env", "Value": "prod"}],
        repositoryPolicy=POLICY,
        lifecyclePolicy=LIFECYCLE,
    )
    template = created["repositoryCreationTemplate"]
    assert created["registryId"] == registry
    assert template["prefix"] == "prod"
    assert template["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert template["createdAt"] == template["updatedAt"]
    with pytest.raises(ClientError, match="TemplateAlreadyExistsException"):
        ecr.create_repository_creation_template(prefix="prod", appliedFor=["REPLICATION"])
    ecr.create_repository_creation_template(prefix="ROOT", appliedFor=["PULL_THROUGH_CACHE"])
    listed = ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
    assert [t["prefix"] for t in listed] == ["ROOT", "prod"]
    one = ecr.describe_repository_creation_templates(prefixes=["prod"])
    assert one["repositoryCreationTemplates"][0]["description"] == "production"
    updated = ecr.update_repository_creation_template(prefix="prod", imageTagMutability="MUTABLE")
    assert updated["repositoryCreationTemplate"]["imageTagMutability"] == "MUTABLE"
    assert updated["repositoryCreationTemplate"]["description"] == "production"  # kept
    deleted = ecr.delete_repository_creation_template(prefix="ROOT")
    assert deleted["repositoryCreationTemplate"]["prefix"] == "ROOT"
    for call in (
        lambda: ecr.delete_repository_creation_template(prefix="ROOT"),
        lambda: ecr.update_repository_creation_template(prefix="nope", description="x"),
        lambda: ecr.describe_repository_creation_templates(prefixes=["nope"]),
    ):
        with pytest.raises(ClientError, match="TemplateNotFoundException"):
            call()
    for bad in (
        {"repositoryPolicy": "not a policy"},
        {"lifecyclePolicy": json.dumps({"rules": []}).ljust(120)},
        {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"},  # no exclusion filters
    ):
        with pytest.raises(ClientError, match="InvalidParameterException"):
            ecr.create_repository_creation_template(
                prefix="bad", appliedFor=["CREATE_ON_PUSH"], **bad
            )


def test_a_push_creates_the_repository_from_the_longest_matching_template(ecr):
    ecr.create_repository(repositoryName="seed/app")  # the registry exists
    ecr.create_repository_creation_template(
        prefix="ROOT", appliedFor=["CREATE_ON_PUSH"], imageTagMutability="MUTABLE"
    )
    ecr.create_repository_creation_template(
        prefix="team",
        appliedFor=["CREATE_ON_PUSH"],
        imageTagMutability="IMMUTABLE",
        encryptionConfiguration={"encryptionType": "KMS"},
        resourceTags=[{"Key": "team", "Value": "a"}],
        repositoryPolicy=POLICY,
        lifecyclePolicy=LIFECYCLE,
    )
    ecr.create_repository_creation_template(
        prefix="team/special", appliedFor=["REPLICATION"], imageTagMutability="MUTABLE"
    )
    registry = RegistryClient(ecr)
    _, answer = registry.push_image("team/special/app", "v1")  # REPLICATION only: "team" applies
    assert answer.status_code == 201
    (repository,) = ecr.describe_repositories(repositoryNames=["team/special/app"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["encryptionConfiguration"]["encryptionType"] == "KMS"
    tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
    assert tags == [{"Key": "team", "Value": "a"}]
    assert ecr.get_repository_policy(repositoryName="team/special/app")["policyText"] == POLICY
    assert (
        ecr.get_lifecycle_policy(repositoryName="team/special/app")["lifecyclePolicyText"]
        == LIFECYCLE
    )
    # an immutable repository from its template: the tag cannot move
    with pytest.raises(ClientError, match="ImageTagAlreadyExistsException"):
        ecr.put_image(
            repositoryName="team/special/app", imageManifest=docker_manifest("x"), imageTag="v1"
        )
    # ROOT for everything else; PutImage is a push too
    ecr.put_image(repositoryName="misc", imageManifest=docker_manifest("m"), imageTag="v1")
    (misc,) = ecr.describe_repositories(repositoryNames=["misc"])["repositories"]
    assert misc["imageTagMutability"] == "MUTABLE"
    # without a CREATE_ON_PUSH template, a push is refused as before
    ecr.delete_repository_creation_template(prefix="ROOT")
    with pytest.raises(ClientError, match="RepositoryNotFoundException"):
        ecr.put_image(repositoryName="nowhere", imageManifest=docker_manifest("n"), imageTag="v1")


def test_create_on_push_with_docker(tmp_path):
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    docker = Docker(tmp_path / "docker-config", run_label())
    (tmp_path / "server").mkdir()
    with serving(
        PYTHON_MODULE,
        tmp_path / "server.log",
        "--registry-host",
        "--data-dir",
        str(tmp_path / "data"),
    ) as server:
        aws = [*aws_cli(), "ecr", "--endpoint-url", server.url, "--output", "json"]
        env = aws_env()
        run(
            [
                *aws,
                "create-repository-creation-template",
                "--prefix",
                "auto",
                "--applied-for",
                "CREATE_ON_PUSH",
                "--image-tag-mutability",
                "IMMUTABLE",
                "--resource-tags",
                "Key=made-by,Value=template",
            ],
            env=env,
        )
        password = run([*aws, "get-login-password"], env=env).stdout.strip()
        docker("login", "--username", "AWS", "--password-stdin", server.host, input=password)
        try:
            local = docker.build_busybox(
                tmp_path / "image", f"ecr-emulator-test/cop:{docker.label}", "auto"
            )
            remote = f"{server.host}/auto/created/by-push:v1"
            docker("tag", local, remote)
            docker("push", remote)
            described = json.loads(
                run(
                    [*aws, "describe-repositories", "--repository-names", "auto/created/by-push"],
                    env=env,
                ).stdout
            )["repositories"][0]
            assert described["imageTagMutability"] == "IMMUTABLE"
            docker("rmi", remote)
            assert "auto" in docker("run", "--rm", "--network", "none", remote).stdout
            elsewhere = f"{server.host}/elsewhere/app:v1"
            docker("tag", local, elsewhere)
            refused = docker("push", elsewhere, check=False)
            assert refused.returncode != 0  # no template applies: refused as before
            assert "name unknown" in (refused.stderr + refused.stdout).lower(), refused.stderr
        finally:
            docker.remove_test_images()
            docker("logout", server.host, check=False)
