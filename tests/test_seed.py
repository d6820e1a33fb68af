"""Fixtures files: ``mock_ecr(seed=...)`` and ``ecr-emulator serve --seed FILE``."""

from __future__ import annotations

import hashlib
import json
import subprocess

import boto3
import pytest
from conftest import docker_manifest
from registry_client import OCI_MANIFEST, RegistryClient
from support import PYTHON_MODULE, ROOT, serving

from ecr_emulator import mock_ecr
from ecr_emulator.seed import SeedError

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": "210987654321"},
         "Action": "ecr:BatchGetImage"}
    ],
}  # fmt: skip

LIFECYCLE_POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "untagged",
                "countType": "imageCountMoreThan",
                "countNumber": 5,
            },
            "action": {"type": "expire"},
        }
    ]
}

SEED = {
    "region": "us-east-1",
    "repositories": [
        {
            "repositoryName": "team/app",
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
            "tags": [{"Key": "team", "Value": "platform"}],
            "policy": POLICY,
            "lifecyclePolicy": LIFECYCLE_POLICY,
            "images": [
                {"tags": ["v1", "latest"], "files": {"hello.txt": "hello from a seed"}},
                {"tag": "raw", "manifest": json.loads(docker_manifest("seeded"))},
            ],
        },
        {"repositoryName": "other/account", "account": "210987654321", "region": "eu-west-1"},
    ],
}

SEED_YAML = """\
# what a test suite starts from
region: us-east-1
repositories:
  - repositoryName: team/app
    imageTagMutability: IMMUTABLE
    tags: [{Key: team, Value: platform}]
    images:
      - tags: [v1, latest]
        files: {hello.txt: "hello from a seed"}
"""


def check_seeded(ecr) -> None:
    (repository,) = ecr.describe_repositories(repositoryNames=["team/app"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    arn = repository["repositoryArn"]
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"Key": "team", "Value": "platform"}
    ]
    images = {
        tag: image["imageDigest"]
        for image in ecr.describe_images(repositoryName="team/app")["imageDetails"]
        for tag in image.get("imageTags", [])
    }
    assert images["v1"] == images["latest"]
    (found,) = ecr.batch_get_image(repositoryName="team/app", imageIds=[{"imageTag": "v1"}])[
        "images"
    ]
    manifest = json.loads(found["imageManifest"])
    assert manifest["mediaType"] == OCI_MANIFEST
    layers = ecr.batch_check_layer_availability(
        repositoryName="team/app", layerDigests=[layer["digest"] for layer in manifest["layers"]]
    )["layers"]
    assert [layer["layerAvailability"] for layer in layers] == ["AVAILABLE"]


def test_mock_ecr_starts_from_a_seed():
    with mock_ecr(seed=SEED):
        ecr = boto3.client("ecr", region_name="us-east-1")
        check_seeded(ecr)
        assert json.loads(ecr.get_repository_policy(repositoryName="team/app")["policyText"]) == (
            POLICY
        )
        text = ecr.get_lifecycle_policy(repositoryName="team/app")["lifecyclePolicyText"]
        assert json.loads(text) == LIFECYCLE_POLICY
        assert "raw" in str(ecr.list_images(repositoryName="team/app"))
        other = boto3.client(
            "ecr",
            region_name="eu-west-1",
            aws_access_key_id="210987654321",
            aws_secret_access_key="x",
        )
        assert other.describe_repositories()["repositories"][0]["repositoryName"] == (
            "other/account"
        )


def test_a_bad_seed_gets_ecrs_error():
    bad = {"repositories": [{"repositoryName": "x"}]}
    with pytest.raises(SeedError, match="seeding x: InvalidParameterException"):
        mock_ecr(seed=bad)
    with pytest.raises(SeedError, match="needs a repositoryName"):
        mock_ecr(seed={"repositories": [{"name": "forgot"}]})


def test_serve_seed_file_is_pullable_and_kept_once(tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED_YAML)
    options = ("--seed", str(seed), "--data-dir", str(tmp_path / "data"))
    for run in ("first", "second"):  # the second start finds the repository kept
        with serving(PYTHON_MODULE, tmp_path / f"{run}.log", *options) as server:
            ecr = server.client()
            check_seeded(ecr)
            registry = RegistryClient(ecr, server.url)
            answer = registry.get("/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
            layer = answer.json()["layers"][0]["digest"]
            blob = registry.get(f"/v2/team/app/blobs/{layer}").content
            assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer
            expected = "seeded 1 repositories" if run == "first" else "seeded 0 repositories"
            assert expected in server.log_text()


def test_serve_refuses_a_bad_seed_file(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"repositories": [{"repositoryName": "ok/name",
                                                   "imageTagMutability": "SOMETIMES"}]}))  # fmt: skip
    done = subprocess.run(
        [*PYTHON_MODULE, "serve", "--port", "0", "--seed", str(seed)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--seed" in done.stderr and "imageTagMutability" in done.stderr
