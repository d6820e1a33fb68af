"""The real ``aws`` CLI (PyPI awscli) against the live server: ``aws ecr ... --endpoint-url``.

Each CLI call costs about half a second, so set-up and checks go through boto3
and only the behaviour under test goes through ``aws``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import docker_manifest, ecr_client
from registry_client import manifest_digest

from ecr_emulator.tokens import verify_password

_BESIDE = Path(sys.executable).with_name("aws")
AWS = str(_BESIDE) if _BESIDE.exists() else shutil.which("aws")
ACCOUNT = "111111111111"
REGION = "eu-west-1"

pytestmark = pytest.mark.skipif(AWS is None, reason="the aws CLI (pip install awscli) is missing")


@pytest.fixture
def aws(ecr_server, tmp_path):
    """Run ``aws ecr <args>`` against the server; returns the finished process."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_")  # no profile, endpoint or keys from the outside
    }
    env.update(
        AWS_ACCESS_KEY_ID=ACCOUNT,
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        argv = [AWS, "ecr", *args, "--endpoint-url", ecr_server.url, "--output", "json"]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    return run


@pytest.fixture
def ecr(ecr_server):
    """boto3 for the same account and region as the CLI (overrides the two-target fixture)."""
    return ecr_client(REGION, ACCOUNT, endpoint_url=ecr_server.url)


def ok_json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_create_repository_and_describe_repositories(aws, ecr_server):
    created = ok_json(
        aws(
            "create-repository",
            "--repository-name",
            "team-a/cli",
            "--image-tag-mutability",
            "IMMUTABLE",
            "--tags",
            "Key=team,Value=a",
        )
    )["repository"]
    assert created["repositoryArn"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team-a/cli"
    assert created["registryId"] == ACCOUNT
    assert created["repositoryUri"] == f"{ecr_server.backend.registry_host}/team-a/cli"
    assert created["imageTagMutability"] == "IMMUTABLE"
    assert isinstance(created["createdAt"], (int, float))

    described = ok_json(aws("describe-repositories"))["repositories"]
    assert [(r["repositoryName"], r["imageTagMutability"]) for r in described] == [
        ("team-a/cli", "IMMUTABLE")
    ]


def test_put_image_describe_list_and_batch_delete(aws, ecr, tmp_path):
    ecr.create_repository(repositoryName="web")
    manifest = docker_manifest("cli", layer_sizes=(1000, 234))
    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_text(manifest)
    digest = manifest_digest(manifest)

    pushed = ok_json(
        aws(
            "put-image",
            "--repository-name",
            "web",
            "--image-tag",
            "v1",
            "--image-manifest",
            f"file://{manifest_file}",
        )
    )["image"]
    assert pushed["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    assert pushed["imageManifest"] == manifest
    ecr.put_image(repositoryName="web", imageManifest=manifest, imageTag="latest")

    (detail,) = ok_json(aws("describe-images", "--repository-name", "web"))["imageDetails"]
    assert detail["imageDigest"] == digest
    assert sorted(detail["imageTags"]) == ["latest", "v1"]
    assert detail["imageSizeInBytes"] == 1234
    assert detail["registryId"] == ACCOUNT

    listed = ok_json(aws("list-images", "--repository-name", "web"))["imageIds"]
    assert sorted(listed, key=lambda image: image["imageTag"]) == [
        {"imageDigest": digest, "imageTag": "latest"},
        {"imageDigest": digest, "imageTag": "v1"},
    ]

    deleted = ok_json(
        aws(
            "batch-delete-image",
            "--repository-name",
            "web",
            "--image-ids",
            "imageTag=v1",
            "imageTag=missing",
        )
    )
    assert deleted["imageIds"] == [{"imageDigest": digest, "imageTag": "v1"}]
    assert [failure["imageId"] for failure in deleted["failures"]] == [{"imageTag": "missing"}]
    assert deleted["failures"][0]["failureCode"] == "ImageNotFound"
    # Deleting one tag keeps the image under its other tag.
    (detail,) = ecr.describe_images(repositoryName="web")["imageDetails"]
    assert detail["imageTags"] == ["latest"]


def test_get_login_password_prints_the_registry_password(aws, ecr_server):
    done = aws("get-login-password")
    assert done.returncode == 0, done.stderr
    password = done.stdout.strip()
    assert "\n" not in password
    assert password
    grant = verify_password(ecr_server.backend, password)
    assert (grant.account, grant.region) == (ACCOUNT, REGION)


def test_tag_resource(aws, ecr):
    arn = ecr.create_repository(repositoryName="tagged")["repository"]["repositoryArn"]
    done = aws(
        "tag-resource", "--resource-arn", arn, "--tags", "Key=env,Value=prod", "Key=a,Value="
    )
    assert done.returncode == 0, done.stderr
    tags = ecr.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted((tag["Key"], tag["Value"]) for tag in tags) == [("a", ""), ("env", "prod")]


def test_missing_repository_is_an_error_exit(aws):
    done = aws("describe-repositories", "--repository-names", "missing")
    assert done.returncode in (254, 255)
    assert "RepositoryNotFoundException" in done.stderr
    assert (
        f"The repository with name 'missing' does not exist in the registry with id '{ACCOUNT}'"
        in done.stderr
    )
    assert done.stdout == ""
