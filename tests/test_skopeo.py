"""skopeo against ``ecr-emulator serve``: copies (cross-repository mount, OCI layout and back),
list-tags, delete and a multi-arch OCI index, all with ECR credentials.

The source images are OCI layouts written by the tests, so no Docker engine is needed.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from registry_client import OCI_INDEX, OCI_MANIFEST
from support import (
    BUSYBOX,
    EmulatorProcess,
    LayoutImage,
    OciLayout,
    registry_for_tools,
    require_file,
    require_tool,
    run,
)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Iterator[EmulatorProcess]:
    require_tool("skopeo")
    require_file(BUSYBOX, "busybox-static")
    with registry_for_tools(tmp_path_factory.mktemp("skopeo-emulator")) as server:
        yield server


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> OciLayout:
    return OciLayout(tmp_path_factory.mktemp("layout") / "oci")


@pytest.fixture(scope="module")
def hello(layout) -> LayoutImage:
    return layout.image("hello-from-skopeo", tag="hello")


class Skopeo:
    """skopeo with ECR credentials for the emulator (plain HTTP on loopback)."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.emulator = emulator
        self.creds = f"AWS:{emulator.password()}"

    def __call__(self, *args: str, check: bool = True):
        return run(["skopeo", "--insecure-policy", *args], check=check)

    def ref(self, repository: str, tag: str) -> str:
        return f"docker://{self.emulator.host}/{repository}:{tag}"

    def copy(self, source: str, destination: str, *options: str, check: bool = True):
        creds = []
        if source.startswith("docker://"):
            creds += ["--src-creds", self.creds, "--src-tls-verify=false"]
        if destination.startswith("docker://"):
            creds += ["--dest-creds", self.creds, "--dest-tls-verify=false"]
        return self("copy", "--quiet", *creds, *options, source, destination, check=check)

    def inspect(self, reference: str, *options: str, check: bool = True):
        return self(
            "inspect", "--creds", self.creds, "--tls-verify=false", *options, reference, check=check
        )


@pytest.fixture(scope="module")
def skopeo(emulator) -> Skopeo:
    return Skopeo(emulator)


def create(emulator: EmulatorProcess, *names: str) -> None:
    ecr = emulator.client()
    for name in names:
        ecr.create_repository(repositoryName=name)


def raw_digest(skopeo: Skopeo, reference: str) -> str:
    return json.loads(skopeo.inspect(reference).stdout)["Digest"]


def test_copy_between_repositories_mounts_blobs(emulator, skopeo, layout, hello):
    create(emulator, "skopeo/src", "skopeo/dst")
    emulator.client().put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    skopeo.copy(f"oci:{layout.path}:hello", skopeo.ref("skopeo/src", "1"))
    assert raw_digest(skopeo, skopeo.ref("skopeo/src", "1")) == hello.digest

    skopeo.copy(skopeo.ref("skopeo/src", "1"), skopeo.ref("skopeo/dst", "copied"))
    assert raw_digest(skopeo, skopeo.ref("skopeo/dst", "copied")) == hello.digest

    # The layer was not uploaded again: skopeo mounted it from the source repository.
    mounts = [
        line
        for line in map(unquote, emulator.log_text().splitlines())
        if "POST /v2/skopeo/dst/blobs/uploads/?" in line and "mount=" in line
    ]
    assert any(hello.layer_digest in line and " 201 " in line for line in mounts), mounts
    assert not any(
        re.search(r"(PATCH|PUT) /v2/skopeo/dst/blobs/uploads/", line)
        for line in emulator.log_text().splitlines()
        if hello.layer_digest in unquote(line)
    )
    ecr = emulator.client()
    (details,) = ecr.describe_images(repositoryName="skopeo/dst")["imageDetails"]
    assert details["imageDigest"] == hello.digest
    assert details["imageTags"] == ["copied"]
    assert details["imageManifestMediaType"] == OCI_MANIFEST
    assert details["imageSizeInBytes"] == hello.layer_size
    availability = ecr.batch_check_layer_availability(
        repositoryName="skopeo/dst", layerDigests=[hello.layer_digest]
    )["layers"]
    assert availability[0]["layerAvailability"] == "AVAILABLE"


