"""Images through real boto3: PutImage, BatchGetImage, BatchDeleteImage, DescribeImages, ListImages.

Every test that takes ``ecr`` runs in-process and against the live server;
strict-mode tests use ``mock_ecr(strict=True)`` directly.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest, fake_digest
from registry_client import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    RegistryClient,
    manifest_digest,
)

from ecr_emulator import mock_ecr

ACCOUNT = "123456789012"
REPO = "team-a/web-app"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SBOM = "application/vnd.example.sbom.v1+json"


# --- manifest builders ------------------------------------------------------------------------


def oci_manifest(
    seed: str,
    layer_sizes: tuple[int, ...] = (10, 20),
    *,
    artifact_type: str | None = None,
    config_media_type: str = OCI_CONFIG,
    subject: str | None = None,
    with_media_type: bool = True,
) -> str:
    document: dict = {"schemaVersion": 2}
    if with_media_type:
        document["mediaType"] = OCI_MANIFEST
    if artifact_type:
        document["artifactType"] = artifact_type
    document["config"] = {
        "mediaType": config_media_type,
        "size": 2,
        "digest": fake_digest(seed + "config"),
    }
    document["layers"] = [
        {"mediaType": OCI_LAYER, "size": size, "digest": fake_digest(f"{seed}layer{i}")}
        for i, size in enumerate(layer_sizes)
    ]
    if subject:
        document["subject"] = {"mediaType": OCI_MANIFEST, "size": 100, "digest": subject}
    return json.dumps(document)


def image_index(children: list[str], media_type: str = OCI_INDEX, **extra) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                {
                    "mediaType": json.loads(child).get("mediaType", OCI_MANIFEST),
                    "size": len(child),
                    "digest": manifest_digest(child),
                    "platform": {"architecture": arch, "os": "linux"},
                }
                for child, arch in zip(children, ("amd64", "arm64", "s390x"), strict=False)
            ],
            **extra,
        }
    )


def schema1_document(seed: str) -> dict:
    return {
        "schemaVersion": 1,
        "name": REPO,
        "tag": "v1",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": fake_digest(seed + "l0")}, {"blobSum": fake_digest(seed + "l1")}],
        "history": [{"v1Compatibility": "{}"}, {"v1Compatibility": "{}"}],
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed_schema1(seed: str) -> tuple[str, str]:
    """A libtrust-style signed schema 1 manifest and the payload its digest is computed over."""
    payload = json.dumps(schema1_document(seed), indent=3)
    cut = payload.rindex("\n}")
    protected = b64url(
        json.dumps(
            {"formatLength": cut, "formatTail": b64url(payload[cut:].encode()), "time": "2024"}
        ).encode()
    )
    signature = {
        "header": {"jwk": {"crv": "P-256", "kty": "EC", "x": "x", "y": "y"}, "alg": "ES256"},
        "signature": b64url(b"not-really-a-signature"),
        "protected": protected,
    }
    signed = payload[:cut] + ',\n   "signatures": ' + json.dumps([signature]) + payload[cut:]
    return signed, payload


def sha256_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def repo(ecr) -> str:
    ecr.create_repository(repositoryName=REPO)
    return REPO


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def put(ecr, manifest: str, tag: str | None = None, repository: str = REPO, **kwargs) -> dict:
    if tag is not None:
        kwargs["imageTag"] = tag
    return ecr.put_image(repositoryName=repository, imageManifest=manifest, **kwargs)["image"]


def detail(ecr, digest: str, repository: str = REPO) -> dict:
    (found,) = ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])[
        "imageDetails"
    ]
    return found


def tags_by_digest(ecr, repository: str = REPO) -> dict[str, set[str]]:
    details = ecr.describe_images(repositoryName=repository)["imageDetails"]
    return {item["imageDigest"]: set(item.get("imageTags", [])) for item in details}


def put_error(ecr, manifest: str, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image(repositoryName=REPO, imageManifest=manifest, **kwargs)
    return error_of(excinfo)


# --- PutImage: digests and media types ------------------------------------------------------------


def test_put_image_digest_is_sha256_of_the_exact_bytes(ecr, repo):
    document = json.loads(docker_manifest("a"))
    compact = json.dumps(document, separators=(",", ":"))
    spaced = json.dumps(document)
    indented = json.dumps(document, indent=3)
    digests = set()
    for manifest in (compact, spaced, indented):
        image = put(ecr, manifest)
        assert image["imageId"] == {"imageDigest": sha256_of(manifest)}
        assert image["imageManifest"] == manifest
        assert image["registryId"] == ACCOUNT
        assert image["repositoryName"] == REPO
        digests.add(image["imageId"]["imageDigest"])
    assert len(digests) == 3  # same JSON, different bytes, different images
    assert set(tags_by_digest(ecr)) == digests

    for manifest in (compact, spaced, indented):  # stored byte for byte
        (got,) = ecr.batch_get_image(
            repositoryName=REPO, imageIds=[{"imageDigest": sha256_of(manifest)}]
        )["images"]
        assert got["imageManifest"] == manifest


def test_put_image_docker_schema2(ecr, repo):
    manifest = docker_manifest("a", layer_sizes=(100, 200))
    image = put(ecr, manifest, "v1")
    assert image["imageId"] == {"imageDigest": manifest_digest(manifest), "imageTag": "v1"}
    assert image["imageManifestMediaType"] == DOCKER_MANIFEST


@pytest.mark.parametrize("declared", [None, OCI_MANIFEST])
def test_put_image_oci_manifest(ecr, repo, declared):
    with_field = oci_manifest("a")
    kwargs = {"imageManifestMediaType": declared} if declared else {}
    assert put(ecr, with_field, **kwargs)["imageManifestMediaType"] == OCI_MANIFEST


def test_manifest_without_media_type_needs_image_manifest_media_type(ecr, repo):
    """ECR cannot tell what a manifest without ``mediaType`` is unless PutImage says."""
    without_field = oci_manifest("b", with_media_type=False)
    assert put_error(ecr, without_field) == (
        "InvalidParameterException",
        "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'",
    )
    image = put(ecr, without_field, imageManifestMediaType=OCI_MANIFEST)
    assert image["imageManifestMediaType"] == OCI_MANIFEST
    assert detail(ecr, manifest_digest(without_field))["imageManifestMediaType"] == OCI_MANIFEST
    docker = json.loads(docker_manifest("c"))
    del docker["mediaType"]
    text = json.dumps(docker)
    assert put_error(ecr, text)[0] == "InvalidParameterException"
    image = put(ecr, text, imageManifestMediaType=DOCKER_MANIFEST)
    assert image["imageManifestMediaType"] == DOCKER_MANIFEST


def test_put_image_docker_schema1_unsigned(ecr, repo):
    manifest = json.dumps(schema1_document("s1"), indent=3)
    image = put(ecr, manifest, "old")
    assert image["imageManifestMediaType"] == SCHEMA1
    assert image["imageId"]["imageDigest"] == sha256_of(manifest)
    found = detail(ecr, sha256_of(manifest))
    assert found["imageManifestMediaType"] == SCHEMA1
    assert "artifactMediaType" not in found


def test_put_image_docker_schema1_signed_digests_the_payload(ecr, repo):
    signed, payload = signed_schema1("s1")
    assert sha256_of(signed) != sha256_of(payload)
    image = put(ecr, signed, "signed")
    assert image["imageManifestMediaType"] == SCHEMA1_SIGNED
    assert image["imageId"]["imageDigest"] == sha256_of(payload)
    assert image["imageManifest"] == signed  # stored as sent, signatures and all
    (got,) = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "signed"}])["images"]
    assert got["imageManifest"] == signed
    assert got["imageManifestMediaType"] == SCHEMA1_SIGNED


def test_put_image_schema1_with_a_broken_signature(ecr, repo):
    signed, _ = signed_schema1("s1")
    document = json.loads(signed)
    document["signatures"][0]["protected"] = b64url(b"{not json")
    code, message = put_error(ecr, json.dumps(document, indent=3))
    assert code == "InvalidParameterException"
    assert "signature" in message


def test_put_image_schema1_declared_media_type_is_kept(ecr, repo):
    manifest = json.dumps(schema1_document("s1"))
    image = put(ecr, manifest, imageManifestMediaType=SCHEMA1_SIGNED)
    assert image["imageManifestMediaType"] == SCHEMA1_SIGNED


@pytest.mark.parametrize("media_type", [DOCKER_LIST, OCI_INDEX])
def test_put_image_index(ecr, repo, media_type):
    children = [docker_manifest("amd", (100, 200)), docker_manifest("arm", (50, 500))]
    for child in children:
        put(ecr, child)
    index = image_index(children, media_type)
    image = put(ecr, index, "multi")
    assert image["imageManifestMediaType"] == media_type
    assert image["imageId"]["imageDigest"] == manifest_digest(index)
    found = detail(ecr, manifest_digest(index))
    assert found["imageManifestMediaType"] == media_type
    assert found["imageTags"] == ["multi"]
    # "If the image is a manifest list, this will be the max size of all manifests in the list."
    assert found["imageSizeInBytes"] == 550


def test_put_image_index_without_media_type_needs_the_declared_type(ecr, repo):
    child = oci_manifest("a")
    put(ecr, child)
    document = json.loads(image_index([child]))
    del document["mediaType"]
    assert put_error(ecr, json.dumps(document))[0] == "InvalidParameterException"
    image = put(ecr, json.dumps(document), imageManifestMediaType=OCI_INDEX)
    assert image["imageManifestMediaType"] == OCI_INDEX


def test_put_image_oci_artifact(ecr, repo):
    subject = put(ecr, oci_manifest("app"), "app")["imageId"]["imageDigest"]
    artifact = oci_manifest(
        "sbom",
        layer_sizes=(1234,),
        artifact_type=SBOM,
        config_media_type=OCI_EMPTY,
        subject=subject,
    )
    image = put(ecr, artifact)
    assert image["imageManifestMediaType"] == OCI_MANIFEST
    found = detail(ecr, manifest_digest(artifact))
    assert found["artifactMediaType"] == SBOM
    assert found["subjectManifestDigest"] == subject
    assert found["imageSizeInBytes"] == 1234
    assert "imageTags" not in found
    assert "subjectManifestDigest" not in detail(ecr, subject)


def test_put_image_oci_artifact_without_artifact_type_reports_the_config_type(ecr, repo):
    artifact = oci_manifest("helm", config_media_type="application/vnd.cncf.helm.config.v1+json")
    put(ecr, artifact)
    found = detail(ecr, manifest_digest(artifact))
    assert found["artifactMediaType"] == "application/vnd.cncf.helm.config.v1+json"


def test_put_image_index_with_artifact_type_and_subject(ecr, repo):
    subject = put(ecr, oci_manifest("app"))["imageId"]["imageDigest"]
    child = oci_manifest("sig", artifact_type=SBOM, config_media_type=OCI_EMPTY)
    put(ecr, child)
    index = image_index(
        [child],
        artifactType=SBOM,
        subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
    )
    put(ecr, index)
    found = detail(ecr, manifest_digest(index))
    assert found["artifactMediaType"] == SBOM
    assert found["subjectManifestDigest"] == subject


@pytest.mark.parametrize(
    ("manifest", "declared"),
    [
        (docker_manifest("a"), OCI_MANIFEST),
        (oci_manifest("a"), DOCKER_MANIFEST),
        (image_index([docker_manifest("a")]), DOCKER_LIST),
    ],
    ids=["docker-as-oci", "oci-as-docker", "oci-index-as-list"],
)
def test_put_image_media_type_mismatch(ecr, repo, manifest, declared):
    code, message = put_error(ecr, manifest, imageManifestMediaType=declared)
    assert code == "InvalidParameterException"
    assert declared in message
    assert ecr.list_images(repositoryName=REPO)["imageIds"] == []


def test_put_image_declared_media_type_matching_the_document(ecr, repo):
    image = put(ecr, docker_manifest("a"), imageManifestMediaType=DOCKER_MANIFEST)
    assert image["imageManifestMediaType"] == DOCKER_MANIFEST


@pytest.mark.parametrize(
    "manifest",
    ["{not json", "[1, 2]", '"just a string"', "null"],
    ids=["broken", "array", "string", "null"],
)
def test_put_image_invalid_json(ecr, repo, manifest):
    assert put_error(ecr, manifest) == (
        "InvalidParameterException",
        "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'",
    )


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        (json.dumps({"schemaVersion": 2, "mediaType": "text/plain"}), "text/plain"),
        (json.dumps({"schemaVersion": 2}), "Invalid JSON syntax"),
        (
            json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "layers": []}),
            "Invalid JSON syntax",  # a schema failure: ECR's one sentence, never a library's
        ),
        (
            json.dumps({"schemaVersion": 3, "mediaType": DOCKER_MANIFEST, "config": {}}),
            "schemaVersion",
        ),
    ],
    ids=["unsupported-type", "unknown-shape", "no-config", "bad-schema-version"],
)
def test_put_image_invalid_manifest(ecr, repo, manifest, fragment):
    code, message = put_error(ecr, manifest)
    assert code == "InvalidParameterException"
    assert fragment in message


def test_put_image_into_missing_repository(ecr):
    with pytest.raises(ClientError) as excinfo:
        put(ecr, docker_manifest("a"), "v1", repository="missing")
    assert error_of(excinfo) == (
        "RepositoryNotFoundException",
        "The repository with name 'missing' does not exist in the registry with id '123456789012'",
    )


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("bad tag", "InvalidParameterException"),
        ("plus+sign", "InvalidParameterException"),
        ("a/b", "InvalidParameterException"),
        ("sha256:abc", "InvalidParameterException"),
        ("t" * 301, "InvalidParameterException"),
    ],
    ids=["space", "plus", "slash", "colon", "too-long"],
)
def test_put_image_rejects_bad_tags(ecr, repo, tag, expected):
    code, message = put_error(ecr, docker_manifest("a"), imageTag=tag)
    assert code == expected
    assert "imageTag" in message
    assert ecr.list_images(repositoryName=REPO)["imageIds"] == []


def test_put_image_accepts_long_and_dotted_tags(ecr, repo):
    for tag in ("t" * 300, "v1.2.3-rc_1", "_underscore"):
        assert put(ecr, docker_manifest(tag), tag)["imageId"]["imageTag"] == tag


# --- PutImage: digests the caller states --------------------------------------------------------------


def test_put_image_with_the_matching_digest(ecr, repo):
    manifest = docker_manifest("a")
    image = put(ecr, manifest, "v1", imageDigest=manifest_digest(manifest))
    assert image["imageId"] == {"imageDigest": manifest_digest(manifest), "imageTag": "v1"}


def test_put_image_with_a_different_digest(ecr, repo):
    manifest = docker_manifest("a")
    wrong = fake_digest("something else")
    code, message = put_error(ecr, manifest, imageDigest=wrong)
    assert code == "ImageDigestDoesNotMatchException"
    assert wrong in message
    assert manifest_digest(manifest) in message
    assert ecr.list_images(repositoryName=REPO)["imageIds"] == []


def test_put_image_with_a_malformed_digest(ecr, repo):
    code, message = put_error(ecr, docker_manifest("a"), imageDigest="sha256:abc")
    assert code == "InvalidParameterException"
    assert "sha256:abc" in message


def test_put_image_with_a_sha512_digest(ecr, repo):
    manifest = docker_manifest("a")
    digest = "sha512:" + hashlib.sha512(manifest.encode()).hexdigest()
    image = put(ecr, manifest, "v1", imageDigest=digest)
    assert image["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    assert detail(ecr, digest)["imageTags"] == ["v1"]
    (got,) = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])["images"]
    assert got["imageManifest"] == manifest

    wrong = "sha512:" + hashlib.sha512(b"other").hexdigest()
    assert put_error(ecr, docker_manifest("b"), imageDigest=wrong)[0] == (
        "ImageDigestDoesNotMatchException"
    )


# --- PutImage: existing images and tags ---------------------------------------------------------------


def test_put_image_same_digest_and_tag_again(ecr, repo):
    manifest = docker_manifest("a")
    put(ecr, manifest, "v1")
    assert put_error(ecr, manifest, imageTag="v1") == (
        "ImageAlreadyExistsException",
        f"Image with digest '{manifest_digest(manifest)}' and tag 'v1' already exists in the "
        f"repository with name '{REPO}' in registry with id '{ACCOUNT}'",
    )


def test_put_image_same_digest_without_a_tag_again(ecr, repo):
    manifest = docker_manifest("a")
    put(ecr, manifest)
    code, message = put_error(ecr, manifest)
    assert code == "ImageAlreadyExistsException"
    assert manifest_digest(manifest) in message


def test_put_image_adds_a_tag_to_an_existing_digest(ecr, repo):
    manifest = docker_manifest("a")
    put(ecr, manifest, "v1")
    image = put(ecr, manifest, "latest")
    assert image["imageId"] == {"imageDigest": manifest_digest(manifest), "imageTag": "latest"}
    assert tags_by_digest(ecr) == {manifest_digest(manifest): {"v1", "latest"}}
    # an untagged image can be tagged later, too
    untagged = docker_manifest("b")
    put(ecr, untagged)
    put(ecr, untagged, "later")
    assert tags_by_digest(ecr)[manifest_digest(untagged)] == {"later"}


def test_put_image_moves_a_mutable_tag(ecr, repo):
    first, second = docker_manifest("a"), docker_manifest("b")
    put(ecr, first, "latest")
    put(ecr, first, "v1")
    put(ecr, second, "latest")
    assert tags_by_digest(ecr) == {
        manifest_digest(first): {"v1"},
        manifest_digest(second): {"latest"},
    }
    put(ecr, second, "v1")
    assert tags_by_digest(ecr) == {
        manifest_digest(first): set(),
        manifest_digest(second): {"latest", "v1"},
    }
    # the old image is still there, now untagged
    assert "imageTags" not in detail(ecr, manifest_digest(first))
    untagged = ecr.list_images(repositoryName=REPO, filter={"tagStatus": "UNTAGGED"})["imageIds"]
    assert untagged == [{"imageDigest": manifest_digest(first)}]
    (got,) = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "latest"}])["images"]
    assert got["imageManifest"] == second


def test_put_image_immutable_tags(ecr):
    ecr.create_repository(repositoryName=REPO, imageTagMutability="IMMUTABLE")
    first, second = docker_manifest("a"), docker_manifest("b")
    put(ecr, first, "v1")
    assert put_error(ecr, second, imageTag="v1") == (
        "ImageTagAlreadyExistsException",
        f"The image tag 'v1' already exists in the '{REPO}' repository and cannot be "
        "overwritten because the repository is immutable.",
    )
    # new tags are fine, on new and existing images; the same digest+tag is still "already exists"
    put(ecr, second, "v2")
    put(ecr, first, "also-v1")
    assert put_error(ecr, first, imageTag="v1")[0] == "ImageAlreadyExistsException"
    assert tags_by_digest(ecr) == {
        manifest_digest(first): {"v1", "also-v1"},
        manifest_digest(second): {"v2"},
    }


@pytest.mark.parametrize(
    ("mutability", "movable", "fixed"),
    [
        ("IMMUTABLE_WITH_EXCLUSION", ["latest", "dev-1", "dev-"], ["v1", "xdev-1", "latest2"]),
        ("MUTABLE_WITH_EXCLUSION", ["v1", "xdev-1", "latest2"], ["latest", "dev-1", "dev-"]),
    ],
)
def test_put_image_tag_exclusions(ecr, mutability, movable, fixed):
    ecr.create_repository(
        repositoryName=REPO,
        imageTagMutability=mutability,
        imageTagMutabilityExclusionFilters=[
            {"filterType": "WILDCARD", "filter": "latest"},
            {"filterType": "WILDCARD", "filter": "dev-*"},
        ],
    )
    first, second = docker_manifest("a"), docker_manifest("b")
    for tag in movable + fixed:
        put(ecr, first, tag)
    for tag in movable:
        put(ecr, second, tag)
    for tag in fixed:
        code, message = put_error(ecr, second, imageTag=tag)
        assert code == "ImageTagAlreadyExistsException"
        assert f"'{tag}'" in message
    assert tags_by_digest(ecr) == {
        manifest_digest(first): set(fixed),
        manifest_digest(second): set(movable),
    }


def test_changing_mutability_applies_to_existing_tags(ecr, repo):
    first, second = docker_manifest("a"), docker_manifest("b")
    put(ecr, first, "v1")
    ecr.put_image_tag_mutability(
        repositoryName=REPO,
        imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "v*"}],
    )
    assert put_error(ecr, second, imageTag="v1")[0] == "ImageTagAlreadyExistsException"
    ecr.put_image_tag_mutability(repositoryName=REPO, imageTagMutability="MUTABLE")
    put(ecr, second, "v1")
    assert tags_by_digest(ecr)[manifest_digest(second)] == {"v1"}


# --- PutImage: strict mode (in-process only) ----------------------------------------------------------


def upload(ecr, data: bytes, repository: str = REPO, media_type: str = DOCKER_LAYER) -> dict:
    """Upload ``data`` through the layer API; its descriptor."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload_id = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    ecr.upload_layer_part(
        repositoryName=repository,
        uploadId=upload_id,
        partFirstByte=0,
        partLastByte=len(data) - 1,
        layerPartBlob=data,
    )
    ecr.complete_layer_upload(repositoryName=repository, uploadId=upload_id, layerDigests=[digest])
    return {"mediaType": media_type, "size": len(data), "digest": digest}


