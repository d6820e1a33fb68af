"""Replication through boto3 in-process and with docker on a server: rules and filters,
cross-region and cross-account copies (the destination's registry policy decides),
creation templates for replicas, immutable tags, deletes that stay put, per-destination
statuses."""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest
from registry_client import RegistryClient
from support import BUSYBOX, PYTHON_MODULE, Docker, require_docker, require_file, run_label, serving

from ecr_emulator import mock_ecr

SOURCE = "111111111111"
FRIEND = "222222222222"
STRANGER = "333333333333"


def client(account, region="us-east-1", endpoint=None):
    return boto3.client(
        "ecr",
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="x",
        endpoint_url=endpoint,
    )


def allow_replication(source):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Replicate",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{source}:root"},
                    "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                    "Resource": f"arn:aws:ecr:us-east-1:{FRIEND}:repository/*",
                }
            ],
        }
    )


CONFIGURATION = {
    "rules": [
        {
            "destinations": [
                {"region": "us-west-2", "registryId": SOURCE},
                {"region": "us-east-1", "registryId": FRIEND},
                {"region": "us-east-1", "registryId": STRANGER},
            ],
            "repositoryFilters": [{"filter": "prod", "filterType": "PREFIX_MATCH"}],
        }
    ]
}


def test_replication_in_process():
    with mock_ecr():
        source, west = client(SOURCE), client(SOURCE, "us-west-2")
        friend, stranger = client(FRIEND), client(STRANGER)
        friend.put_registry_policy(policyText=allow_replication(SOURCE))
        stranger.describe_registry()
        with pytest.raises(ClientError, match="InvalidParameterException"):
            source.put_replication_configuration(
                replicationConfiguration={
                    "rules": [{"destinations": [{"region": "us-east-1", "registryId": SOURCE}]}]
                }
            )
        source.put_replication_configuration(replicationConfiguration=CONFIGURATION)
        assert source.describe_registry()["replicationConfiguration"] == CONFIGURATION
        west.create_repository_creation_template(
            prefix="prod", appliedFor=["REPLICATION"], imageTagMutability="IMMUTABLE"
        )
        for name in ("prod/app", "dev/app"):
            source.create_repository(repositoryName=name)
        registry = RegistryClient(source)
        _manifest, answer = registry.push_image("prod/app", "v1")
        digest = answer.headers["Docker-Content-Digest"]
        registry.push_image("dev/app", "v1")  # not matched by the filter

        statuses = source.describe_image_replication_status(
            repositoryName="prod/app", imageId={"imageTag": "v1"}
        )["replicationStatuses"]
        by_destination = {(s["region"], s["registryId"]): s for s in statuses}
        assert by_destination[("us-west-2", SOURCE)]["status"] == "COMPLETE"
        assert by_destination[("us-east-1", FRIEND)]["status"] == "COMPLETE"
        assert by_destination[("us-east-1", STRANGER)] == {
            "region": "us-east-1",
            "registryId": STRANGER,
            "status": "FAILED",
            "failureCode": "REPLICATION_ACCESS_DENIED",
        }
        # the replicas pull: manifest and every blob, from the destinations' own registries
        for destination in (west, friend):
            (image,) = destination.batch_get_image(
                repositoryName="prod/app", imageIds=[{"imageTag": "v1"}]
            )["images"]
            assert image["imageId"]["imageDigest"] == digest
            pulled = RegistryClient(destination)
            for layer in json.loads(image["imageManifest"])["layers"]:
                assert pulled.get(f"/v2/prod/app/blobs/{layer['digest']}").status_code == 200
        assert (
            west.describe_repositories(repositoryNames=["prod/app"])["repositories"][0][
                "imageTagMutability"
            ]
            == "IMMUTABLE"
        )  # its REPLICATION template
        with pytest.raises(ClientError, match="RepositoryNotFoundException"):
            west.describe_images(repositoryName="dev/app")
        with pytest.raises(ClientError, match="RepositoryNotFoundException"):
            stranger.describe_images(repositoryName="prod/app")

        # an immutable tag at the destination stays; the new image arrives untagged there
        source.put_image(
            repositoryName="prod/app", imageManifest=docker_manifest("v1b"), imageTag="v1"
        )
        replicas = west.describe_images(repositoryName="prod/app")["imageDetails"]
        assert sorted(r.get("imageTags", []) == ["v1"] for r in replicas) == [False, True]
        # deletes are not replicated
        source.batch_delete_image(repositoryName="prod/app", imageIds=[{"imageDigest": digest}])
        assert west.batch_get_image(repositoryName="prod/app", imageIds=[{"imageDigest": digest}])[
            "images"
        ]


def test_docker_pulls_the_replicas(tmp_path):
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    docker = Docker(tmp_path / "docker-config", run_label())
    with serving(PYTHON_MODULE, tmp_path / "server.log", "--registry-host") as server:
        source = client(SOURCE, endpoint=server.url)
        friend = client(FRIEND, endpoint=server.url)
        friend.put_registry_policy(policyText=allow_replication(SOURCE))
        source.put_replication_configuration(
            replicationConfiguration={
                "rules": [
                    {
                        "destinations": [
                            {"region": "us-west-2", "registryId": SOURCE},
                            {"region": "us-east-1", "registryId": FRIEND},
                        ]
                    }
                ]
            }
        )
        source.create_repository(repositoryName="replicated/app")

        def login(ecr, config):
            token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
            user, _, password = base64.b64decode(token).decode().partition(":")
            logged = docker.with_config(tmp_path / config)
            logged("login", "--username", user, "--password-stdin", server.host, input=password)
            return logged

        try:
            pusher = login(source, "source")
            local = docker.build_busybox(
                tmp_path / "image", f"ecr-emulator-test/rep:{docker.label}", "replicated"
            )
            remote = f"{server.host}/replicated/app:v1"
            pusher("tag", local, remote)
            pusher("push", remote)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                statuses = source.describe_image_replication_status(
                    repositoryName="replicated/app", imageId={"imageTag": "v1"}
                )["replicationStatuses"]
                if statuses and all(s["status"] != "IN_PROGRESS" for s in statuses):
                    break
                time.sleep(0.2)
            assert {s["status"] for s in statuses} == {"COMPLETE"}, statuses
            pusher("rmi", remote)
            for ecr, config in (
                (client(SOURCE, "us-west-2", server.url), "west"),
                (friend, "friend"),
            ):
                puller = login(ecr, config)
                puller("pull", remote)
                assert (
                    puller("run", "--rm", "--network", "none", remote).stdout.strip()
                    == "replicated"
                )
                puller("rmi", remote)
        finally:
            docker.remove_test_images()


def test_backfill_copies_what_was_there_before():
    with mock_ecr():
        source, west = client(SOURCE), client(SOURCE, "us-west-2")
        source.create_repository(repositoryName="old/app")
        for n in range(3):
            source.put_image(
                repositoryName="old/app", imageManifest=docker_manifest(f"o{n}"), imageTag=f"v{n}"
            )
        destination = {"region": "us-west-2", "registryId": SOURCE}
        with pytest.raises(ClientError, match="InvalidParameterException"):
            source.start_replication_backfill(destination=destination)  # not configured yet
        source.put_replication_configuration(
            replicationConfiguration={"rules": [{"destinations": [destination]}]}
        )
        with pytest.raises(ClientError, match="RepositoryNotFoundException"):
            west.describe_images(repositoryName="old/app")  # configuration alone copies nothing
        started = source.start_replication_backfill(destination=destination)
        backfill_id = started["replicationBackfillId"]
        assert started["destination"] == destination
        results = source.describe_replication_backfill_results(replicationBackfillId=backfill_id)
        assert results["status"] == "COMPLETE"
        assert results["progress"]["totalReplicationCount"] == 3
        assert results["progress"]["completedReplicationCount"] == 3
        assert {r["status"] for r in results["results"]} == {"COMPLETE"}
        assert len(west.describe_images(repositoryName="old/app")["imageDetails"]) == 3
        listed = source.list_replication_backfills()["backfills"]
        assert [b["replicationBackfillId"] for b in listed] == [backfill_id]
        with pytest.raises(ClientError, match="ReplicationBackfillInvalidStatusException"):
            source.stop_replication_backfill(replicationBackfillId=backfill_id)
        with pytest.raises(ClientError, match="ReplicationBackfillNotFoundException"):
            source.describe_replication_backfill_results(
                replicationBackfillId="00000000-0000-0000-0000-000000000000"
            )
