"""Lifecycle policies on a live server, end to end: images pushed with docker, the policy
set and previewed with the aws CLI, the clock moved 91 days, ``POST
/_emulator/lifecycle/run``; expired images stop pulling and their own layers leave the
disk, an archived image refuses docker pull until it is restored."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import requests
from registry_client import RegistryClient
from support import (
    BUSYBOX,
    Docker,
    aws_cli,
    aws_env,
    registry_for_tools,
    require_docker,
    require_file,
    run,
    run_label,
)

pytestmark = pytest.mark.docker

REPOSITORY = "lifecycle/docker"
PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")
POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "old builds go after 90 days",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["old"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 90,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "releases are archived after 30 days",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["rel-*"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 30,
            },
            "action": {"type": "transition", "targetStorageClass": "archive"},
        },
    ]
}


def build_unique(docker: Docker, context: Path, tag: str) -> str:
    """Busybox plus a layer of random bytes only this image has."""
    context.mkdir(parents=True)
    shutil.copy(BUSYBOX, context / "busybox")  # keeps its mode: it must stay executable
    (context / "unique").write_bytes(os.urandom(32 * 1024))
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nCOPY unique /unique\nCMD ["/bin/busybox", "echo", "hi"]\n'
    )
    docker("build", "--label", f"ecr-emulator-test={docker.label}", "-t", tag, context)
    return tag


def test_lifecycle_run_expires_and_archives_what_docker_pushed(tmp_path):
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    docker = Docker(tmp_path / "docker-config", run_label())
    (tmp_path / "server").mkdir()
    with registry_for_tools(tmp_path / "server") as server:
        aws = [*aws_cli(), "ecr", "--endpoint-url", server.url, "--output", "json"]
        env = aws_env()

        def cli(*args: str) -> dict:
            answer = run([*aws, *args], env=env).stdout
            return json.loads(answer) if answer.strip() else {}

        password = run([*aws, "get-login-password"], env=env).stdout.strip()
        docker("login", "--username", "AWS", "--password-stdin", server.host, input=password)
        try:
            cli("create-repository", "--repository-name", REPOSITORY)
            digests = {}
            for tag in ("old-1", "old-2", "rel-1", "new-1"):
                local = build_unique(
                    docker, tmp_path / tag, f"ecr-emulator-test/lc:{docker.label}-{tag}"
                )
                remote = f"{server.host}/{REPOSITORY}:{tag}"
                docker("tag", local, remote)
                digests[tag] = PUSHED_DIGEST.search(docker("push", remote).stdout)[1]
                docker("rmi", remote)
            registry = RegistryClient(server.client(), server.url)
            old_layer = _unique_layer(registry, digests["old-1"])

            policy_file = tmp_path / "policy.json"
            policy_file.write_text(json.dumps(POLICY))
            cli(
                "put-lifecycle-policy",
                "--repository-name",
                REPOSITORY,
                "--lifecycle-policy-text",
                f"file://{policy_file}",
            )
            moved = requests.post(
                f"{server.url}/_emulator/clock", json={"advance_seconds": 91 * 86400}, timeout=10
            )
            assert moved.status_code == 200
            # 91 days on, the login of the pushes has expired (12 h): log in again
            password = run([*aws, "get-login-password"], env=env).stdout.strip()
            docker("login", "--username", "AWS", "--password-stdin", server.host, input=password)
            registry = RegistryClient(server.client(), server.url)

            cli("start-lifecycle-policy-preview", "--repository-name", REPOSITORY)
            run(
                [
                    *aws,
                    "wait",
                    "lifecycle-policy-preview-complete",
                    "--repository-name",
                    REPOSITORY,
                ],
                env=env,
            )
            preview = cli("get-lifecycle-policy-preview", "--repository-name", REPOSITORY)
            planned = {
                (r["imageDigest"], r["action"]["type"], r["appliedRulePriority"])
                for r in preview["previewResults"]
            }
            assert planned == {
                (digests["old-1"], "EXPIRE", 1),
                (digests["old-2"], "EXPIRE", 1),
                (digests["rel-1"], "TRANSITION", 2),
            }

            answer = requests.post(f"{server.url}/_emulator/lifecycle/run", timeout=30)
            assert answer.status_code == 200
            taken = answer.json()
            assert {
                (a["imageDigest"], a["action"], a["appliedRulePriority"]) for a in taken
            } == planned
            assert requests.post(f"{server.url}/_emulator/lifecycle/run", timeout=30).json() == []

            # expired: gone from the API, from /v2/ and (their own layers) from the disk
            listed = cli("list-images", "--repository-name", REPOSITORY)["imageIds"]
            assert {i["imageTag"] for i in listed} == {"rel-1", "new-1"}
            failed = docker("pull", f"{server.host}/{REPOSITORY}:old-1", check=False)
            assert failed.returncode != 0 and "not found" in failed.stderr.lower(), failed.stderr
            assert registry.get(f"/v2/{REPOSITORY}/blobs/{old_layer}").status_code == 404
            data = tmp_path / "server" / "data"
            assert not any(old_layer.split(":")[1] in p.name for p in data.rglob("*"))
            assert cli("get-lifecycle-policy", "--repository-name", REPOSITORY)["lastEvaluatedAt"]

            # archived: described, not pullable until restored
            (detail,) = cli(
                "describe-images", "--repository-name", REPOSITORY, "--image-ids", "imageTag=rel-1"
            )["imageDetails"]
            assert detail["imageStatus"] == "ARCHIVED"
            refused = docker("pull", f"{server.host}/{REPOSITORY}:rel-1", check=False)
            assert refused.returncode != 0
            assert "inaccessible state" in refused.stderr, refused.stderr
            restoring = cli(
                "update-image-storage-class",
                "--repository-name",
                REPOSITORY,
                "--image-id",
                "imageTag=rel-1",
                "--target-storage-class",
                "STANDARD",
            )
            assert restoring["imageStatus"] == "ACTIVATING"
            requests.post(
                f"{server.url}/_emulator/clock", json={"advance_seconds": 120}, timeout=10
            )
            pulled = docker("pull", f"{server.host}/{REPOSITORY}:rel-1")
            assert digests["rel-1"] in pulled.stdout
            ran = docker("run", "--rm", "--network", "none", f"{server.host}/{REPOSITORY}:rel-1")
            assert ran.stdout.strip() == "hi"
            assert digests["new-1"] in docker("pull", f"{server.host}/{REPOSITORY}:new-1").stdout
        finally:
            docker.remove_test_images()
            docker("logout", server.host, check=False)
        assert "Traceback" not in server.log_text()


def _unique_layer(registry: RegistryClient, digest: str) -> str:
    """The last layer of the image ``digest``: the random bytes only it holds."""
    manifest = registry.get(
        f"/v2/{REPOSITORY}/manifests/{digest}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    ).json()
    return manifest["layers"][-1]["digest"]
