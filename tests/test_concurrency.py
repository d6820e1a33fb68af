"""The threaded server under concurrent clients: no lost images, tags or blobs."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from conftest import docker_manifest
from registry_client import GatedBody, RegistryClient

THREADS = 8
PUSHES_PER_THREAD = 15


def test_concurrent_put_image_and_tag_moves_lose_nothing(ecr_server):
    def client():
        return boto3.client("ecr", region_name="us-east-1", endpoint_url=ecr_server.url)

    client().create_repository(repositoryName="busy/app")

    def push(worker: int) -> None:
        ecr = client()
        for number in range(PUSHES_PER_THREAD):
            manifest = docker_manifest(f"{worker}-{number}")
            ecr.put_image(
                repositoryName="busy/app", imageManifest=manifest, imageTag=f"w{worker}-{number}"
            )
            # every worker also moves one shared tag around
            ecr.put_image(repositoryName="busy/app", imageManifest=manifest, imageTag="latest")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(push, range(THREADS)))

    ecr = client()
    details = [
        detail
        for page in ecr.get_paginator("describe_images").paginate(repositoryName="busy/app")
        for detail in page["imageDetails"]
    ]
    assert len(details) == THREADS * PUSHES_PER_THREAD
    tags = [tag for detail in details for tag in detail.get("imageTags", [])]
    assert len(tags) == len(set(tags)) == THREADS * PUSHES_PER_THREAD + 1
    assert tags.count("latest") == 1
    listed = [
        image_id
        for page in ecr.get_paginator("list_images").paginate(repositoryName="busy/app")
        for image_id in page["imageIds"]
    ]
    assert len(listed) == len(tags)


def test_concurrent_blob_uploads_through_the_registry(ecr_server):
    ecr = boto3.client("ecr", region_name="us-east-1", endpoint_url=ecr_server.url)
    ecr.create_repository(repositoryName="busy/blobs")
    registry = RegistryClient(ecr)
    blobs = [bytes([number]) * (256 * 1024 + number) for number in range(24)]

    with ThreadPoolExecutor(THREADS) as pool:
        digests = list(pool.map(lambda data: registry.push_blob("busy/blobs", data), blobs))

    for digest, data in zip(digests, blobs, strict=True):
        answer = registry.get(f"/v2/busy/blobs/blobs/{digest}")
        assert answer.status_code == 200
        assert answer.content == data
    available = ecr.batch_check_layer_availability(
        repositoryName="busy/blobs", layerDigests=digests
    )
    assert {layer["layerAvailability"] for layer in available["layers"]} == {"AVAILABLE"}


def test_a_stalled_upload_holds_up_nobody_else(ecr_server):
    """A /v2/ PATCH whose client stalls mid-body, and an UploadLayerPart queued behind it on
    the same upload, leave every other request as fast as ever."""
    ecr = boto3.client("ecr", region_name="us-east-1", endpoint_url=ecr_server.url)
    ecr.create_repository(repositoryName="slow/upload")
    ecr.create_repository(repositoryName="busy/elsewhere")
    registry = RegistryClient(ecr)
    answer = registry.post("/v2/slow/upload/blobs/uploads/")
    location = answer.headers["Location"]
    upload_id = answer.headers["Docker-Upload-UUID"]
    body = GatedBody(b"a" * 1000, b"b" * 1000)
    with ThreadPoolExecutor(2) as pool:
        patch = pool.submit(RegistryClient(ecr).patch, location, data=body)
        assert body.sent.wait(10)
        queued = pool.submit(
            boto3.client(
                "ecr", region_name="us-east-1", endpoint_url=ecr_server.url
            ).upload_layer_part,
            repositoryName="slow/upload",
            uploadId=upload_id,
            partFirstByte=2000,
            partLastByte=2002,
            layerPartBlob=b"end",
        )
        time.sleep(0.3)  # both are now inside the server, waiting on the one upload
        started = time.perf_counter()
        for number in range(10):
            ecr.describe_repositories()
            ecr.put_image(
                repositoryName="busy/elsewhere",
                imageManifest=docker_manifest(f"meanwhile-{number}"),
                imageTag=f"t{number}",
            )
        assert registry.push_blob("busy/elsewhere", b"other bytes")
        elapsed = time.perf_counter() - started
        assert not patch.done() and not queued.done()
        body.release()
        assert patch.result().status_code == 202
        assert queued.result()["lastByteReceived"] == 2002
    assert elapsed < 2.0, f"21 requests took {elapsed:.2f} s beside a stalled upload"
