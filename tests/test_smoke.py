"""The shortest path through the product: create, push a manifest, read it back."""

from conftest import docker_manifest
from registry_client import manifest_digest


def test_create_push_describe(ecr):
    ecr.create_repository(repositoryName="team-a/web-app")
    manifest = docker_manifest("smoke", layer_sizes=(10, 20))
    pushed = ecr.put_image(repositoryName="team-a/web-app", imageManifest=manifest, imageTag="v1")
    assert pushed["image"]["imageId"] == {
        "imageDigest": manifest_digest(manifest),
        "imageTag": "v1",
    }
    (detail,) = ecr.describe_images(repositoryName="team-a/web-app")["imageDetails"]
    assert detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] == 30
