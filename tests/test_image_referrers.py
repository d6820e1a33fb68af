"""ListImageReferrers beside the registry's referrers API (one list, two wires), and the
pull-time update exclusions (Register/Deregister/ListPullTimeUpdateExclusion)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest
from registry_client import OCI_MANIFEST, RegistryClient, digest_of

from ecr_emulator import mock_ecr

REPO = "refs/app"
EMPTY = b"{}"


def artifact(subject: dict, artifact_type: str, note: str) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": digest_of(EMPTY),
            "size": len(EMPTY),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": digest_of(EMPTY),
                "size": len(EMPTY),
            }
        ],
        "subject": subject,
        "annotations": {"note": note},
    }


def test_list_image_referrers_matches_the_registry_listing(ecr):
    ecr.create_repository(repositoryName=REPO)
    registry = RegistryClient(ecr)
    manifest, answer = registry.push_image(REPO, "v1")
    subject_digest = answer.headers["Docker-Content-Digest"]
    subject = {
        "mediaType": OCI_MANIFEST,
        "digest": subject_digest,
        "size": len(json.dumps(manifest)),
    }
    registry.push_blob(REPO, EMPTY)
    kinds = [
        "application/vnd.example.sbom",
        "application/vnd.example.sig",
        "application/vnd.example.sbom",
    ]
    for number, kind in enumerate(kinds):
        put = registry.put_manifest(
            REPO,
            digest_of(json.dumps(artifact(subject, kind, str(number))).encode()),
            artifact(subject, kind, str(number)),
        )
        assert put.status_code == 201
    listed = registry.get(f"/v2/{REPO}/referrers/{subject_digest}").json()["manifests"]
    answer = ecr.list_image_referrers(
        repositoryName=REPO, subjectId={"imageDigest": subject_digest}
    )
    referrers = answer["referrers"]
    assert [r["digest"] for r in referrers] == [d["digest"] for d in listed]
    for mine, theirs in zip(referrers, listed, strict=True):
        assert mine == {**theirs, "artifactStatus": "ACTIVE"}
    sboms = ecr.list_image_referrers(
        repositoryName=REPO,
        subjectId={"imageDigest": subject_digest},
        filter={"artifactTypes": ["application/vnd.example.sbom"]},
    )["referrers"]
    assert len(sboms) == 2 and {r["artifactType"] for r in sboms} == {
        "application/vnd.example.sbom"
    }
    first = ecr.list_image_referrers(
        repositoryName=REPO, subjectId={"imageDigest": subject_digest}, maxResults=2
    )
    rest = ecr.list_image_referrers(
        repositoryName=REPO, subjectId={"imageDigest": subject_digest}, nextToken=first["nextToken"]
    )
    assert len(first["referrers"]) == 2 and len(rest["referrers"]) == 1
    ecr.update_image_storage_class(
        repositoryName=REPO,
        imageId={"imageDigest": referrers[0]["digest"]},
        targetStorageClass="ARCHIVE",
    )
    archived = ecr.list_image_referrers(
        repositoryName=REPO,
        subjectId={"imageDigest": subject_digest},
        filter={"artifactStatus": "ARCHIVED"},
    )["referrers"]
    assert [r["digest"] for r in archived] == [referrers[0]["digest"]]
    with pytest.raises(ClientError, match="RepositoryNotFoundException"):
        ecr.list_image_referrers(
            repositoryName="refs/none", subjectId={"imageDigest": subject_digest}
        )


ACCOUNT = "111111111111"
READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}],
}


def test_excluded_principals_do_not_move_the_pull_time():
    clock_start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    from ecr_emulator.clock import ManualClock

    clock = ManualClock(clock_start)
    principals = [
        {"accessKeyId": "AKIAROOT00000001", "arn": f"arn:aws:iam::{ACCOUNT}:root"},
        {
            "accessKeyId": "AKIASCANNER00001",
            "arn": f"arn:aws:iam::{ACCOUNT}:role/scanner",
            "policies": [READ],
        },
        {
            "accessKeyId": "AKIADEPLOY000001",
            "arn": f"arn:aws:iam::{ACCOUNT}:role/deploy",
            "policies": [READ],
        },
    ]
    with mock_ecr(enforce_iam=True, principals=principals, clock=clock):
        import boto3

        def client(key):
            return boto3.client(
                "ecr", region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key="x"
            )

        root, scanner, deploy = (
            client("AKIAROOT00000001"),
            client("AKIASCANNER00001"),
            client("AKIADEPLOY000001"),
        )
        root.create_repository(repositoryName=REPO)
        root.put_image(repositoryName=REPO, imageManifest=docker_manifest("p"), imageTag="v1")
        scanner_arn = f"arn:aws:iam::{ACCOUNT}:role/scanner"
        registered = root.register_pull_time_update_exclusion(principalArn=scanner_arn)
        assert registered["createdAt"] == clock_start
        with pytest.raises(ClientError, match="ExclusionAlreadyExistsException"):
            root.register_pull_time_update_exclusion(principalArn=scanner_arn)
        assert root.list_pull_time_update_exclusions()["pullTimeUpdateExclusions"] == [scanner_arn]

        def pulled_at():
            return root.describe_images(repositoryName=REPO)["imageDetails"][0].get(
                "lastRecordedPullTime"
            )

        clock.advance(hours=1)
        scanner.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
        assert pulled_at() is None  # excluded: not recorded
        deploy.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
        assert pulled_at() == clock_start + dt.timedelta(hours=1)
        root.deregister_pull_time_update_exclusion(principalArn=scanner_arn)
        with pytest.raises(ClientError, match="ExclusionNotFoundException"):
            root.deregister_pull_time_update_exclusion(principalArn=scanner_arn)
        clock.advance(hours=1)
        scanner.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
        assert pulled_at() == clock_start + dt.timedelta(hours=2)
