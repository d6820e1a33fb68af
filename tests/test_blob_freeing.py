"""Blobs that no repository holds any more are freed, in memory and on disk, and never
one that a push of the same digest is landing at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from registry_client import RegistryClient, digest_of

from ecr_emulator.blobstore import FilesystemBlobStore
from ecr_emulator.server import BackgroundServer, EmulatorApp
from ecr_emulator.state import Backend


@pytest.fixture
def registry(ecr, ecr_target) -> RegistryClient:
    for name in ("free/one", "free/two"):
        ecr.create_repository(repositoryName=name)
    return RegistryClient(ecr)


def stored(backend: Backend, digest: str) -> bool:
    return backend.blobs.exists(digest)


def test_deleting_the_last_image_frees_its_blobs(ecr, registry, target_backend):
    manifest, answer = registry.push_image("free/one", "v1", layers=(b"only here",))
    assert answer.status_code == 201
    blobs = [manifest["config"]["digest"], manifest["layers"][0]["digest"]]
    assert all(stored(target_backend, digest) for digest in blobs)
    ecr.batch_delete_image(repositoryName="free/one", imageIds=[{"imageTag": "v1"}])
    assert not any(stored(target_backend, digest) for digest in blobs)
    assert registry.get(f"/v2/free/one/blobs/{blobs[1]}").status_code == 404
    assert target_backend.blob_holders == {}


def test_a_blob_another_image_or_repository_holds_stays(ecr, registry, target_backend):
    shared = b"shared base layer"
    registry.push_image("free/one", "a", layers=(shared, b"a's own"))
    registry.push_image("free/one", "b", layers=(shared, b"b's own"))
    registry.push_image("free/two", "c", layers=(shared,))
    base = digest_of(shared)
    ecr.batch_delete_image(repositoryName="free/one", imageIds=[{"imageTag": "a"}])
    assert stored(target_backend, base)
    assert not stored(target_backend, digest_of(b"a's own"))
    ecr.batch_delete_image(repositoryName="free/one", imageIds=[{"imageTag": "b"}])
    assert stored(target_backend, base)  # free/two still holds it
    assert registry.get(f"/v2/free/two/blobs/{base}").content == shared
    assert registry.get(f"/v2/free/one/blobs/{base}").status_code == 404
    ecr.delete_repository(repositoryName="free/two", force=True)
    assert not stored(target_backend, base)


def test_an_upload_not_yet_in_an_image_is_held_until_its_repository_goes(
    ecr, registry, target_backend
):
    digest = registry.push_blob("free/one", b"uploaded, never referenced")
    assert registry.head(f"/v2/free/one/blobs/{digest}").status_code == 200
    ecr.delete_repository(repositoryName="free/one", force=True)
    assert not stored(target_backend, digest)


def test_blob_delete_through_the_registry_frees_it(registry, target_backend):
    digest = registry.push_blob("free/one", b"to be deleted")
    assert registry.delete(f"/v2/free/one/blobs/{digest}").status_code == 202
    assert not stored(target_backend, digest)
    assert registry.delete(f"/v2/free/one/blobs/{digest}").status_code == 404


@pytest.fixture
def disk_server(tmp_path):
    backend = Backend(blobs=FilesystemBlobStore(tmp_path / "data"))
    server = BackgroundServer(EmulatorApp(backend), port=0)
    server.backend.registry_host = f"{server.host}:{server.port}"
    server.start()
    yield server
    server.stop()


def test_files_are_removed_from_the_data_dir(disk_server, tmp_path):
    from conftest import ecr_client

    ecr = ecr_client(endpoint_url=disk_server.url)
    ecr.create_repository(repositoryName="free/disk")
    registry = RegistryClient(ecr)
    registry.push_image("free/disk", "v1", layers=(b"x" * 100_000,))
    blob_files = [p for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()]
    assert len(blob_files) == 2
    ecr.delete_repository(repositoryName="free/disk", force=True)
    assert [p for p in (tmp_path / "data").rglob("*") if p.is_file()] == []


def test_freeing_never_races_a_push_of_the_same_digest(disk_server):
    """Two clients push, read back and delete images with the same layer in two repositories,
    over and over, so the layer is freed again and again while the other pushes it: every
    push lands and every read is whole."""
    from conftest import ecr_client

    ecr = ecr_client(endpoint_url=disk_server.url)
    for name in ("race/deleter", "race/pusher"):
        ecr.create_repository(repositoryName=name)
    layer = b"the contested layer " * 5000
    digest = digest_of(layer)
    stop = threading.Event()
    problems: list[str] = []

    def push_and_delete() -> None:
        client = RegistryClient(ecr)
        while not stop.is_set():
            client.push_image("race/deleter", "v1", layers=(layer,))
            ecr.batch_delete_image(repositoryName="race/deleter", imageIds=[{"imageTag": "v1"}])

    def push_and_read() -> None:
        client = RegistryClient(ecr)
        for _ in range(40):
            _, answer = client.push_image("race/pusher", "v1", layers=(layer,))
            if answer.status_code != 201:
                problems.append(f"manifest PUT {answer.status_code}: {answer.text}")
            got = client.get(f"/v2/race/pusher/blobs/{digest}")
            if got.status_code != 200 or got.content != layer:
                problems.append(f"blob GET {got.status_code}, {len(got.content)} bytes")
            ecr.batch_delete_image(repositoryName="race/pusher", imageIds=[{"imageTag": "v1"}])
        stop.set()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(push_and_delete), pool.submit(push_and_read)]
        for future in futures:
            future.result(timeout=120)
    assert problems == []
    freed = disk_server.backend.blob_holders.get(digest) is None
    assert disk_server.backend.blobs.exists(digest) != freed


def test_a_blob_delete_leaves_the_images_references_counted(ecr, registry, target_backend):
    """DELETE a blob an image uses, upload it again for a second image, delete the first
    image: the second still pulls."""
    layer = b"shared then deleted"
    _, answer = registry.push_image("free/one", "a", layers=(layer,))
    assert answer.status_code == 201
    digest = digest_of(layer)
    assert registry.delete(f"/v2/free/one/blobs/{digest}").status_code == 202
    _, answer = registry.push_image("free/one", "b", layers=(layer, b"b's own"))
    assert answer.status_code == 201
    ecr.batch_delete_image(repositoryName="free/one", imageIds=[{"imageTag": "a"}])
    assert registry.get(f"/v2/free/one/blobs/{digest}").content == layer
    ecr.batch_delete_image(repositoryName="free/one", imageIds=[{"imageTag": "b"}])
    assert not stored(target_backend, digest)
