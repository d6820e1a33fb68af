"""Everything kept under ``--data-dir``: a restart shows the same state, field for field.

In-process, a backend attached to a data directory is driven through the server with
boto3 and the registry API; a second backend then loads the same directory and every
kept field of every record (``records.kept_fields``), every blob a repository holds and
every upload in progress must match.  Fields are kept by construction, so this also
catches state changed in place instead of by assignment.  The subprocess tests restart
a real ``ecr-emulator serve`` (SIGTERM, and kill -9)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import requests
from conftest import docker_manifest, ecr_client
from registry_client import RegistryClient, digest_of, login
from support import PYTHON_MODULE, serving

from ecr_emulator import persistence
from ecr_emulator.blobstore import FilesystemBlobStore
from ecr_emulator.records import encode
from ecr_emulator.server import BackgroundServer, EmulatorApp
from ecr_emulator.state import Backend

OTHER = "210987654321"
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "ecr:*"}
        ],
    }
)


def kept_state(backend: Backend) -> dict:
    """What a restart must show: every kept field, order, tag, link and upload."""
    state: dict = {"token_secret": backend.token_secret.hex()}
    for registry in backend.registries.values():
        state[registry.record_key()] = encode(registry)
        state[registry.record_key() + "/order"] = [
            name for _, name in registry.repository_order.starting_at(0)
        ]
        for repository in registry.repositories.values():
            key = repository.record_key()
            state[key] = encode(repository)
            state[key + "/images"] = [d for _, d in repository.image_order.starting_at(0)]
            state[key + "/tags"] = dict(repository.tag_index)
            state[key + "/links"] = sorted(repository.linked_blobs)
            state[key + "/refs"] = dict(repository.blob_refs)
            state[key + "/parents"] = {k: sorted(v) for k, v in repository.index_parents.items()}
            state[key + "/referrers"] = {k: sorted(v) for k, v in repository.referrers.items()}
            for image in repository.images.values():
                state[image.record_key()] = encode(image)
    for upload in backend.uploads.values():
        state[upload.record_key()] = (encode(upload), upload.writer.size)
    state["holders"] = dict(backend.blob_holders)
    return state


def persistent_backend(data: Path) -> Backend:
    backend = Backend(blobs=FilesystemBlobStore(data))
    persistence.attach(backend, data)
    return backend


def drive_everything(url: str) -> str:
    """Every kind of change the API and the registry make; the id of an upload left open."""
    ecr = ecr_client(endpoint_url=url)
    other = ecr_client(account=OTHER, region="eu-west-1", endpoint_url=url)
    ecr.create_repository(
        repositoryName="kept/settings",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}],
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS"},
        tags=[{"Key": "team", "Value": "a"}, {"Key": "gone", "Value": "soon"}],
    )
    arn = ecr.describe_repositories(repositoryNames=["kept/settings"])["repositories"][0][
        "repositoryArn"
    ]
    ecr.untag_resource(resourceArn=arn, tagKeys=["gone"])
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "added", "Value": "later"}])
    ecr.set_repository_policy(repositoryName="kept/settings", policyText=POLICY)
    for name in ("kept/images", "kept/deleted", "kept/zzz"):
        ecr.create_repository(repositoryName=name)
    other.create_repository(repositoryName="kept/elsewhere")
    for number in range(6):
        ecr.put_image(
            repositoryName="kept/images",
            imageManifest=docker_manifest(str(number)),
            imageTag=f"v{number}",
        )
    ecr.put_image(
        repositoryName="kept/images", imageManifest=docker_manifest("0"), imageTag="moved"
    )
    ecr.put_image(
        repositoryName="kept/images", imageManifest=docker_manifest("1"), imageTag="moved"
    )
    ecr.batch_delete_image(repositoryName="kept/images", imageIds=[{"imageTag": "v2"}])
    ecr.put_image_tag_mutability(repositoryName="kept/zzz", imageTagMutability="IMMUTABLE")
    ecr.put_image_scanning_configuration(
        repositoryName="kept/zzz", imageScanningConfiguration={"scanOnPush": True}
    )
    registry = RegistryClient(ecr, url)
    manifest, answer = registry.push_image("kept/images", "pushed")
    assert answer.status_code == 201
    registry.push_image("kept/deleted", "doomed", layers=(b"only here",))
    registry.push_image("kept/images", "shared", layers=(b"layer one", b"only here"))
    ecr.delete_repository(repositoryName="kept/deleted", force=True)
    registry.get(f"/v2/kept/images/manifests/{digest_of(json.dumps(manifest).encode())}")
    ecr.batch_get_image(repositoryName="kept/images", imageIds=[{"imageTag": "v1"}])  # pulled
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": manifest["mediaType"],
                "digest": digest_of(json.dumps(manifest).encode()),
                "size": len(json.dumps(manifest)),
            }
        ],
    }
    assert registry.put_manifest("kept/images", "index", index).status_code == 201
    RegistryClient(other, url).push_image("kept/elsewhere", "theirs")
    lifecycle_policy = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPrefixList": ["v"],
                        "countType": "imageCountMoreThan",
                        "countNumber": 2,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    ecr.put_lifecycle_policy(repositoryName="kept/images", lifecyclePolicyText=lifecycle_policy)
    # client JSON whose keys look like the store's own tags ($datetime...) comes back as sent
    tagged_like_the_store = {
        "Effect": "Allow",
        "Principal": {"AWS": "222222222222"},
        "Action": "ecr:BatchGetImage",
        "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/*",
        "Condition": {"$datetime": {"aws:PrincipalAccount": "x"}, "$set": {"k": ["v"]}},
    }
    ecr.put_registry_policy(
        policyText=json.dumps({"Version": "2012-10-17", "Statement": [tagged_like_the_store]})
    )
    ecr.create_repository_creation_template(
        prefix="kept", appliedFor=["CREATE_ON_PUSH"], resourceTags=[{"Key": "k", "Value": "v"}]
    )
    ecr.put_image(repositoryName="kept/by-push", imageManifest=docker_manifest("p"), imageTag="t")
    ecr.start_lifecycle_policy_preview(repositoryName="kept/images")
    ecr.update_image_storage_class(
        repositoryName="kept/images", imageId={"imageTag": "v3"}, targetStorageClass="ARCHIVE"
    )
    ecr.update_image_storage_class(
        repositoryName="kept/images", imageId={"imageTag": "v4"}, targetStorageClass="ARCHIVE"
    )
    ecr.update_image_storage_class(
        repositoryName="kept/images", imageId={"imageTag": "v4"}, targetStorageClass="STANDARD"
    )
    upload = registry.post("/v2/kept/images/blobs/uploads/")
    registry.patch(upload.headers["Location"], data=b"first part|")
    layer = ecr.initiate_layer_upload(repositoryName="kept/zzz")["uploadId"]
    ecr.upload_layer_part(
        repositoryName="kept/zzz",
        uploadId=layer,
        partFirstByte=0,
        partLastByte=4,
        layerPartBlob=b"api p",
    )
    return upload.headers["Location"]


def test_a_restart_shows_every_kept_field(tmp_path):
    data = tmp_path / "data"
    backend = persistent_backend(data)
    server = BackgroundServer(EmulatorApp(backend)).start()
    try:
        drive_everything(server.url)
    finally:
        server.stop()
    before = kept_state(backend)
    persistence.close(backend)
    assert len(before) > 20
    reloaded = persistent_backend(data)
    assert kept_state(reloaded) == before
    persistence.close(reloaded)


def test_a_reset_empties_the_data_directory(tmp_path):
    data = tmp_path / "data"
    backend = persistent_backend(data)
    server = BackgroundServer(EmulatorApp(backend)).start()
    try:
        drive_everything(server.url)
        assert requests.post(server.url + "/_emulator/reset", timeout=5).status_code == 200
    finally:
        server.stop()
    secret = backend.token_secret
    persistence.close(backend)
    reloaded = persistent_backend(data)
    assert reloaded.registries == {} and reloaded.uploads == {}
    assert reloaded.token_secret == secret  # logins made before the reset still verify
    assert list(reloaded.blobs.stored_digests()) == []


def test_blobs_no_one_holds_are_freed_on_disk(tmp_path):
    data = tmp_path / "data"
    backend = persistent_backend(data)
    server = BackgroundServer(EmulatorApp(backend)).start()
    try:
        ecr = ecr_client(endpoint_url=server.url)
        ecr.create_repository(repositoryName="freed/one")
        registry = RegistryClient(ecr, server.url)
        registry.push_image("freed/one", "x", layers=(b"freed layer",))
        ecr.delete_repository(repositoryName="freed/one", force=True)
    finally:
        server.stop()
    assert list(backend.blobs.stored_digests()) == []
    # bytes a crash left between storing a blob and recording it go at the next start
    orphan = backend.blobs.path_of(digest_of(b"orphan"))
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")
    persistence.close(backend)
    reloaded = persistent_backend(data)
    assert persistence.free_unheld_blobs(reloaded) == 1
    assert list(reloaded.blobs.stored_digests()) == []


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_a_server_restart_keeps_logins_uploads_and_images(tmp_path, stop):
    """docker login survives a restart (the token secret is kept); a /v2/ upload in
    progress resumes where it stopped, as distribution allows; images pull."""
    data = tmp_path / "data"
    options = ("--data-dir", str(data))
    with serving(PYTHON_MODULE, tmp_path / "first.log", *options) as first:
        ecr = first.client()
        ecr.create_repository(repositoryName="restart/me")
        registry = RegistryClient(ecr, first.url)
        manifest, answer = registry.push_image("restart/me", "latest")
        assert answer.status_code == 201
        location = registry.post("/v2/restart/me/blobs/uploads/").headers["Location"]
        assert registry.patch(location, data=b"before the restart|").status_code == 202
        port = first.port
        first.process.send_signal(getattr(signal, stop))
        first.process.wait(timeout=30)
    with serving(PYTHON_MODULE, tmp_path / "second.log", *options, port=port) as second:
        assert "loaded" in second.log_text()
        # the same password, issued before the restart
        status = registry.get(location)
        assert status.status_code == 204
        assert status.headers["Range"] == "0-18"
        assert registry.patch(location, data=b"after").status_code == 202
        data_bytes = b"before the restart|after"
        answer = registry.put(location, params={"digest": digest_of(data_bytes)})
        assert answer.status_code == 201, answer.text
        assert registry.get(f"/v2/restart/me/blobs/{digest_of(data_bytes)}").content == data_bytes
        pulled = registry.get(
            "/v2/restart/me/manifests/latest", headers={"Accept": manifest["mediaType"]}
        )
        assert pulled.json() == manifest
        for layer in manifest["layers"]:
            assert registry.get(f"/v2/restart/me/blobs/{layer['digest']}").status_code == 200
        _, _, password = login(second.client())
        assert password  # a new login works as well


def test_fsync_always_keeps_changes_across_kill(tmp_path):
    options = ("--data-dir", str(tmp_path / "data"), "--fsync", "always")
    with serving(PYTHON_MODULE, tmp_path / "first.log", *options) as first:
        ecr = first.client()
        ecr.create_repository(repositoryName="fsync/always")
        ecr.put_image(repositoryName="fsync/always", imageManifest=docker_manifest(), imageTag="a")
        port = first.port
        first.process.kill()
        first.process.wait(timeout=10)
    with serving(PYTHON_MODULE, tmp_path / "second.log", *options, port=port) as second:
        images = second.client().describe_images(repositoryName="fsync/always")["imageDetails"]
        assert [image["imageTags"] for image in images] == [["a"]]