def strict_manifest(ecr, seed: str, repository: str = REPO) -> str:
    """A Docker schema 2 manifest whose blobs were all uploaded to ``repository``."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": upload(ecr, b"{}", repository, DOCKER_CONFIG),
            "layers": [upload(ecr, f"{seed}-layer".encode(), repository)],
        }
    )


def test_strict_mode_requires_layers():
    with mock_ecr(strict=True):
        ecr = boto3.client("ecr", region_name="us-east-1")
        ecr.create_repository(repositoryName=REPO)
        manifest = docker_manifest("a")
        missing = json.loads(manifest)["layers"][0]["digest"]
        code, message = put_error(ecr, manifest, imageTag="v1")
        assert code == "LayersNotFoundException"
        assert missing in message
        assert REPO in message
        assert ecr.list_images(repositoryName=REPO)["imageIds"] == []

        config = upload(ecr, b"{}", media_type=DOCKER_CONFIG)
        layers = [upload(ecr, b"layer-one"), upload(ecr, b"layer-two!")]
        complete = json.dumps(
            {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": config, "layers": layers}
        )
        image = put(ecr, complete, "v1")
        assert image["imageId"] == {"imageDigest": manifest_digest(complete), "imageTag": "v1"}
        assert detail(ecr, manifest_digest(complete))["imageSizeInBytes"] == 19

        # the config blob counts too
        no_config = json.loads(complete)
        no_config["config"] = {"mediaType": DOCKER_CONFIG, "size": 2, "digest": fake_digest("x")}
        assert put_error(ecr, json.dumps(no_config))[0] == "LayersNotFoundException"

        # a blob uploaded to another repository is not this repository's layer
        ecr.create_repository(repositoryName="elsewhere")
        foreign = json.loads(complete)
        foreign["layers"] = [upload(ecr, b"only-elsewhere", "elsewhere")]
        code, message = put_error(ecr, json.dumps(foreign))
        assert code == "LayersNotFoundException"
        assert foreign["layers"][0]["digest"] in message


def test_strict_mode_requires_index_children_in_the_repository():
    with mock_ecr(strict=True):
        ecr = boto3.client("ecr", region_name="us-east-1")
        ecr.create_repository(repositoryName=REPO)
        ecr.create_repository(repositoryName="elsewhere")
        children = [strict_manifest(ecr, "amd64"), strict_manifest(ecr, "arm64", "elsewhere")]
        put(ecr, children[0])
        put(ecr, children[1], repository="elsewhere")  # in the registry, not in this repository
        index = image_index(children, DOCKER_LIST)
        code, message = put_error(ecr, index, imageTag="multi")
        assert code == "ReferencedImagesNotFoundException"
        assert manifest_digest(children[1]) in message
        assert manifest_digest(children[0]) not in message
        assert (
            ecr.list_images(repositoryName=REPO, filter={"tagStatus": "TAGGED"})["imageIds"] == []
        )

        upload(ecr, b"arm64-layer")
        put(ecr, children[1])
        assert put(ecr, index, "multi")["imageManifestMediaType"] == DOCKER_LIST


def test_default_mode_accepts_unknown_layers_and_children(ecr, repo):
    manifest = docker_manifest("never-uploaded", layer_sizes=(5, 6))
    put(ecr, manifest, "v1")
    index = image_index([docker_manifest("not-pushed")])
    put(ecr, index, "multi")
    assert detail(ecr, manifest_digest(manifest))["imageSizeInBytes"] == 11
    assert detail(ecr, manifest_digest(index))["imageSizeInBytes"] == 0


# --- BatchGetImage --------------------------------------------------------------------------------------


def test_batch_get_image_by_tag_digest_and_both(ecr, repo):
    manifest = docker_manifest("a")
    digest = manifest_digest(manifest)
    put(ecr, manifest, "v1")
    for image_id in (
        {"imageTag": "v1"},
        {"imageDigest": digest},
        {"imageDigest": digest, "imageTag": "v1"},
    ):
        response = ecr.batch_get_image(repositoryName=REPO, imageIds=[image_id])
        assert response["failures"] == []
        (image,) = response["images"]
        assert image["registryId"] == ACCOUNT
        assert image["repositoryName"] == REPO
        assert image["imageId"] == {"imageDigest": digest, **image_id}
        assert image["imageManifest"] == manifest
        assert image["imageManifestMediaType"] == DOCKER_MANIFEST


def test_batch_get_image_several_and_failures(ecr, repo):
    first, second = docker_manifest("a"), docker_manifest("b")
    put(ecr, first, "v1")
    put(ecr, second, "v2")
    response = ecr.batch_get_image(
        repositoryName=REPO,
        imageIds=[
            {"imageTag": "v1"},
            {"imageDigest": manifest_digest(second)},
            {"imageTag": "v1"},  # duplicates are answered once
            {"imageTag": "nope"},
            {"imageDigest": fake_digest("unknown")},
            {"imageDigest": manifest_digest(first), "imageTag": "v2"},
            {"imageDigest": "not-a-digest"},
            {},
        ],
    )
    assert [image["imageManifest"] for image in response["images"]] == [first, second]
    failures = {
        json.dumps(item["imageId"], sort_keys=True): (item["failureCode"], item["failureReason"])
        for item in response["failures"]
    }
    assert failures == {
        '{"imageTag": "nope"}': ("ImageNotFound", "Requested image not found"),
        json.dumps({"imageDigest": fake_digest("unknown")}): (
            "ImageNotFound",
            "Requested image not found",
        ),
        json.dumps({"imageDigest": manifest_digest(first), "imageTag": "v2"}): (
            "ImageTagDoesNotMatchDigest",
            "Invalid request parameters: given tag does not map to the given digest",
        ),
        '{"imageDigest": "not-a-digest"}': (
            "InvalidImageDigest",
            "Invalid request parameters: image digest should satisfy the regex "
            "'[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
        ),
        "{}": (
            "MissingDigestAndTag",
            "Invalid request parameters: both tag and digest cannot be null",
        ),
    }


def test_batch_get_image_accepted_media_types(ecr, repo):
    docker, oci = docker_manifest("a"), oci_manifest("b")
    put(ecr, docker, "docker")
    put(ecr, oci, "oci")
    response = ecr.batch_get_image(
        repositoryName=REPO,
        imageIds=[{"imageTag": "docker"}, {"imageTag": "oci"}],
        acceptedMediaTypes=[OCI_MANIFEST],
    )
    assert [image["imageManifest"] for image in response["images"]] == [oci]
    (failure,) = response["failures"]
    assert failure["imageId"] == {"imageTag": "docker"}
    assert failure["failureCode"] == "ImageNotFound"
    assert DOCKER_MANIFEST in failure["failureReason"]

    both = ecr.batch_get_image(
        repositoryName=REPO,
        imageIds=[{"imageTag": "docker"}, {"imageTag": "oci"}],
        acceptedMediaTypes=[DOCKER_MANIFEST, OCI_MANIFEST],
    )
    assert len(both["images"]) == 2
    assert both["failures"] == []


def test_batch_get_image_records_the_pull_time(ecr, repo):
    manifest = docker_manifest("a")
    digest = manifest_digest(manifest)
    put(ecr, manifest, "v1")
    put(ecr, docker_manifest("b"), "other")
    assert "lastRecordedPullTime" not in detail(ecr, digest)

    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    pulled = detail(ecr, digest)["lastRecordedPullTime"]
    assert before <= pulled <= after
    assert "lastRecordedPullTime" not in detail(ecr, manifest_digest(docker_manifest("b")))

    # a failed get records nothing
    ecr.batch_get_image(
        repositoryName=REPO, imageIds=[{"imageTag": "other"}], acceptedMediaTypes=[OCI_MANIFEST]
    )
    assert "lastRecordedPullTime" not in detail(ecr, manifest_digest(docker_manifest("b")))


def test_batch_get_image_errors(ecr, raw_ecr, repo):
    with pytest.raises(ClientError) as excinfo:
        ecr.batch_get_image(repositoryName="missing", imageIds=[{"imageTag": "v1"}])
    assert error_of(excinfo)[0] == "RepositoryNotFoundException"

    with pytest.raises(ClientError) as excinfo:
        raw_ecr.batch_get_image(repositoryName=REPO, imageIds=[])
    assert error_of(excinfo) == (
        "InvalidParameterException",
        "Invalid parameter at 'imageIds' failed to satisfy constraint: "
        "'Member must have length greater than or equal to 1'",
    )
    with pytest.raises(ClientError) as excinfo:
        raw_ecr.batch_get_image(
            repositoryName=REPO, imageIds=[{"imageTag": f"t{i}"} for i in range(101)]
        )
    assert error_of(excinfo) == (
        "InvalidParameterException",
        "Invalid parameter at 'imageIds' failed to satisfy constraint: "
        "'Member must have length less than or equal to 100'",
    )


# --- BatchDeleteImage -----------------------------------------------------------------------------------


def test_batch_delete_image_by_tag_keeps_the_other_tags(ecr, repo):
    manifest = docker_manifest("a")
    digest = manifest_digest(manifest)
    for tag in ("v1", "v2", "latest"):
        put(ecr, manifest, tag)
    response = ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    assert response == {
        "imageIds": [{"imageDigest": digest, "imageTag": "v1"}],
        "failures": [],
        "ResponseMetadata": response["ResponseMetadata"],
    }
    assert tags_by_digest(ecr) == {digest: {"v2", "latest"}}
    (failure,) = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])["failures"]
    assert failure["failureCode"] == "ImageNotFound"

    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageTag": "v2"}])
    assert tags_by_digest(ecr) == {digest: {"latest"}}

    # deleting the last tag deletes the image
    response = ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageTag": "latest"}])
    assert response["imageIds"] == [{"imageDigest": digest, "imageTag": "latest"}]
    assert ecr.list_images(repositoryName=REPO)["imageIds"] == []
    assert ecr.describe_images(repositoryName=REPO)["imageDetails"] == []


def test_batch_delete_image_by_digest_removes_every_tag(ecr, repo):
    manifest, other = docker_manifest("a"), docker_manifest("b")
    digest = manifest_digest(manifest)
    put(ecr, manifest, "v1")
    put(ecr, manifest, "v2")
    put(ecr, other, "keep")
    response = ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])
    assert response["failures"] == []
    assert sorted(response["imageIds"], key=lambda item: item["imageTag"]) == [
        {"imageDigest": digest, "imageTag": "v1"},
        {"imageDigest": digest, "imageTag": "v2"},
    ]
    assert tags_by_digest(ecr) == {manifest_digest(other): {"keep"}}
    # the tags are free again
    put(ecr, other, "v1")
    assert tags_by_digest(ecr) == {manifest_digest(other): {"keep", "v1"}}


def test_batch_delete_untagged_image_by_digest(ecr, repo):
    manifest = docker_manifest("a")
    put(ecr, manifest)
    response = ecr.batch_delete_image(
        repositoryName=REPO, imageIds=[{"imageDigest": manifest_digest(manifest)}]
    )
    assert response["imageIds"] == [{"imageDigest": manifest_digest(manifest)}]
    assert ecr.list_images(repositoryName=REPO)["imageIds"] == []
    # and it can be pushed again
    put(ecr, manifest, "back")


def test_batch_delete_image_failures(ecr, repo):
    manifest = docker_manifest("a")
    digest = manifest_digest(manifest)
    put(ecr, manifest, "v1")
    response = ecr.batch_delete_image(
        repositoryName=REPO,
        imageIds=[
            {"imageTag": "nope"},
            {"imageDigest": "garbage"},
            {},
            {"imageDigest": fake_digest("other"), "imageTag": "v1"},
            {"imageDigest": digest, "imageTag": "v1"},
        ],
    )
    assert response["imageIds"] == [{"imageDigest": digest, "imageTag": "v1"}]
    assert [(item["imageId"], item["failureCode"]) for item in response["failures"]] == [
        ({"imageTag": "nope"}, "ImageNotFound"),
        ({"imageDigest": "garbage"}, "InvalidImageDigest"),
        ({}, "MissingDigestAndTag"),
        ({"imageDigest": fake_digest("other"), "imageTag": "v1"}, "ImageTagDoesNotMatchDigest"),
    ]
    assert ecr.list_images(repositoryName=REPO)["imageIds"] == []

    response = ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])
    assert response["imageIds"] == []
    assert response["failures"] == [
        {
            "imageId": {"imageDigest": digest},
            "failureCode": "ImageNotFound",
            "failureReason": "Requested image not found",
        }
    ]


def test_batch_delete_image_in_missing_repository(ecr):
    with pytest.raises(ClientError) as excinfo:
        ecr.batch_delete_image(repositoryName="missing", imageIds=[{"imageTag": "v1"}])
    assert error_of(excinfo) == (
        "RepositoryNotFoundException",
        "The repository with name 'missing' does not exist in the registry with id '123456789012'",
    )


def test_batch_delete_image_referenced_by_an_index(ecr, repo):
    children = [docker_manifest("amd"), docker_manifest("arm")]
    for child in children:
        put(ecr, child)
    index = image_index(children, DOCKER_LIST)
    put(ecr, index, "multi")
    child_digest = manifest_digest(children[0])

    response = ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": child_digest}])
    assert response["imageIds"] == []
    (failure,) = response["failures"]
    assert failure["imageId"] == {"imageDigest": child_digest}
    assert failure["failureCode"] == "ImageReferencedByManifestList"
    assert len(ecr.describe_images(repositoryName=REPO)["imageDetails"]) == 3

    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageTag": "multi"}])
    response = ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": child_digest}])
    assert response["imageIds"] == [{"imageDigest": child_digest}]
    assert response["failures"] == []
    assert set(tags_by_digest(ecr)) == {manifest_digest(children[1])}


# --- DescribeImages -----------------------------------------------------------------------------------


def test_describe_images_details(ecr, repo):
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    manifest = docker_manifest("a", layer_sizes=(100, 200, 300))
    put(ecr, manifest, "v1")
    put(ecr, manifest, "latest")
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)

    (found,) = ecr.describe_images(repositoryName=REPO)["imageDetails"]
    assert found["registryId"] == ACCOUNT
    assert found["repositoryName"] == REPO
    assert found["imageDigest"] == manifest_digest(manifest)
    assert sorted(found["imageTags"]) == ["latest", "v1"]
    assert found["imageSizeInBytes"] == 600  # layers only, not the config
    assert before <= found["imagePushedAt"] <= after
    assert found["imageManifestMediaType"] == DOCKER_MANIFEST
    assert found["artifactMediaType"] == DOCKER_CONFIG
    assert "lastRecordedPullTime" not in found
    assert "subjectManifestDigest" not in found


def test_describe_images_by_id(ecr, repo):
    first, second = docker_manifest("a"), docker_manifest("b")
    put(ecr, first, "v1")
    put(ecr, second)
    by_tag = ecr.describe_images(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    assert [item["imageDigest"] for item in by_tag["imageDetails"]] == [manifest_digest(first)]
    by_digest = ecr.describe_images(
        repositoryName=REPO,
        imageIds=[{"imageDigest": manifest_digest(second)}, {"imageTag": "v1"}],
    )
    assert [item["imageDigest"] for item in by_digest["imageDetails"]] == [
        manifest_digest(second),
        manifest_digest(first),
    ]


def test_describe_images_with_an_unknown_id(ecr, repo):
    put(ecr, docker_manifest("a"), "v1")
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_images(repositoryName=REPO, imageIds=[{"imageTag": "v1"}, {"imageTag": "v9"}])
    assert error_of(excinfo) == (
        "ImageNotFoundException",
        "The image with imageId {imageDigest:'null', imageTag:'v9'} does not exist within the "
        f"repository with name '{REPO}' in the registry with id '{ACCOUNT}'",
    )
    unknown = fake_digest("unknown")
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_images(repositoryName=REPO, imageIds=[{"imageDigest": unknown}])
    code, message = error_of(excinfo)
    assert code == "ImageNotFoundException"
    assert f"imageDigest:'{unknown}'" in message

    with pytest.raises(ClientError) as excinfo:
        ecr.describe_images(repositoryName=REPO, imageIds=[{"imageDigest": "garbage"}])
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_describe_images_in_missing_repository(ecr):
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_images(repositoryName="missing")
    assert error_of(excinfo) == (
        "RepositoryNotFoundException",
        "The repository with name 'missing' does not exist in the registry with id '123456789012'",
    )


def test_describe_images_filter_by_tag_status(ecr, repo):
    tagged, untagged = docker_manifest("a"), docker_manifest("b")
    put(ecr, tagged, "v1")
    put(ecr, untagged)

    def digests(tag_status: str | None) -> set[str]:
        kwargs = {"filter": {"tagStatus": tag_status}} if tag_status else {}
        details = ecr.describe_images(repositoryName=REPO, **kwargs)["imageDetails"]
        return {item["imageDigest"] for item in details}

    assert digests("TAGGED") == {manifest_digest(tagged)}
    assert digests("UNTAGGED") == {manifest_digest(untagged)}
    assert digests("ANY") == {manifest_digest(tagged), manifest_digest(untagged)}
    assert digests(None) == digests("ANY")


def test_describe_images_pagination(ecr, repo):
    manifests = [docker_manifest(str(i)) for i in range(5)]
    for i, manifest in enumerate(manifests):
        put(ecr, manifest, f"v{i}")
    sizes, seen, token = [], [], None
    while True:
        kwargs = {"maxResults": 2} | ({"nextToken": token} if token else {})
        response = ecr.describe_images(repositoryName=REPO, **kwargs)
        sizes.append(len(response["imageDetails"]))
        seen.extend(item["imageDigest"] for item in response["imageDetails"])
        token = response.get("nextToken")
        if not token:
            break
    assert sizes == [2, 2, 1]
    assert sorted(seen) == sorted(manifest_digest(m) for m in manifests)

    pages = ecr.get_paginator("describe_images").paginate(
        repositoryName=REPO, filter={"tagStatus": "TAGGED"}, PaginationConfig={"PageSize": 3}
    )
    assert [len(page["imageDetails"]) for page in pages] == [3, 2]


def test_describe_images_pagination_errors(ecr, repo):
    put(ecr, docker_manifest("a"), "v1")
    put(ecr, docker_manifest("b"), "v2")
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_images(repositoryName=REPO, nextToken="garbage")
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_images(repositoryName=REPO, imageIds=[{"imageTag": "v1"}], maxResults=1)
    assert error_of(excinfo)[0] == "InvalidParameterException"

    # a token is bound to its repository
    ecr.create_repository(repositoryName="other")
    put(ecr, docker_manifest("a"), repository="other")
    put(ecr, docker_manifest("b"), repository="other")
    token = ecr.describe_images(repositoryName="other", maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_images(repositoryName=REPO, nextToken=token)
    assert error_of(excinfo)[0] == "InvalidParameterException"


# --- ListImages -----------------------------------------------------------------------------------------


def test_list_images_one_entry_per_tag_and_one_per_untagged_image(ecr, repo):
    multi, single, untagged = docker_manifest("a"), docker_manifest("b"), docker_manifest("c")
    put(ecr, multi, "v1")
    put(ecr, multi, "latest")
    put(ecr, single, "v2")
    put(ecr, untagged)

    def entries(**kwargs) -> list[tuple[str, str | None]]:
        image_ids = ecr.list_images(repositoryName=REPO, **kwargs)["imageIds"]
        return sorted((item["imageDigest"], item.get("imageTag") or "") for item in image_ids)

    tagged = [
        (manifest_digest(multi), "latest"),
        (manifest_digest(multi), "v1"),
        (manifest_digest(single), "v2"),
    ]
    loose = [(manifest_digest(untagged), "")]
    assert entries() == sorted(tagged + loose)
    assert entries(filter={"tagStatus": "ANY"}) == sorted(tagged + loose)
    assert entries(filter={"tagStatus": "TAGGED"}) == sorted(tagged)
    assert entries(filter={"tagStatus": "UNTAGGED"}) == loose
    (raw,) = ecr.list_images(repositoryName=REPO, filter={"tagStatus": "UNTAGGED"})["imageIds"]
    assert raw == {"imageDigest": manifest_digest(untagged)}


def test_list_images_pagination(ecr, repo):
    expected = set()
    for i in range(3):
        manifest = docker_manifest(str(i))
        for tag in (f"v{i}", f"alias{i}"):
            put(ecr, manifest, tag)
            expected.add((manifest_digest(manifest), tag))
    put(ecr, docker_manifest("untagged"))
    expected.add((manifest_digest(docker_manifest("untagged")), None))

    sizes, seen, token = [], [], None
    while True:
        kwargs = {"maxResults": 2} | ({"nextToken": token} if token else {})
        response = ecr.list_images(repositoryName=REPO, **kwargs)
        sizes.append(len(response["imageIds"]))
        seen.extend((item["imageDigest"], item.get("imageTag")) for item in response["imageIds"])
        token = response.get("nextToken")
        if not token:
            break
    assert sizes == [2, 2, 2, 1]
    assert len(seen) == 7
    assert set(seen) == expected

    paginator = ecr.get_paginator("list_images")
    full = paginator.paginate(
        repositoryName=REPO, PaginationConfig={"PageSize": 3}
    ).build_full_result()
    assert len(full["imageIds"]) == 7


def test_list_images_errors(ecr, repo):
    with pytest.raises(ClientError) as excinfo:
        ecr.list_images(repositoryName="missing")
    assert error_of(excinfo)[0] == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecr.list_images(repositoryName=REPO, nextToken="garbage")
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecr.list_images(repositoryName=REPO, filter={"tagStatus": "SOMETIMES"})
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert message == (
        "Invalid parameter at 'tagStatus' failed to satisfy constraint: "
        "'Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]'"
    )


def test_images_are_isolated_per_account(ecr, make_client):
    other = make_client(account="111122223333")
    ecr.create_repository(repositoryName=REPO)
    other.create_repository(repositoryName=REPO)
    manifest = docker_manifest("a")
    put(ecr, manifest, "v1")
    assert other.list_images(repositoryName=REPO)["imageIds"] == []
    put(other, manifest, "v1")  # same digest and tag, another registry: no conflict
    (theirs,) = other.describe_images(repositoryName=REPO)["imageDetails"]
    assert theirs["registryId"] == "111122223333"
    with pytest.raises(ClientError) as excinfo:  # naming their registry opens nothing
        ecr.describe_images(repositoryName=REPO, registryId="111122223333")
    assert error_of(excinfo)[0] == "AccessDeniedException"


def test_describe_images_applies_the_filter_to_image_ids_too(ecr, repo):
    tagged = put(ecr, docker_manifest("kept"), "v1")["imageId"]["imageDigest"]
    loose = put(ecr, docker_manifest("loose"))["imageId"]["imageDigest"]
    ids = [{"imageDigest": tagged}, {"imageDigest": loose}]
    both = ecr.describe_images(repositoryName=REPO, imageIds=ids)["imageDetails"]
    assert {d["imageDigest"] for d in both} == {tagged, loose}
    only_tagged = ecr.describe_images(
        repositoryName=REPO, imageIds=ids, filter={"tagStatus": "TAGGED"}
    )["imageDetails"]
    assert [d["imageDigest"] for d in only_tagged] == [tagged]
    only_untagged = ecr.describe_images(
        repositoryName=REPO, imageIds=ids, filter={"tagStatus": "UNTAGGED"}
    )["imageDetails"]
    assert [d["imageDigest"] for d in only_untagged] == [loose]


def test_describe_images_names_a_malformed_id_member_as_ecr_does(ecr, repo):
    """Quoted AWS answer (pulumi/pulumi-aws#2466): the member is named by its own name."""
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_images(repositoryName=REPO, imageIds=[{"imageDigest": "not a digest"}])
    assert error_of(excinfo) == (
        "InvalidParameterException",
        "Invalid parameter at 'imageDigest' failed to satisfy constraint: "
        "'must satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+''",
    )


def test_schema_failures_answer_in_ecrs_words_and_the_registry_says_where(ecr, repo):
    document = json.loads(docker_manifest("schema"))
    del document["layers"][0]["digest"]
    assert put_error(ecr, json.dumps(document)) == (
        "InvalidParameterException",
        "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'",
    )
    answer = RegistryClient(ecr).put_manifest(REPO, "v1", document, DOCKER_MANIFEST)
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["code"] == "MANIFEST_INVALID"
    assert (
        error["detail"] == f"manifest.layers[0] breaks the {DOCKER_MANIFEST} schema rule 'required'"
    )
