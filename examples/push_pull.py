"""The compose example's client: pushes an image through the emulator service and pulls it back.

What a CI job does against ECR, with boto3 for the API and plain HTTP (requests) for
the registry, so it needs no docker daemon inside the container:

1. CreateRepository, GetAuthorizationToken (boto3 finds the emulator through
   ``AWS_ENDPOINT_URL_ECR``);
2. push a one-layer OCI image over ``/v2/`` with the token as HTTP Basic credentials
   (config in one monolithic upload, the layer in chunks), tag it with a manifest PUT;
3. DescribeImages sees the pushed image with its digest and size;
4. pull the manifest and the layer back, check their digests, print the file inside;
5. BatchDeleteImage, after which the registry no longer serves the tag.

Exits non-zero, with the reason, as soon as something differs.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import time

import boto3
import requests

REPOSITORY = os.environ.get("REPOSITORY", "compose-demo/hello")
TAG = os.environ.get("TAG", "v1")
MESSAGE = b"hello from the compose client\n"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CHUNK = 64


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check(condition: bool, message: str) -> None:
    if not condition:
        sys.exit(f"push_pull: FAILED: {message}")


def wait_for_emulator(endpoint: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{endpoint}/_emulator/health", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        check(time.monotonic() < deadline, f"no emulator answers at {endpoint}")
        time.sleep(0.5)


def image() -> tuple[bytes, bytes]:
    """(config, layer) of a one-file image; the layer is a gzipped tar holding hello.txt."""
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(MESSAGE)
        archive.addfile(info, io.BytesIO(MESSAGE))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["cat", "/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(tar.getvalue())]},
    }
    return json.dumps(config).encode(), gzip.compress(tar.getvalue(), mtime=0)


def push_blob(registry: requests.Session, base: str, data: bytes, chunked: bool) -> str:
    """Upload a blob: monolithic (POST ?digest=) or POST + PATCH chunks + PUT."""
    digest = sha256(data)
    if not chunked:
        answer = registry.post(f"{base}/blobs/uploads/", params={"digest": digest}, data=data)
        check(answer.status_code == 201, f"monolithic upload: {answer.status_code} {answer.text}")
        return digest
    answer = registry.post(f"{base}/blobs/uploads/")
    check(answer.status_code == 202, f"starting an upload: {answer.status_code} {answer.text}")
    location = answer.headers["Location"]
    for start in range(0, len(data), CHUNK):
        part = data[start : start + CHUNK]
        answer = registry.patch(
            _absolute(base, location),
            data=part,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(part) - 1}",
            },
        )
        check(answer.status_code == 202, f"chunk at {start}: {answer.status_code} {answer.text}")
        location = answer.headers["Location"]
    answer = registry.put(_absolute(base, location), params={"digest": digest})
    check(answer.status_code == 201, f"finishing the upload: {answer.status_code} {answer.text}")
    check(answer.headers.get("Docker-Content-Digest") == digest, "upload digest differs")
    return digest


def _absolute(base: str, location: str) -> str:
    if location.startswith("http"):
        return location
    return base.split("/v2/", 1)[0] + location


def main() -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL_ECR"]
    wait_for_emulator(endpoint)
    ecr = boto3.client("ecr")

    try:
        repository = ecr.create_repository(repositoryName=REPOSITORY)["repository"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        repository = ecr.describe_repositories(repositoryNames=[REPOSITORY])["repositories"][0]
    registry_host, _, name = repository["repositoryUri"].partition("/")
    check(name == REPOSITORY, f"unexpected repositoryUri {repository['repositoryUri']}")
    token = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    base = f"http://{registry_host}/v2/{REPOSITORY}"

    anonymous = requests.get(f"http://{registry_host}/v2/", timeout=10)
    check(anonymous.status_code == 401, f"/v2/ without a login answered {anonymous.status_code}")
    registry = requests.Session()
    registry.auth = (user, password)
    check(registry.get(f"http://{registry_host}/v2/").ok, "/v2/ refused the ECR password")

    config, layer = image()
    config_digest = push_blob(registry, base, config, chunked=False)
    layer_digest = push_blob(registry, base, layer, chunked=True)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        }
    ).encode()
    answer = registry.put(
        f"{base}/manifests/{TAG}", data=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    check(answer.status_code == 201, f"manifest PUT: {answer.status_code} {answer.text}")
    digest = answer.headers["Docker-Content-Digest"]
    check(digest == sha256(manifest), "manifest digest differs")
    print(f"pushed {registry_host}/{REPOSITORY}:{TAG} {digest}")

    details = ecr.describe_images(repositoryName=REPOSITORY, imageIds=[{"imageTag": TAG}])
    found = details["imageDetails"][0]
    check(found["imageDigest"] == digest, f"DescribeImages shows {found['imageDigest']}")
    check(found["imageSizeInBytes"] == len(layer), f"size {found['imageSizeInBytes']}")
    print(f"describe-images: {TAG} {found['imageDigest']} {found['imageSizeInBytes']} bytes")

    pulled = registry.get(f"{base}/manifests/{TAG}", headers={"Accept": OCI_MANIFEST})
    check(pulled.status_code == 200, f"manifest GET: {pulled.status_code} {pulled.text}")
    check(sha256(pulled.content) == digest, "pulled manifest digest differs")
    blob_digest = pulled.json()["layers"][0]["digest"]
    blob = registry.get(f"{base}/blobs/{blob_digest}")
    check(blob.status_code == 200 and sha256(blob.content) == blob_digest, "layer digest differs")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.content))) as archive:
        member = archive.extractfile("hello.txt")
        check(member is not None, "hello.txt is missing from the layer")
        text = member.read().decode().strip()
    print(f"pulled hello.txt: {text}")

    deleted = ecr.batch_delete_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": TAG}])
    check(not deleted["failures"], f"BatchDeleteImage failures: {deleted['failures']}")
    gone = registry.get(f"{base}/manifests/{TAG}", headers={"Accept": OCI_MANIFEST})
    check(gone.status_code == 404, f"deleted tag still answers {gone.status_code}")
    print("compose example: OK")


if __name__ == "__main__":
    main()
