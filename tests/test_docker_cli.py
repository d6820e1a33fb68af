"""The real docker CLI and engine against ``ecr-emulator serve``: login, push, pull, run.

Every image is a ``FROM scratch`` image holding static busybox, so builds and
runs take well under a second and need no registry but the emulator.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from registry_client import DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST
from support import (
    BUSYBOX,
    Docker,
    EmulatorProcess,
    aws_cli,
    aws_env,
    registry_for_tools,
    require_docker,
    require_file,
    run,
    run_label,
)

pytestmark = pytest.mark.docker

PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Iterator[EmulatorProcess]:
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    with registry_for_tools(tmp_path_factory.mktemp("docker-emulator")) as server:
        yield server


@pytest.fixture(scope="module")
def docker(emulator, tmp_path_factory) -> Iterator[Docker]:
    """The docker CLI logged in to the emulator (its own config dir) with the aws CLI's password."""
    client = Docker(tmp_path_factory.mktemp("docker-config"), run_label())
    password = run(
        [*aws_cli(), "ecr", "get-login-password", "--endpoint-url", emulator.url],
        env=aws_env(),
    ).stdout.strip()
    login = client("login", "--username", "AWS", "--password-stdin", emulator.host, input=password)
    assert "Login Succeeded" in login.stdout
    yield client
    client.remove_test_images()
    client("logout", emulator.host, check=False)


@pytest.fixture
def build(docker, tmp_path):
    """Build a busybox image printing ``message``; returns its local tag."""
    count = itertools.count()

    def make(message: str) -> str:
        number = next(count)
        tag = f"ecr-emulator-test/busybox:{docker.label}-{tmp_path.name}-{number}"
        return docker.build_busybox(tmp_path / f"image{number}", tag.lower(), message)

    return make


def push(docker: Docker, local: str, remote: str) -> tuple[str, int]:
    docker("tag", local, remote)
    pushed = docker("push", remote)
    match = PUSHED_DIGEST.search(pushed.stdout)
    assert match, pushed.stdout
    return match[1], int(match[2])


def test_push_rmi_pull_run(emulator, docker, build):
    ecr = emulator.client()
    ecr.create_repository(repositoryName="docker/hello")
    local = build("hello-from-ecr-emulator")
    remote = f"{emulator.host}/docker/hello:v1"
    digest, manifest_size = push(docker, local, remote)

    docker("rmi", remote, local)
    assert not docker.image_exists(remote)
    pulled = docker("pull", remote)
    assert digest in pulled.stdout
    ran = docker("run", "--rm", "--network", "none", remote)
    assert ran.stdout.strip() == "hello-from-ecr-emulator"
    docker("pull", f"{emulator.host}/docker/hello@{digest}")

    (details,) = ecr.describe_images(repositoryName="docker/hello")["imageDetails"]
    assert details["imageDigest"] == digest
    assert details["imageTags"] == ["v1"]
    assert details["imageManifestMediaType"] == DOCKER_MANIFEST
    assert details["artifactMediaType"] == DOCKER_CONFIG
    assert "lastRecordedPullTime" in details
    (image,) = ecr.batch_get_image(repositoryName="docker/hello", imageIds=[{"imageTag": "v1"}])[
        "images"
    ]
    manifest = json.loads(image["imageManifest"])
    assert len(image["imageManifest"].encode()) == manifest_size
    # ECR reports the compressed size of the layers; busybox gzips to about 1 MB.
    (layer,) = manifest["layers"]
    assert details["imageSizeInBytes"] == layer["size"]
    assert 500_000 < layer["size"] < BUSYBOX.stat().st_size
    availability = ecr.batch_check_layer_availability(
        repositoryName="docker/hello", layerDigests=[layer["digest"]]
    )
    assert availability["layers"][0]["layerAvailability"] == "AVAILABLE"
    assert availability["layers"][0]["layerSize"] == layer["size"]


def test_immutable_tag_cannot_be_overwritten(emulator, docker, build):
    ecr = emulator.client()
    ecr.create_repository(repositoryName="docker/immutable", imageTagMutability="IMMUTABLE")
    remote = f"{emulator.host}/docker/immutable:release"
    first, _ = push(docker, build("first"), remote)

    docker("tag", build("second"), remote)
    refused = docker("push", remote, check=False)
    assert refused.returncode != 0
    output = (refused.stdout + refused.stderr).lower()
    assert "tag invalid" in output
    assert "immutable" in output
    (details,) = ecr.describe_images(repositoryName="docker/immutable")["imageDetails"]
    assert details["imageDigest"] == first

    # Another tag is fine: immutability protects tags, not the repository.
    second, _ = push(docker, remote, f"{emulator.host}/docker/immutable:next")
    assert second != first


