"""OCI 1.1 corners of the registry: tag parameters, non-distributable layers, sparse manifests."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator

import boto3
import pytest
from registry_client import (
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryClient,
    error_codes,
    image_manifest,
    manifest_digest,
)

from ecr_emulator.server import BackgroundServer, EmulatorApp
from ecr_emulator.state import Backend

REPOSITORY = "oci/corners"
MISSING = "sha256:" + "0" * 64


def _start(**backend_options) -> BackgroundServer:
    server = BackgroundServer(EmulatorApp(Backend(**backend_options)))
    server.backend.registry_host = f"{server.host}:{server.port}"
    return server.start()


@pytest.fixture(params=[False, True], ids=["ecr-default", "allow-sparse"])
def registry(request) -> Iterator[tuple[RegistryClient, bool]]:
    server = _start(allow_sparse_manifests=request.param)
    try:
        ecr = boto3.client("ecr", region_name="us-east-1", endpoint_url=server.url)
        ecr.create_repository(repositoryName=REPOSITORY)
        yield RegistryClient(ecr), request.param
    finally:
        server.stop()


def test_put_by_digest_with_tag_parameters_creates_every_tag(registry):
    client, _ = registry
    manifest, answer = client.push_image(REPOSITORY, "seed")
    digest = manifest_digest(manifest)
    answer = client.put(
        f"/v2/{REPOSITORY}/manifests/{digest}",
        params=[("tag", "1.2.3"), ("tag", "1.2"), ("tag", "latest")],
        data=answer.request.body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["OCI-Tag"] == "1.2.3, 1.2, latest"
    assert answer.headers["Docker-Content-Digest"] == digest
    tags = client.get(f"/v2/{REPOSITORY}/tags/list").json()["tags"]
    assert tags == ["1.2", "1.2.3", "latest", "seed"]
    for tag in ("1.2", "latest"):
        assert (
            client.head(f"/v2/{REPOSITORY}/manifests/{tag}").headers["Docker-Content-Digest"]
            == digest
        )


def test_bad_tag_parameter_is_tag_invalid(registry):
    client, _ = registry
    manifest, answer = client.push_image(REPOSITORY, "seed")
    answer = client.put(
        f"/v2/{REPOSITORY}/manifests/{manifest_digest(manifest)}",
        params={"tag": "not+a+tag"},
        data=answer.request.body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert answer.status_code == 400
    assert error_codes(answer) == ["TAG_INVALID"]


def test_non_distributable_layers_need_not_be_pushed(registry):
    client, _ = registry
    config = b'{"architecture":"amd64","os":"linux"}'
    pushed = client.push_blob(REPOSITORY, b"real layer")
    manifest = image_manifest([(pushed, 10)], (client.push_blob(REPOSITORY, config), len(config)))
    manifest["layers"].insert(
        0,
        {
            "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "digest": MISSING,
            "size": 123456,
            "urls": ["https://store.example.com/blobs/layer"],
        },
    )
    answer = client.put_manifest(REPOSITORY, "foreign", manifest)
    assert answer.status_code == 201, answer.text
    got = client.get(f"/v2/{REPOSITORY}/manifests/foreign", headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200
    assert got.content == answer.request.body


def test_sparse_manifests_only_with_the_option(registry):
    """ECR refuses manifests and indexes that reference what was never pushed; the server's
    ``--allow-sparse-manifests`` accepts them (the OCI conformance 'sparse' data set)."""
    client, allow_sparse = registry
    config = b'{"architecture":"amd64","os":"linux"}'
    layer_missing = image_manifest(
        [(MISSING, 5)], (client.push_blob(REPOSITORY, config), len(config))
    )
    child, _ = client.push_image(REPOSITORY, "child")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest(child),
                "size": 10,
                "platform": {"architecture": "amd64", "os": "linux"},
            },
            {
                "mediaType": OCI_MANIFEST,
                "digest": MISSING,
                "size": 1024,
                "platform": {"architecture": "arm64", "os": "linux"},
            },
        ],
    }
    for reference, document in (("sparse-image", layer_missing), ("sparse-index", index)):
        answer = client.put_manifest(REPOSITORY, reference, document)
        if allow_sparse:
            assert answer.status_code == 201, answer.text
            assert client.get(f"/v2/{REPOSITORY}/manifests/{reference}").json() == document
        else:
            assert answer.status_code == 400
            assert error_codes(answer) == ["MANIFEST_BLOB_UNKNOWN"]
            assert client.head(f"/v2/{REPOSITORY}/manifests/{reference}").status_code == 404


def _start_upload(client: RegistryClient) -> str:
    answer = client.post(f"/v2/{REPOSITORY}/blobs/uploads/")
    assert answer.status_code == 202
    return answer.headers["Location"]


def test_chunk_whose_range_and_length_disagree_is_refused(registry):
    client, _ = registry
    location = _start_upload(client)
    answer = client.patch(
        location,
        data=b"abc",
        headers={"Content-Range": "0-9", "Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 400
    assert error_codes(answer) == ["BLOB_UPLOAD_INVALID"]
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-0"  # nothing was taken from the refused chunk


def test_broken_chunked_body_gets_a_registry_error_not_a_500(registry):
    client, _ = registry
    location = _start_upload(client)
    host, port = client.base.removeprefix("http://").split(":")
    user, password = client.session.auth
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Basic {credentials}\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/octet-stream\r\n\r\nzz-not-hex\r\nabc\r\n".encode()
        )
        connection.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0]
    assert b" 400 " in status_line, reply[:300]
    assert b"BLOB_UPLOAD_INVALID" in reply


def test_tag_parameters_are_all_or_nothing(registry):
    client, _ = registry
    ecr = boto3.client("ecr", region_name="us-east-1", endpoint_url=client.base)
    ecr.put_image_tag_mutability(repositoryName=REPOSITORY, imageTagMutability="IMMUTABLE")
    client.push_image(REPOSITORY, "taken")
    manifest, _ = client.push_image(REPOSITORY, "other", layers=(b"different",))
    digest = manifest_digest(manifest)
    answer = client.put(
        f"/v2/{REPOSITORY}/manifests/{digest}",
        params=[("tag", "fresh"), ("tag", "taken")],
        data=client.get(f"/v2/{REPOSITORY}/manifests/{digest}").content,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert answer.status_code == 400
    assert error_codes(answer) == ["TAG_INVALID"]
    assert client.get(f"/v2/{REPOSITORY}/tags/list").json()["tags"] == ["other", "taken"]


def test_a_tag_with_a_trailing_newline_is_not_a_tag(registry):
    client, _ = registry
    _, answer = client.push_image(REPOSITORY, "seed")
    again = client.put(
        f"/v2/{REPOSITORY}/manifests/v1%0A",
        data=answer.request.body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert again.status_code == 400
    assert error_codes(again) == ["TAG_INVALID"]
    assert client.get(f"/v2/{REPOSITORY}/tags/list").json()["tags"] == ["seed"]