def test_copy_to_oci_layout_and_back(emulator, skopeo, layout, hello, tmp_path: Path):
    create(emulator, "skopeo/out", "skopeo/back")
    skopeo.copy(f"oci:{layout.path}:hello", skopeo.ref("skopeo/out", "1"))

    exported = tmp_path / "exported"
    skopeo.copy(skopeo.ref("skopeo/out", "1"), f"oci:{exported}:saved")
    index = json.loads((exported / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["digest"] == hello.digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "saved"
    for digest in (hello.digest, hello.config_digest, hello.layer_digest):
        assert (exported / "blobs" / "sha256" / digest.split(":")[1]).is_file()

    skopeo.copy(f"oci:{exported}:saved", skopeo.ref("skopeo/back", "restored"))
    raw = skopeo.inspect(skopeo.ref("skopeo/back", "restored"), "--raw").stdout
    assert raw.encode() == hello.manifest
    config = json.loads(skopeo.inspect(skopeo.ref("skopeo/back", "restored"), "--config").stdout)
    assert config["config"]["Cmd"] == ["/bin/busybox", "sh", "/hello"]


def test_list_tags(emulator, skopeo, layout, hello):
    create(emulator, "skopeo/tags")
    for tag in ("1.0", "1.1", "latest"):
        skopeo.copy(f"oci:{layout.path}:hello", skopeo.ref("skopeo/tags", tag))
    listed = skopeo(
        "list-tags",
        "--creds",
        skopeo.creds,
        "--tls-verify=false",
        f"docker://{emulator.host}/skopeo/tags",
    )
    answer = json.loads(listed.stdout)
    assert answer["Repository"] == f"{emulator.host}/skopeo/tags"
    assert sorted(answer["Tags"]) == ["1.0", "1.1", "latest"]


def test_delete_removes_the_image_and_its_tags(emulator, skopeo, layout, hello):
    create(emulator, "skopeo/delete")
    other = layout.image("another-image", tag="another")
    for tag in ("a", "b"):
        skopeo.copy(f"oci:{layout.path}:hello", skopeo.ref("skopeo/delete", tag))
    skopeo.copy(f"oci:{layout.path}:another", skopeo.ref("skopeo/delete", "keep"))

    skopeo(
        "delete", "--creds", skopeo.creds, "--tls-verify=false", skopeo.ref("skopeo/delete", "a")
    )

    # skopeo deletes by digest, so every tag of that image goes with it (as in ECR).
    gone = skopeo.inspect(skopeo.ref("skopeo/delete", "b"), check=False)
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr.lower()
    (details,) = emulator.client().describe_images(repositoryName="skopeo/delete")["imageDetails"]
    assert details["imageDigest"] == other.digest
    assert details["imageTags"] == ["keep"]


def test_multi_arch_oci_index(emulator, skopeo, layout):
    create(emulator, "skopeo/multi")
    images = {
        arch: layout.image(f"running-on-{arch}", architecture=arch) for arch in ("amd64", "arm64")
    }
    index_digest = layout.index_of("multi", images)

    skopeo.copy(f"oci:{layout.path}:multi", skopeo.ref("skopeo/multi", "1"), "--all")
    raw = json.loads(skopeo.inspect(skopeo.ref("skopeo/multi", "1"), "--raw").stdout)
    assert raw["mediaType"] == OCI_INDEX
    assert {entry["platform"]["architecture"]: entry["digest"] for entry in raw["manifests"]} == {
        arch: image.digest for arch, image in images.items()
    }
    arm = json.loads(
        skopeo.inspect(skopeo.ref("skopeo/multi", "1"), "--override-arch", "arm64").stdout
    )
    assert arm["Architecture"] == "arm64"
    assert arm["Digest"] == index_digest  # skopeo names the reference it was given
    child = f"docker://{emulator.host}/skopeo/multi@{images['arm64'].digest}"
    assert skopeo.inspect(child, "--raw").stdout.encode() == images["arm64"].manifest

    ecr = emulator.client()
    (index,) = ecr.describe_images(repositoryName="skopeo/multi", imageIds=[{"imageTag": "1"}])[
        "imageDetails"
    ]
    assert index["imageDigest"] == index_digest
    assert index["imageManifestMediaType"] == OCI_INDEX
    assert len(ecr.describe_images(repositoryName="skopeo/multi")["imageDetails"]) == 3


def test_wrong_credentials_are_refused(emulator, skopeo, layout, hello):
    create(emulator, "skopeo/locked")
    refused = run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--dest-creds",
            "AWS:not-a-token",
            "--dest-tls-verify=false",
            f"oci:{layout.path}:hello",
            skopeo.ref("skopeo/locked", "1"),
        ],
        check=False,
    )
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "401" in refused.stderr
    assert emulator.client().describe_images(repositoryName="skopeo/locked")["imageDetails"] == []


def test_cross_account_inspect_and_copy_need_the_owners_policy(emulator, skopeo, layout, hello):
    owner = emulator.client()
    owner.create_repository(repositoryName="skopeo/shared")
    skopeo.copy(f"oci:{layout.path}:hello", skopeo.ref("skopeo/shared", "v1"))
    other = emulator.client(account="222222222222")
    (data,) = other.get_authorization_token(registryIds=["123456789012"])["authorizationData"]
    creds = base64.b64decode(data["authorizationToken"]).decode()
    reference = skopeo.ref("skopeo/shared", "v1")
    inspect = ["inspect", "--raw", "--creds", creds, "--tls-verify=false", reference]

    refused = skopeo(*inspect, check=False)
    assert refused.returncode != 0
    assert "ecr:BatchGetImage" in refused.stderr
    assert "because no resource-based policy allows" in refused.stderr

    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    }
    owner.set_repository_policy(
        repositoryName="skopeo/shared",
        policyText=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    assert json.loads(skopeo(*inspect).stdout)["layers"][0]["digest"] == hello.layer_digest
    copied = layout.path.parent / "copied"
    skopeo(
        "copy",
        "--quiet",
        "--src-creds",
        creds,
        "--src-tls-verify=false",
        reference,
        f"oci:{copied}:v1",
    )
    assert (copied / "blobs" / "sha256" / hello.layer_digest.split(":")[1]).exists()