def test_push_without_login_is_refused(emulator, docker, build, tmp_path):
    ecr = emulator.client()
    ecr.create_repository(repositoryName="docker/private")
    anonymous = docker.with_config(tmp_path / "no-credentials")
    remote = f"{emulator.host}/docker/private:v1"
    anonymous("tag", build("anonymous"), remote)
    refused = anonymous("push", remote, check=False)
    assert refused.returncode != 0
    # the server's challenge is a token's (ECR Public shares its host): with no login,
    # docker gets an anonymous token, and a private repository refuses it
    assert "denied: anonymous access reaches public repositories only" in refused.stderr
    assert ecr.describe_images(repositoryName="docker/private")["imageDetails"] == []
    # The same push with the logged-in config succeeds.
    push(docker, remote, remote)


def test_push_to_missing_repository_fails(emulator, docker, build):
    remote = f"{emulator.host}/docker/never-created:v1"
    docker("tag", build("nowhere"), remote)
    refused = docker("push", remote, check=False)
    assert refused.returncode != 0
    assert "name unknown" in (refused.stdout + refused.stderr).lower()
    ecr = emulator.client()
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_repositories(repositoryNames=["docker/never-created"])


def push_two_platforms(emulator, docker, build, repository: str) -> tuple[dict[str, str], str]:
    """Push one busybox image per platform; returns ({arch: digest}, the engine's arch)."""
    emulator.client().create_repository(repositoryName=repository)
    native = docker("version", "--format", "{{.Server.Arch}}").stdout.strip()
    other = "arm64" if native != "arm64" else "amd64"
    repo = f"{emulator.host}/{repository}"
    digests = {
        arch: push(docker, build(f"running-on-{arch}"), f"{repo}:{arch}")[0]
        for arch in (native, other)
    }
    return digests, native


def check_index(emulator, docker, repository: str, tag: str, digest: str, native: str) -> None:
    """DescribeImages sees the index; docker pull resolves it to the engine's own platform."""
    ecr = emulator.client()
    (index,) = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])[
        "imageDetails"
    ]
    assert index["imageDigest"] == digest
    assert index["imageManifestMediaType"] == DOCKER_LIST
    images = ecr.describe_images(repositoryName=repository)["imageDetails"]
    assert len(images) == 3
    children = [image for image in images if image["imageDigest"] != digest]
    assert index["imageSizeInBytes"] == max(child["imageSizeInBytes"] for child in children)

    reference = f"{emulator.host}/{repository}:{tag}"
    docker("pull", reference)
    ran = docker("run", "--rm", "--network", "none", reference)
    assert ran.stdout.strip() == f"running-on-{native}"


