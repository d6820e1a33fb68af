"""The core announces each committed change, after letting go of the lock.

Subscribers (``backend.events.subscribe``) hear what real clients did: boto3 on
the API, ``requests`` on /v2/.
"""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest
from registry_client import DOCKER_MANIFEST, RegistryClient, manifest_digest

from ecr_emulator import events

REPO = "events/app"


@pytest.fixture
def heard(target_backend):
    """Every event published while the test runs, in order."""
    seen: list[object] = []
    unsubscribe = target_backend.events.subscribe(seen.append)
    yield seen
    unsubscribe()


def kinds(seen: list[object]) -> list[str]:
    return [type(event).__name__ for event in seen]


def test_an_image_life_through_the_api(ecr, heard):
    ecr.create_repository(repositoryName=REPO)
    first, second = docker_manifest("one"), docker_manifest("two")
    ecr.put_image(repositoryName=REPO, imageManifest=first, imageTag="v1")
    ecr.put_image(repositoryName=REPO, imageManifest=second, imageTag="v1")  # the tag moves
    ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": manifest_digest(first)}])
    ecr.put_image_tag_mutability(repositoryName=REPO, imageTagMutability="IMMUTABLE")
    ecr.delete_repository(repositoryName=REPO, force=True)
    one, two = manifest_digest(first), manifest_digest(second)
    assert [e for e in heard if not isinstance(e, events.BlobFreed)] == [
        events.RepositoryCreated("123456789012", "us-east-1", REPO),
        events.ImagePushed("123456789012", "us-east-1", REPO, one, DOCKER_MANIFEST),
        events.TagMoved("123456789012", "us-east-1", REPO, "v1", one, None),
        events.ImagePushed("123456789012", "us-east-1", REPO, two, DOCKER_MANIFEST),
        events.TagMoved("123456789012", "us-east-1", REPO, "v1", two, one),
        events.ImagePulled("123456789012", "us-east-1", REPO, two),
        events.ImageDeleted("123456789012", "us-east-1", REPO, one, ()),
        events.RepositoryChanged("123456789012", "us-east-1", REPO, "imageTagMutability"),
        events.RepositoryDeleted("123456789012", "us-east-1", REPO),
    ]


def test_policies_and_resource_tags(ecr, heard):
    ecr.create_repository(repositoryName=REPO)
    arn = ecr.describe_repositories()["repositories"][0]["repositoryArn"]
    text = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:ListImages"}]}'
    ecr.set_repository_policy(repositoryName=REPO, policyText=text)
    ecr.delete_repository_policy(repositoryName=REPO)
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k", "Value": "v"}])
    assert heard[1:] == [
        events.PolicyChanged("123456789012", "us-east-1", REPO, text),
        events.PolicyChanged("123456789012", "us-east-1", REPO, None),
        events.ResourceTagsChanged("123456789012", "us-east-1", REPO),
    ]


def test_a_push_and_pull_through_the_registry(ecr, heard):
    ecr.create_repository(repositoryName=REPO)
    registry = RegistryClient(ecr)
    manifest, answer = registry.push_image(REPO, "latest")
    assert answer.status_code == 201
    assert registry.get(f"/v2/{REPO}/manifests/latest").status_code == 200
    assert registry.head(f"/v2/{REPO}/manifests/latest").status_code == 200  # not a pull
    assert registry.delete(f"/v2/{REPO}/manifests/latest").status_code == 202
    assert kinds(heard) == [
        "RepositoryCreated",
        "LayerUploaded",
        "LayerUploaded",
        "LayerUploaded",
        "ImagePushed",
        "TagMoved",
        "ImagePulled",
        "TagRemoved",
    ]
    uploaded = {e.digest for e in heard if isinstance(e, events.LayerUploaded)}
    assert uploaded == {manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])}


def test_failed_changes_announce_nothing(ecr, heard):
    ecr.create_repository(repositoryName=REPO)
    heard.clear()
    with pytest.raises(ClientError):
        ecr.create_repository(repositoryName=REPO)
    with pytest.raises(ClientError):
        ecr.put_image(repositoryName="missing", imageManifest=docker_manifest(), imageTag="x")
    assert heard == []


def test_subscribers_run_outside_the_lock_and_may_call_back(ecr, target_backend):
    """A subscriber that needs the lock from another thread, or calls the API itself,
    would deadlock if it were called with the lock held."""
    from_other_thread: list[bool] = []
    described: list[int] = []

    def subscriber(event: object) -> None:
        if not isinstance(event, events.ImagePushed):
            return
        probe = threading.Thread(
            target=lambda: (
                from_other_thread.append(target_backend.lock.acquire(timeout=5))
                or target_backend.lock.release()
            )
        )
        probe.start()
        probe.join()
        described.append(len(ecr.describe_images(repositoryName=REPO)["imageDetails"]))

    unsubscribe = target_backend.events.subscribe(subscriber)
    try:
        ecr.create_repository(repositoryName=REPO)
        ecr.put_image(repositoryName=REPO, imageManifest=docker_manifest(), imageTag="v1")
    finally:
        unsubscribe()
    assert from_other_thread == [True]
    assert described == [1]  # the change was committed before the subscriber heard of it


def test_a_failing_subscriber_never_fails_the_request(ecr, target_backend, caplog):
    def broken(event: object) -> None:
        raise RuntimeError("subscriber bug")

    unsubscribe = target_backend.events.subscribe(broken)
    try:
        ecr.create_repository(repositoryName=REPO)
    finally:
        unsubscribe()
    assert ecr.describe_repositories()["repositories"][0]["repositoryName"] == REPO
    assert "subscriber bug" in caplog.text


def test_mounts_and_blob_deletes_are_announced(ecr, heard):
    ecr.create_repository(repositoryName=REPO)
    ecr.create_repository(repositoryName="events/other")
    ecr.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    registry = RegistryClient(ecr)
    digest = registry.push_blob(REPO, b"mounted")
    answer = registry.post(
        "/v2/events/other/blobs/uploads/", params={"mount": digest, "from": REPO}
    )
    assert answer.status_code == 201
    assert registry.delete(f"/v2/events/other/blobs/{digest}").status_code == 202
    assert heard[-2:] == [
        events.LayerMounted("123456789012", "us-east-1", "events/other", digest, REPO),
        events.LayerUnlinked("123456789012", "us-east-1", "events/other", digest),
    ]


def test_a_pull_the_client_cannot_accept_is_no_pull(ecr, heard):
    ecr.create_repository(repositoryName=REPO)
    registry = RegistryClient(ecr)
    registry.push_image(REPO, "latest")
    heard.clear()
    answer = registry.get(
        f"/v2/{REPO}/manifests/latest",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert answer.status_code == 404
    assert heard == []
    (image,) = ecr.describe_images(repositoryName=REPO)["imageDetails"]
    assert "lastRecordedPullTime" not in image


def test_reset_is_announced(ecr_server):
    seen: list[object] = []
    unsubscribe = ecr_server.backend.events.subscribe(seen.append)
    try:
        import requests

        assert requests.post(ecr_server.url + "/_emulator/reset", timeout=5).status_code == 200
    finally:
        unsubscribe()
    assert seen == [events.StateReset()]
