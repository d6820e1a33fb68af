"""Inside ``mock_ecr``, ``requests`` calls to registry hosts are answered in-process.

Driven with real boto3 and ``requests``; nothing here listens on a socket except the
one loopback server that proves other URLs still pass through to the network.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
import requests
import requests.adapters
import responses
from conftest import ecr_client
from registry_client import OCI_MANIFEST, RegistryClient, digest_of, error_codes

from ecr_emulator import mock_ecr

AWS_HOST = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
ORIGINAL_SEND = requests.adapters.HTTPAdapter.send


@pytest.fixture
def loopback_url() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering ``real`` to every GET."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"real")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/anything"
    server.shutdown()
    server.server_close()


@mock_ecr
def test_push_and_pull_through_requests():
    ecr = ecr_client()
    ecr.create_repository(repositoryName="inproc")
    registry = RegistryClient(ecr)
    assert registry.base == AWS_HOST
    ping = registry.get("/v2/")
    assert ping.status_code == 200
    assert ping.headers["Docker-Distribution-API-Version"] == "registry/2.0"

    binary = bytes(range(256)) * 5000
    location = registry.post("/v2/inproc/blobs/uploads/").headers["Location"]
    answer = registry.patch(location, data=iter([binary[:1000], binary[1000:]]))  # chunked
    assert answer.status_code == 202
    assert answer.headers["Range"] == f"0-{len(binary) - 1}"
    digest = digest_of(binary)
    assert registry.put(answer.headers["Location"], params={"digest": digest}).status_code == 201

    head = registry.head(f"/v2/inproc/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(binary))
    assert head.content == b""
    assert registry.get(f"/v2/inproc/blobs/{digest}").content == binary
    with registry.get(f"/v2/inproc/blobs/{digest}", stream=True) as streamed:
        assert b"".join(streamed.iter_content(chunk_size=4096)) == binary
    ranged = registry.get(f"/v2/inproc/blobs/{digest}", headers={"Range": "bytes=1-3"})
    assert (ranged.status_code, ranged.content) == (206, b"\x01\x02\x03")

    config = registry.push_blob("inproc", b"{}")
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digest,
                "size": len(binary),
            }
        ],
    }
    assert registry.put_manifest("inproc", "v1", manifest).status_code == 201
    (detail,) = ecr.describe_images(repositoryName="inproc")["imageDetails"]
    assert detail["imageSizeInBytes"] == len(binary)
    assert registry.get("/v2/inproc/manifests/v1").json() == manifest


@mock_ecr
def test_file_str_and_bytearray_bodies_are_sent(tmp_path):
    ecr = ecr_client()
    ecr.create_repository(repositoryName="files")
    registry = RegistryClient(ecr)
    path = tmp_path / "layer.bin"
    path.write_bytes(b"\x00\xff" * 1000)
    with path.open("rb") as body:
        answer = registry.post(
            "/v2/files/blobs/uploads/", params={"digest": digest_of(path.read_bytes())}, data=body
        )
    assert answer.status_code == 201
    answer = registry.post(
        "/v2/files/blobs/uploads/", params={"digest": digest_of(b"text")}, data="text"
    )
    assert answer.status_code == 201
    answer = registry.post(
        "/v2/files/blobs/uploads/", params={"digest": digest_of(b"array")}, data=bytearray(b"array")
    )
    assert answer.status_code == 201


@mock_ecr
def test_registry_needs_the_token_in_process():
    ecr = ecr_client()
    ecr.create_repository(repositoryName="guarded")
    answer = requests.get(f"{AWS_HOST}/v2/guarded/tags/list", timeout=5)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert error_codes(answer) == ["UNAUTHORIZED"]


@mock_ecr
def test_the_host_names_the_registry_and_the_token_the_caller():
    china = ecr_client("cn-north-1")
    china.create_repository(repositoryName="far")
    registry = RegistryClient(china)
    assert registry.base == "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
    assert registry.get("/v2/far/tags/list").json() == {"name": "far", "tags": []}
    # Another account's registry host in the same region: the same caller, judged by
    # that account's policies.
    elsewhere = RegistryClient(china, "https://999999999999.dkr.ecr.cn-north-1.amazonaws.com.cn")
    answer = elsewhere.get("/v2/far/tags/list")
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["code"] == "DENIED"
    # Another region's registries: a password is for its own region only.
    far_away = RegistryClient(china, "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    answer = far_away.get("/v2/far/tags/list")
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"


@mock_ecr
def test_download_url_is_answered_in_process():
    ecr = ecr_client()
    ecr.create_repository(repositoryName="dl")
    digest = RegistryClient(ecr).push_blob("dl", b"\x00binary\xff")
    url = ecr.get_download_url_for_layer(repositoryName="dl", layerDigest=digest)["downloadUrl"]
    assert url.startswith(
        "https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/"
    )
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200
    assert answer.content == b"\x00binary\xff"
    assert requests.head(url, timeout=5).headers["Content-Length"] == "8"


@mock_ecr(registry_host="localhost:5000")
def test_registry_host_option_is_intercepted_too():
    ecr = ecr_client()
    ecr.create_repository(repositoryName="local")
    registry = RegistryClient(ecr)
    assert registry.base == "http://localhost:5000"
    digest = registry.push_blob("local", b"on localhost")
    assert registry.get(f"/v2/local/blobs/{digest}").content == b"on localhost"
    url = ecr.get_download_url_for_layer(repositoryName="local", layerDigest=digest)["downloadUrl"]
    assert url.startswith("http://localhost:5000/_emulator/layers/")
    assert requests.get(url, timeout=5).content == b"on localhost"
    assert (
        requests.get("http://localhost:5000/_emulator/health", timeout=5).json()["status"] == "ok"
    )
    assert RegistryClient(ecr, AWS_HOST).get("/v2/local/tags/list").status_code == 200


def test_other_urls_pass_through_to_the_network(loopback_url):
    with mock_ecr():
        assert requests.get(loopback_url, timeout=5).text == "real"
        # An AWS-looking host outside /v2/ is not the registry's either.
        with responses.RequestsMock() as user_mock:
            user_mock.get(f"{AWS_HOST}/other", body="the user's")
            assert requests.get(f"{AWS_HOST}/other", timeout=5).text == "the user's"
    assert requests.adapters.HTTPAdapter.send is ORIGINAL_SEND


def test_a_responses_mock_started_first_keeps_working():
    with responses.RequestsMock() as user_mock:
        user_mock.get("https://api.example.test/thing", json={"mocked": True})
        with mock_ecr():
            assert requests.get("https://api.example.test/thing", timeout=5).json() == {
                "mocked": True
            }
            assert RegistryClient(ecr_client()).get("/v2/").status_code == 200
        assert requests.get("https://api.example.test/thing", timeout=5).json() == {"mocked": True}
        with pytest.raises(requests.ConnectionError, match="Connection refused by Responses"):
            requests.get(f"{AWS_HOST}/v2/", timeout=5)  # ours is gone: the user's mock answers
    assert requests.adapters.HTTPAdapter.send is ORIGINAL_SEND


def test_nested_mocks_have_their_own_registries():
    with mock_ecr():
        outer_ecr = ecr_client()
        outer_ecr.create_repository(repositoryName="outer")
        outer = RegistryClient(outer_ecr)
        with mock_ecr():
            assert outer.get("/v2/").status_code == 401  # the outer backend's token
            inner = RegistryClient(ecr_client())
            assert inner.get("/v2/outer/tags/list").status_code == 404
        assert outer.get("/v2/outer/tags/list").status_code == 200
    assert requests.adapters.HTTPAdapter.send is ORIGINAL_SEND


def test_stopping_out_of_order_and_restarting():
    first = mock_ecr().start()
    second = mock_ecr().start()
    try:
        first.stop()
        assert RegistryClient(ecr_client()).get("/v2/").status_code == 200  # second answers
        second.stop()
        assert requests.adapters.HTTPAdapter.send is ORIGINAL_SEND
        first.start()
        assert RegistryClient(ecr_client()).get("/v2/").status_code == 200
    finally:
        first.stop()
        second.stop()
    assert requests.adapters.HTTPAdapter.send is ORIGINAL_SEND


@mock_ecr
def test_requests_from_other_threads_are_answered():
    ecr = ecr_client()
    ecr.create_repository(repositoryName="threads")
    registry = RegistryClient(ecr)
    results: list[object] = []

    def pull(index: int) -> None:
        try:
            data = f"blob {index}".encode()
            digest = registry.push_blob("threads", data)
            results.append(registry.get(f"/v2/threads/blobs/{digest}").content == data)
        except Exception as error:  # reported below
            results.append(error)

    workers = [threading.Thread(target=pull, args=(index,)) for index in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert results == [True] * 8