def test_multi_arch_index_pushed_over_the_registry_api(emulator, docker, build):
    digests, native = push_two_platforms(emulator, docker, build, "docker/multi")
    base = f"{emulator.url}/v2/docker/multi"
    auth = ("AWS", emulator.password())
    children = []
    for arch, digest in digests.items():
        answer = requests.get(
            f"{base}/manifests/{digest}", headers={"Accept": DOCKER_MANIFEST}, auth=auth
        )
        assert answer.status_code == 200
        children.append(
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": digest,
                "size": len(answer.content),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": children})
    answer = requests.put(
        f"{base}/manifests/1", data=index, headers={"Content-Type": DOCKER_LIST}, auth=auth
    )
    assert answer.status_code == 201, answer.text
    digest = answer.headers["Docker-Content-Digest"]

    inspected = requests.get(f"{base}/manifests/1", headers={"Accept": DOCKER_LIST}, auth=auth)
    assert inspected.headers["Content-Type"] == DOCKER_LIST
    assert inspected.content == index.encode()
    check_index(emulator, docker, "docker/multi", "1", digest, native)


def test_multi_arch_index_with_docker_manifest(emulator, docker, build):
    digests, native = push_two_platforms(emulator, docker, build, "docker/manifest-cli")
    repo = f"{emulator.host}/docker/manifest-cli"
    sources = [f"{repo}:{arch}" for arch in digests]
    docker("manifest", "create", "--insecure", f"{repo}:1", *sources)
    for arch in digests:
        docker(
            "manifest", "annotate", "--arch", arch, "--os", "linux", f"{repo}:1", f"{repo}:{arch}"
        )
    pushed = docker("manifest", "push", "--purge", "--insecure", f"{repo}:1")
    digest = re.search(r"sha256:[0-9a-f]{64}", pushed.stdout)[0]

    inspected = json.loads(docker("manifest", "inspect", "--insecure", f"{repo}:1").stdout)
    assert inspected["mediaType"] == DOCKER_LIST
    platforms = {
        entry["platform"]["architecture"]: entry["digest"] for entry in inspected["manifests"]
    }
    assert platforms == digests
    check_index(emulator, docker, "docker/manifest-cli", "1", digest, native)


def test_docker_login_with_a_wrong_password_fails(emulator, docker, tmp_path: Path):
    stranger = docker.with_config(tmp_path / "wrong-password")
    refused = stranger(
        "login", "--username", "AWS", "--password-stdin", emulator.host, input="wrong", check=False
    )
    assert refused.returncode != 0
    assert "401" in refused.stderr or "unauthorized" in refused.stderr.lower()


def login_as_other_account(docker: Docker, emulator: EmulatorProcess, config: Path) -> Docker:
    """A docker CLI logged in as account 222222222222 with a password asked for the default
    account's registry (``aws ecr get-authorization-token --registry-ids``): on the server
    every registry shares one host, so the password names the registry it reaches."""
    other = docker.with_config(config)
    env = dict(aws_env(), AWS_ACCESS_KEY_ID="222222222222")
    token = run(
        [
            *aws_cli(),
            "ecr",
            "get-authorization-token",
            "--registry-ids",
            "123456789012",
            "--query",
            "authorizationData[0].authorizationToken",
            "--output",
            "text",
            "--endpoint-url",
            emulator.url,
        ],
        env=env,
    ).stdout.strip()
    user, _, password = base64.b64decode(token).decode().partition(":")
    login = other("login", "--username", user, "--password-stdin", emulator.host, input=password)
    assert "Login Succeeded" in login.stdout
    return other


def test_cross_account_pull_is_refused_until_the_owner_allows_it(emulator, docker, build, tmp_path):
    owner = emulator.client()
    owner.create_repository(repositoryName="docker/shared")
    remote = f"{emulator.host}/docker/shared:v1"
    digest, _ = push(docker, build("shared-across-accounts"), remote)
    other = login_as_other_account(docker, emulator, tmp_path / "other-account")

    refused = other("pull", remote, check=False)
    assert refused.returncode != 0
    assert (
        "denied: User: arn:aws:iam::222222222222:root is not authorized to perform: "
        "ecr:BatchGetImage on resource: "
        "arn:aws:ecr:us-east-1:123456789012:repository/docker/shared because no "
        "resource-based policy allows the ecr:BatchGetImage action"
    ) in refused.stderr

    pull = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    statement = {"Effect": "Allow", "Principal": {"AWS": "222222222222"}, "Action": pull}
    owner.set_repository_policy(
        repositoryName="docker/shared",
        policyText=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    docker("rmi", remote)
    pulled = other("pull", remote)
    assert digest in pulled.stdout
    ran = other("run", "--rm", "--network", "none", remote)
    assert ran.stdout.strip() == "shared-across-accounts"

    # Pulling is not pushing: the same login cannot overwrite the owner's tag.
    other("tag", build("planted"), remote)
    refused = other("push", remote, check=False)
    assert refused.returncode != 0
    assert "ecr:InitiateLayerUpload" in refused.stderr + refused.stdout
    (image,) = owner.describe_images(repositoryName="docker/shared")["imageDetails"]
    assert image["imageDigest"] == digest


def test_cross_account_pull_through_a_registry_policy(emulator, docker, build, tmp_path):
    """The owner's registry policy (scope V2) grants the pull for every repository it names;
    a Deny in it for one repository refuses that one, whatever else allows."""
    owner = emulator.client()
    for name in ("registry-policy/a", "registry-policy/b"):
        owner.create_repository(repositoryName=name)
    remote_a = f"{emulator.host}/registry-policy/a:v1"
    remote_b = f"{emulator.host}/registry-policy/b:v1"
    digest, _ = push(docker, build("granted-by-the-registry"), remote_a)
    push(docker, build("denied-by-the-registry"), remote_b)
    other = login_as_other_account(docker, emulator, tmp_path / "other-account")
    assert other("pull", remote_a, check=False).returncode != 0

    arn = "arn:aws:ecr:us-east-1:123456789012:repository"
    pull = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    statements = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "222222222222"},
            "Action": pull,
            "Resource": f"{arn}/registry-policy/*",
        },
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "ecr:*",
            "Resource": f"{arn}/registry-policy/b",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": "222222222222"}},
        },
    ]
    owner.put_registry_policy(
        policyText=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )
    try:
        docker("rmi", remote_a, remote_b)
        pulled = other("pull", remote_a)
        assert digest in pulled.stdout
        ran = other("run", "--rm", "--network", "none", remote_a)
        assert ran.stdout.strip() == "granted-by-the-registry"
        refused = other("pull", remote_b, check=False)
        assert refused.returncode != 0
        assert "with an explicit deny in a resource-based policy" in refused.stderr
    finally:
        owner.delete_registry_policy()
