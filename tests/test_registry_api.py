"""The registry plane (/v2/) against the live server, driven with ``requests`` and boto3.

Credentials come from GetAuthorizationToken exactly as ``docker login`` gets them;
the same state is then checked through the ECR API.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import ecr_client
from registry_client import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    GatedBody,
    RegistryClient,
    digest_of,
    error_codes,
    image_manifest,
    manifest_digest,
)

from ecr_emulator import ManualClock
from ecr_emulator.blobstore import FilesystemBlobStore
from ecr_emulator.core import uploads
from ecr_emulator.server import BackgroundServer, EmulatorApp
from ecr_emulator.state import Backend

REPO = "team/app"


@pytest.fixture
def api(ecr_server):
    """A boto3 ECR client of the live server, with ``REPO`` created."""
    boto = ecr_client(endpoint_url=ecr_server.url)
    boto.create_repository(repositoryName=REPO)
    return boto


@pytest.fixture
def registry(api, ecr_server) -> RegistryClient:
    return RegistryClient(api, ecr_server.url)


@pytest.fixture
def disk_server(tmp_path) -> Iterator[BackgroundServer]:
    """A server of its own storing blobs under ``tmp_path/data`` (``serve --data-dir``)."""
    server = BackgroundServer(EmulatorApp(Backend(blobs=FilesystemBlobStore(tmp_path / "data"))))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def disk_registry(disk_server) -> RegistryClient:
    boto = ecr_client(endpoint_url=disk_server.url)
    boto.create_repository(repositoryName=REPO)
    return RegistryClient(boto, disk_server.url)


def upload_files(server: BackgroundServer) -> list[Path]:
    """What a ``disk_server`` holds of uploads in progress."""
    return sorted((server.backend.blobs.root / "uploads").iterdir())


def start_upload(registry: RegistryClient, repository: str = REPO) -> str:
    answer = registry.post(f"/v2/{repository}/blobs/uploads/")
    assert answer.status_code == 202, answer.text
    assert answer.headers["Docker-Upload-UUID"]
    return answer.headers["Location"]


# --- ping and auth ---------------------------------------------------------------------------


def test_ping_answers_with_api_version(registry):
    answer = registry.get("/v2/")
    assert answer.status_code == 200
    assert answer.headers["Docker-Distribution-API-Version"] == "registry/2.0"


@pytest.mark.parametrize("path", ["/v2/", f"/v2/{REPO}/tags/list"])
def test_without_credentials_401_with_a_token_challenge(ecr_server, path):
    """The server's one host serves ECR Public too, so its challenge is public.ecr.aws's:
    a Bearer token from /v2/token.  With no login that token is anonymous, and it opens
    no private repository; a login's password is accepted as Basic or as the token."""
    answer = requests.get(ecr_server.url + path, timeout=10)
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge == f'Bearer realm="{ecr_server.url}/v2/token",service="ecr.amazonaws.com"'
    assert answer.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert error_codes(answer) == ["UNAUTHORIZED"]
    anonymous = requests.get(f"{ecr_server.url}/v2/token", timeout=10).json()["token"]
    again = requests.get(
        ecr_server.url + path, headers={"Authorization": f"Bearer {anonymous}"}, timeout=10
    )
    if path == "/v2/":  # the ping: the anonymous token is a login (to public repositories)
        assert again.status_code == 200
    else:
        assert again.status_code == 403 and error_codes(again) == ["DENIED"]


def test_a_login_gets_its_password_back_as_the_token(registry, ecr_server):
    issued = requests.get(
        f"{ecr_server.url}/v2/token", auth=("AWS", registry.password), timeout=10
    ).json()
    assert issued["token"] == issued["access_token"] == registry.password
    assert 0 < issued["expires_in"] <= 12 * 3600
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    assert requests.get(f"{ecr_server.url}/v2/", headers=bearer, timeout=10).status_code == 200
    refused = requests.get(f"{ecr_server.url}/v2/token", auth=("AWS", "forged"), timeout=10)
    assert refused.status_code == 401
    # OAuth2's grants in a POSTed form, as containerd asks (tests/test_containerd.py)
    form = {"grant_type": "password", "username": "AWS", "password": registry.password}
    granted = requests.post(f"{ecr_server.url}/v2/token", data=form, timeout=10).json()
    assert granted["access_token"] == granted["refresh_token"] == registry.password
    again = {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]}
    assert requests.post(f"{ecr_server.url}/v2/token", data=again, timeout=10).status_code == 200
    for bad in ({**form, "username": "root"}, {**form, "password": "forged"}):
        assert requests.post(f"{ecr_server.url}/v2/token", data=bad, timeout=10).status_code == 401
    huge = requests.post(
        f"{ecr_server.url}/v2/token", data={"grant_type": "x" * 100_000}, timeout=10
    )
    assert huge.status_code == 413


def test_wrong_user_garbage_and_tampered_password_are_401(registry, ecr_server):
    password = registry.password
    payload, _, signature = password.partition(".")
    tampered = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    non_ascii = (b"AWS", f"{payload}.\u00e9{signature[1:]}".encode())  # UTF-8 on the wire
    for auth in [("someone", password), ("AWS", tampered), ("AWS", "not-a-token"), non_ascii]:
        answer = requests.get(ecr_server.url + "/v2/", auth=auth, timeout=10)
        assert answer.status_code == 401, auth
        assert "WWW-Authenticate" in answer.headers
    garbage = {"Authorization": "Basic !!!not-base64"}
    assert requests.get(ecr_server.url + "/v2/", headers=garbage, timeout=10).status_code == 401
    assert registry.get("/v2/").status_code == 200


def test_expired_token_is_denied_with_403():
    clock = ManualClock()
    server = BackgroundServer(EmulatorApp(Backend(clock=clock))).start()
    try:
        boto = ecr_client(endpoint_url=server.url)
        registry = RegistryClient(boto, server.url)
        assert registry.get("/v2/").status_code == 200
        clock.advance(hours=11, minutes=59)
        assert registry.get("/v2/").status_code == 200
        clock.advance(minutes=1)
        answer = registry.get("/v2/")
        assert answer.status_code == 403
        assert error_codes(answer) == ["DENIED"]
        assert RegistryClient(boto, server.url).get("/v2/").status_code == 200  # a fresh token
    finally:
        server.stop()


def test_the_token_decides_the_account(ecr_server, registry):
    other = ecr_client(account="111111111111", endpoint_url=ecr_server.url)
    other.create_repository(repositoryName="theirs")
    theirs = RegistryClient(other, ecr_server.url)
    assert theirs.get("/v2/theirs/tags/list").json() == {"name": "theirs", "tags": []}
    assert theirs.get(f"/v2/{REPO}/tags/list").status_code == 404  # ours is not theirs
    answer = registry.get("/v2/theirs/tags/list")
    assert answer.status_code == 404
    assert error_codes(answer) == ["NAME_UNKNOWN"]


def test_push_to_a_missing_repository_is_name_unknown(registry):
    answer = registry.post("/v2/does-not-exist/blobs/uploads/")
    assert answer.status_code == 404
    assert error_codes(answer) == ["NAME_UNKNOWN"]
    manifest = image_manifest([], (digest_of(b"{}"), 2))
    answer = registry.put_manifest("does-not-exist", "v1", manifest)
    assert answer.status_code == 404
    assert error_codes(answer) == ["NAME_UNKNOWN"]


# --- blobs and uploads -----------------------------------------------------------------------


def test_monolithic_upload_then_head_and_get(registry):
    data = bytes(range(256)) * 40
    digest = digest_of(data)
    answer = registry.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, data=data)
    assert answer.status_code == 201
    assert answer.headers["Location"] == f"/v2/{REPO}/blobs/{digest}"
    assert answer.headers["Docker-Content-Digest"] == digest
    head = registry.head(f"/v2/{REPO}/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.content == b""
    got = registry.get(f"/v2/{REPO}/blobs/{digest}")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["Content-Length"] == str(len(data))
    assert got.headers["Docker-Content-Digest"] == digest


def test_chunked_upload_with_content_range(registry):
    chunks = [b"0123456789", b"abcdefghij", b"KLMNO"]
    location = start_upload(registry)
    offset = 0
    for chunk in chunks[:2]:
        end = offset + len(chunk) - 1
        answer = registry.patch(
            location,
            data=chunk,
            headers={
                "Content-Range": f"{offset}-{end}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert answer.status_code == 202, answer.text
        assert answer.headers["Range"] == f"0-{end}"
        location = answer.headers["Location"]
        offset = end + 1
    data = b"".join(chunks)
    answer = registry.put(
        location,
        params={"digest": digest_of(data)},
        data=chunks[2],
        headers={"Content-Range": f"{offset}-{len(data) - 1}"},
    )
    assert answer.status_code == 201, answer.text
    assert registry.get(answer.headers["Location"]).content == data


def test_out_of_order_chunk_is_416_and_the_upload_goes_on(registry):
    location = start_upload(registry)
    assert registry.patch(location, data=b"12345", headers={"Content-Range": "0-4"}).ok
    answer = registry.patch(location, data=b"67890", headers={"Content-Range": "10-14"})
    assert answer.status_code == 416
    assert answer.headers["Range"] == "0-4"
    answer = registry.patch(location, data=b"67890", headers={"Content-Range": "5-9"})
    assert answer.status_code == 202
    answer = registry.put(location, params={"digest": digest_of(b"1234567890")})
    assert answer.status_code == 201


def test_streamed_patch_without_content_length(registry):
    pieces = [b"x" * 70_000, b"y" * 3, b"z" * 100_000]

    def body() -> Iterator[bytes]:
        yield from pieces

    location = start_upload(registry)
    answer = registry.patch(location, data=body())
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in answer.request.headers
    assert answer.status_code == 202, answer.text
    size = sum(len(piece) for piece in pieces)
    assert answer.headers["Range"] == f"0-{size - 1}"
    data = b"".join(pieces)
    answer = registry.put(answer.headers["Location"], params={"digest": digest_of(data)})
    assert answer.status_code == 201
    assert registry.get(f"/v2/{REPO}/blobs/{digest_of(data)}").content == data


def test_upload_status_then_cancel(registry):
    location = start_upload(registry)
    status = registry.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-0"
    registry.patch(location, data=b"abc")
    status = registry.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-2"
    assert status.headers["Docker-Upload-UUID"] in location
    assert registry.delete(location).status_code == 204
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        answer = registry.request(method, location, params={"digest": digest_of(b"abc")})
        assert answer.status_code == 404, method
        assert error_codes(answer) == ["BLOB_UPLOAD_UNKNOWN"]


def test_digest_mismatch_is_digest_invalid_and_nothing_is_stored(registry):
    claimed = digest_of(b"what I claim")
    answer = registry.post(
        f"/v2/{REPO}/blobs/uploads/", params={"digest": claimed}, data=b"what I send"
    )
    assert answer.status_code == 400
    assert error_codes(answer) == ["DIGEST_INVALID"]
    location = start_upload(registry)
    answer = registry.put(location, params={"digest": claimed}, data=b"what I send")
    assert answer.status_code == 400
    assert error_codes(answer) == ["DIGEST_INVALID"]
    assert registry.head(f"/v2/{REPO}/blobs/{claimed}").status_code == 404
    assert registry.head(f"/v2/{REPO}/blobs/{digest_of(b'what I send')}").status_code == 404


def test_unknown_blob_is_blob_unknown(registry):
    answer = registry.get(f"/v2/{REPO}/blobs/{digest_of(b'never pushed')}")
    assert answer.status_code == 404
    assert error_codes(answer) == ["BLOB_UNKNOWN"]
    assert registry.head(f"/v2/{REPO}/blobs/{digest_of(b'never pushed')}").status_code == 404


def test_range_get_is_206_with_content_range(registry):
    data = bytes(range(200))
    digest = registry.push_blob(REPO, data)
    answer = registry.get(f"/v2/{REPO}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == "bytes 10-19/200"
    assert answer.content == data[10:20]
    answer = registry.get(f"/v2/{REPO}/blobs/{digest}", headers={"Range": "bytes=190-"})
    assert answer.status_code == 206
    assert answer.content == data[190:]
    answer = registry.get(f"/v2/{REPO}/blobs/{digest}", headers={"Range": "bytes=500-600"})
    assert answer.status_code == 416
    assert answer.headers["Content-Range"] == "bytes */200"


def test_blob_delete(registry):
    digest = registry.push_blob(REPO, b"short-lived")
    assert registry.delete(f"/v2/{REPO}/blobs/{digest}").status_code == 202
    assert registry.head(f"/v2/{REPO}/blobs/{digest}").status_code == 404
    answer = registry.delete(f"/v2/{REPO}/blobs/{digest}")
    assert answer.status_code == 404
    assert error_codes(answer) == ["BLOB_UNKNOWN"]


def test_cross_repository_mount_with_and_without_from(api, registry):
    api.create_repository(repositoryName="mirror")
    api.create_repository(repositoryName="auto")
    api.create_repository(
        repositoryName="sealed", encryptionConfiguration={"encryptionType": "KMS"}
    )
    digest = registry.push_blob(REPO, b"shared layer")
    assert registry.head(f"/v2/mirror/blobs/{digest}").status_code == 404
    # off until the registry's BLOB_MOUNTING setting is ENABLED (user guide, "Blob mounting")
    answer = registry.post("/v2/mirror/blobs/uploads/", params={"mount": digest, "from": REPO})
    assert answer.status_code == 202
    assert api.get_account_setting(name="BLOB_MOUNTING")["value"] == "DISABLED"
    api.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    answer = registry.post("/v2/mirror/blobs/uploads/", params={"mount": digest, "from": REPO})
    assert answer.status_code == 201
    assert answer.headers["Location"] == f"/v2/mirror/blobs/{digest}"
    assert answer.headers["Docker-Content-Digest"] == digest
    assert registry.get(f"/v2/mirror/blobs/{digest}").content == b"shared layer"
    answer = registry.post("/v2/auto/blobs/uploads/", params={"mount": digest})
    assert answer.status_code == 201
    assert registry.head(f"/v2/auto/blobs/{digest}").status_code == 200
    # "Repositories must use identical encryption type and keys."
    answer = registry.post("/v2/sealed/blobs/uploads/", params={"mount": digest, "from": REPO})
    assert answer.status_code == 202
    # turned off again: new mounts upload; what was mounted stays
    api.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")
    assert registry.head(f"/v2/mirror/blobs/{digest}").status_code == 200
    api.create_repository(repositoryName="later")
    answer = registry.post("/v2/later/blobs/uploads/", params={"mount": digest, "from": REPO})
    assert answer.status_code == 202


def test_mount_of_an_unknown_blob_starts_an_upload(api, registry):
    api.create_repository(repositoryName="mirror")
    data = b"not anywhere yet"
    answer = registry.post(
        "/v2/mirror/blobs/uploads/", params={"mount": digest_of(data), "from": REPO}
    )
    assert answer.status_code == 202
    answer = registry.put(answer.headers["Location"], params={"digest": digest_of(data)}, data=data)
    assert answer.status_code == 201


def test_sha512_blobs(registry):
    data = b"hashed the long way" * 100
    digest = registry.push_blob(REPO, data, algorithm="sha512")
    assert digest.startswith("sha512:")
    head = registry.head(f"/v2/{REPO}/blobs/{digest}")
    assert (head.status_code, head.headers["Docker-Content-Digest"]) == (200, digest)
    assert registry.get(f"/v2/{REPO}/blobs/{digest}").content == data
    location = start_upload(registry)
    answer = registry.put(location, params={"digest": digest_of(b"other", "sha512")}, data=b"!")
    assert error_codes(answer) == ["DIGEST_INVALID"]


# --- uploads under concurrent and failing requests -------------------------------------------


def another_client(server: BackgroundServer) -> RegistryClient:
    """A client with connections of its own, for a request made alongside another."""
    return RegistryClient(ecr_client(endpoint_url=server.url), server.url)


def patch_in_flight(
    pool: ThreadPoolExecutor, server: BackgroundServer, location: str, body, **options
):
    """PATCH ``body`` on ``pool``; return once its head is sent and the server is reading."""
    answer = pool.submit(another_client(server).patch, location, data=body, **options)
    assert body.sent.wait(10)
    time.sleep(0.2)  # the server takes the upload and waits for the rest
    return answer


def test_a_retried_chunk_while_the_first_is_in_flight_is_416(registry, ecr_server):
    location = start_upload(registry)
    body = GatedBody(b"01234", b"56789")
    with ThreadPoolExecutor(2) as pool:
        first = patch_in_flight(pool, ecr_server, location, body, headers={"Content-Range": "0-9"})
        retry = pool.submit(
            registry.patch, location, data=b"0123456789", headers={"Content-Range": "0-9"}
        )
        time.sleep(0.2)
        body.release()
        assert first.result().status_code == 202
        assert first.result().headers["Range"] == "0-9"
        answer = retry.result()
    assert answer.status_code == 416, answer.text
    assert answer.headers["Range"] == "0-9"
    assert answer.headers["Location"] == location
    assert error_codes(answer) == ["BLOB_UPLOAD_INVALID"]
    assert registry.get(location).headers["Range"] == "0-9"
    answer = registry.put(location, params={"digest": digest_of(b"0123456789")})
    assert answer.status_code == 201, answer.text


def test_a_chunk_racing_the_final_put_leaves_no_orphan(disk_server, disk_registry):
    data = b"0123456789"
    location = start_upload(disk_registry)
    body = GatedBody(data[:5], data[5:])
    with ThreadPoolExecutor(3) as pool:
        chunk = patch_in_flight(pool, disk_server, location, body)
        put = pool.submit(disk_registry.put, location, params={"digest": digest_of(data)})
        time.sleep(0.2)
        late = pool.submit(another_client(disk_server).patch, location, data=b"late")
        time.sleep(0.2)
        body.release()  # the PUT and the late PATCH wait for this chunk, in either order
        assert chunk.result().status_code == 202
        if put.result().status_code == 201:
            assert late.result().status_code == 404  # not appended to the renamed file
            assert disk_registry.get(f"/v2/{REPO}/blobs/{digest_of(data)}").content == data
        else:  # the late chunk went first: not the blob the PUT claimed
            assert late.result().status_code == 202
            assert error_codes(put.result()) == ["DIGEST_INVALID"]
    assert upload_files(disk_server) == []


def send_cut_short(server: BackgroundServer, password: str, path: str, sent: int, claimed: int):
    """A POST that announces ``claimed`` body bytes, sends ``sent`` and hangs up; the answer."""
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        f"Authorization: Basic {token}\r\nContent-Length: {claimed}\r\n\r\n"
    )
    with socket.create_connection((server.host, server.port), timeout=10) as connection:
        connection.sendall(head.encode() + b"x" * sent)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer.decode(errors="replace")


def test_failed_monolithic_uploads_leave_nothing_behind(disk_server, disk_registry):
    megabyte = b"m" * 1_000_000
    uploads = f"/v2/{REPO}/blobs/uploads/"
    for _ in range(3):
        answer = disk_registry.post(uploads, params={"digest": "sha256:nothex"}, data=megabyte)
        assert answer.status_code == 400
        assert error_codes(answer) == ["DIGEST_INVALID"]
    answer = disk_registry.post(uploads, params={"digest": digest_of(b"other")}, data=megabyte)
    assert error_codes(answer) == ["DIGEST_INVALID"]
    answer = disk_registry.post(
        uploads,
        params={"digest": digest_of(b"56789")},
        data=b"56789",
        headers={"Content-Range": "5-9"},
    )
    assert answer.status_code == 416
    path = f"{uploads}?digest={digest_of(megabyte)}"
    mib = 1024 * 1024  # several chunks: the store's threaded fast path
    answer = send_cut_short(disk_server, disk_registry.password, path, 3 * mib, 4 * mib)
    assert answer.startswith("HTTP/1.1 400"), answer
    assert "BLOB_UPLOAD_INVALID" in answer
    assert upload_files(disk_server) == []
    assert disk_server.backend.uploads == {}
    assert disk_registry.push_blob(REPO, megabyte) == digest_of(megabyte)  # the repository works
    assert upload_files(disk_server) == []


def test_purging_abandoned_uploads_spares_one_still_streaming(
    disk_server, disk_registry, monkeypatch
):
    monkeypatch.setattr(uploads, "ABANDONED_AFTER", _dt.timedelta(seconds=0.3))
    monkeypatch.setattr(uploads, "PURGE_EVERY_SECONDS", 0.0)
    idle = start_upload(disk_registry)
    streaming = start_upload(disk_registry)
    body = GatedBody(b"first half|", b"second half")
    with ThreadPoolExecutor(1) as pool:
        chunk = patch_in_flight(pool, disk_server, streaming, body)
        time.sleep(0.5)  # both untouched for longer than ABANDONED_AFTER
        start_upload(disk_registry)  # purges abandoned uploads
        assert disk_registry.get(idle).status_code == 404
        body.release()
        assert chunk.result().status_code == 202
    data = b"first half|second half"
    answer = disk_registry.put(streaming, params={"digest": digest_of(data)})
    assert answer.status_code == 201, answer.text
    assert disk_registry.get(f"/v2/{REPO}/blobs/{digest_of(data)}").content == data


def fill_the_disk(server: BackgroundServer, upload_id: str) -> None:
    """Every further write to this upload fails with ENOSPC, as on a full disk."""
    path = server.backend.blobs.root / "uploads" / upload_id
    path.unlink()
    path.symlink_to("/dev/full")


def test_a_full_disk_is_the_servers_error_not_the_clients(disk_server, disk_registry):
    location = start_upload(disk_registry)
    fill_the_disk(disk_server, location.rsplit("/", 1)[1])
    answer = disk_registry.patch(location, data=b"x" * 100_000)
    assert answer.status_code == 500, answer.text
    assert error_codes(answer) == ["UNKNOWN"]
    assert upload_files(disk_server) == []  # the upload is over: its state is unknown
    # The same through the API: a 500-class ServerException, not a client error.
    boto = ecr_client(
        endpoint_url=disk_server.url, config=Config(retries={"total_max_attempts": 1})
    )
    upload_id = boto.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    fill_the_disk(disk_server, upload_id)
    with pytest.raises(ClientError) as raised:
        boto.upload_layer_part(
            repositoryName=REPO,
            uploadId=upload_id,
            partFirstByte=0,
            partLastByte=2,
            layerPartBlob=b"abc",
        )
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert raised.value.response["Error"]["Code"] == "ServerException"


def test_one_tag_rule_for_both_planes(api, registry):
    """ECR's rule: its regex [a-zA-Z0-9-_.]+ and up to 300 characters (quoted AWS answers)."""
    longest = "t" * 300
    _, answer = registry.push_image(REPO, longest)
    assert answer.status_code == 201, answer.text
    manifest = registry.get(f"/v2/{REPO}/manifests/{longest}")
    assert manifest.status_code == 200
    for bad in ("t" * 301, "a+b", "a~b", "a b"):
        answer = registry.put_manifest(
            REPO, bad, manifest.content, manifest.headers["Content-Type"]
        )
        assert error_codes(answer) == ["TAG_INVALID"], bad
        with pytest.raises(ClientError) as raised:
            api.put_image(repositoryName=REPO, imageManifest=manifest.text, imageTag=bad)
        assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    for good in ("t" * 299 + "x", "-dash", ".dot"):  # ECR's regex allows these
        api.put_image(repositoryName=REPO, imageManifest=manifest.text, imageTag=good)


# --- manifests -------------------------------------------------------------------------------


def test_manifest_put_get_head_delete_by_tag_and_digest(registry):
    manifest, answer = registry.push_image(REPO, "v1", media_type=DOCKER_MANIFEST)
    digest = manifest_digest(manifest)
    body = json.dumps(manifest).encode()
    assert answer.status_code == 201, answer.text
    assert answer.headers["Docker-Content-Digest"] == digest
    assert answer.headers["Location"] == f"/v2/{REPO}/manifests/{digest}"
    for reference in ("v1", digest):
        got = registry.get(f"/v2/{REPO}/manifests/{reference}", headers={"Accept": DOCKER_MANIFEST})
        assert got.status_code == 200
        assert got.content == body
        assert got.headers["Content-Type"] == DOCKER_MANIFEST
        assert got.headers["Docker-Content-Digest"] == digest
        head = registry.head(f"/v2/{REPO}/manifests/{reference}", headers={"Accept": "*/*"})
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(body))
        assert head.headers["Docker-Content-Digest"] == digest
        assert head.content == b""
    accepts_many = ", ".join([OCI_MANIFEST, DOCKER_MANIFEST])
    got = registry.get(f"/v2/{REPO}/manifests/v1", headers={"Accept": accepts_many})
    assert got.status_code == 200
    refused = registry.get(f"/v2/{REPO}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert refused.status_code == 404
    assert error_codes(refused) == ["MANIFEST_UNKNOWN"]

    assert registry.delete(f"/v2/{REPO}/manifests/{digest}").status_code == 202
    for reference in ("v1", digest):
        answer = registry.get(f"/v2/{REPO}/manifests/{reference}")
        assert answer.status_code == 404
        assert error_codes(answer) == ["MANIFEST_UNKNOWN"]


def test_delete_by_tag_keeps_the_image(registry):
    manifest, _ = registry.push_image(REPO, "v1")
    digest = manifest_digest(manifest)
    assert registry.delete(f"/v2/{REPO}/manifests/v1").status_code == 202
    assert registry.get(f"/v2/{REPO}/manifests/v1").status_code == 404
    assert registry.get(f"/v2/{REPO}/manifests/{digest}").status_code == 200


def test_manifest_put_by_sha512_digest(registry):
    layer = b"sha512 layer"
    config = b'{"os":"linux"}'
    manifest = image_manifest(
        [(registry.push_blob(REPO, layer, "sha512"), len(layer))],
        (registry.push_blob(REPO, config, "sha512"), len(config)),
    )
    digest = manifest_digest(manifest, "sha512")
    answer = registry.put_manifest(REPO, digest, manifest)
    assert answer.status_code == 201, answer.text
    assert answer.headers["Docker-Content-Digest"] == digest
    got = registry.get(f"/v2/{REPO}/manifests/{digest}")
    assert got.json() == manifest
    assert got.headers["Docker-Content-Digest"] == digest
    wrong = manifest_digest(manifest | {"annotations": {"a": "b"}}, "sha512")
    answer = registry.put_manifest(REPO, wrong, manifest)
    assert answer.status_code == 400
    assert error_codes(answer) == ["DIGEST_INVALID"]


def test_subject_push_answers_oci_subject_and_shows_in_referrers(registry):
    subject, _ = registry.push_image(REPO, "v1")
    subject_digest = manifest_digest(subject)
    subject_descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": subject_digest,
        "size": len(json.dumps(subject)),
    }
    signature, answer = registry.push_image(
        REPO,
        "sig",
        layers=(b"a signature",),
        config=b"{}",
        artifactType="application/vnd.example.signature",
        subject=subject_descriptor,
        annotations={"org.example": "signed"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["OCI-Subject"] == subject_digest
    sbom, answer = registry.push_image(
        REPO,
        "sbom",
        layers=(b"an sbom",),
        config=b"{}",
        artifactType="application/vnd.example.sbom",
        subject=subject_descriptor,
    )
    assert answer.headers["OCI-Subject"] == subject_digest

    listed = registry.get(f"/v2/{REPO}/referrers/{subject_digest}")
    assert listed.status_code == 200
    assert listed.headers["Content-Type"] == OCI_INDEX
    index = listed.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {entry["digest"]: entry for entry in index["manifests"]}
    assert set(by_digest) == {manifest_digest(signature), manifest_digest(sbom)}
    entry = by_digest[manifest_digest(signature)]
    assert entry["artifactType"] == "application/vnd.example.signature"
    assert entry["annotations"] == {"org.example": "signed"}
    assert entry["size"] == len(json.dumps(signature))
    assert entry["mediaType"] == OCI_MANIFEST

    filtered = registry.get(
        f"/v2/{REPO}/referrers/{subject_digest}",
        params={"artifactType": "application/vnd.example.sbom"},
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [entry["digest"] for entry in filtered.json()["manifests"]] == [manifest_digest(sbom)]
    unfiltered = registry.get(f"/v2/{REPO}/referrers/{subject_digest}")
    assert "OCI-Filters-Applied" not in unfiltered.headers


def test_referrers_of_an_unknown_subject_is_an_empty_index(registry):
    answer = registry.get(f"/v2/{REPO}/referrers/{digest_of(b'nobody')}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == OCI_INDEX
    assert answer.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


def test_schema_invalid_manifest_is_manifest_invalid(registry):
    config = registry.push_blob(REPO, b"{}")
    manifest = image_manifest([], (config, 2))
    manifest["config"]["size"] = "2"  # a string: only the JSON schema catches this
    answer = registry.put_manifest(REPO, "bad", manifest)
    assert answer.status_code == 400
    assert error_codes(answer) == ["MANIFEST_INVALID"]
    answer = registry.put_manifest(REPO, "bad", b"{not json", OCI_MANIFEST)
    assert error_codes(answer) == ["MANIFEST_INVALID"]


def test_manifest_over_four_mib_is_refused(registry):
    config = registry.push_blob(REPO, b"{}")
    manifest = image_manifest([], (config, 2), annotations={"pad": ""})
    base = len(json.dumps(manifest).encode())
    manifest["annotations"]["pad"] = "x" * (4 * 1024 * 1024 - base + 1)
    answer = registry.put_manifest(REPO, "huge", manifest)
    assert answer.status_code == 413
    assert error_codes(answer) == ["MANIFEST_INVALID"]
    assert registry.get(f"/v2/{REPO}/manifests/huge").status_code == 404
    manifest["annotations"]["pad"] = "x" * (4 * 1024 * 1024 - base)  # exactly 4 MiB is fine
    assert registry.put_manifest(REPO, "huge", manifest).status_code == 201


def test_manifest_with_a_missing_blob_is_manifest_blob_unknown(registry):
    config = registry.push_blob(REPO, b"{}")
    manifest = image_manifest([(digest_of(b"never pushed"), 12)], (config, 2))
    answer = registry.put_manifest(REPO, "v1", manifest)
    assert answer.status_code == 400
    assert error_codes(answer) == ["MANIFEST_BLOB_UNKNOWN"]


def test_index_needs_its_children(registry):
    child = image_manifest(
        [(registry.push_blob(REPO, b"arm layer"), 9)], (registry.push_blob(REPO, b"{}"), 2)
    )
    child_digest = manifest_digest(child)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": child_digest,
                "size": len(json.dumps(child)),
                "platform": {"architecture": "arm64", "os": "linux"},
            }
        ],
    }
    answer = registry.put_manifest(REPO, "multi", index)
    assert answer.status_code == 400
    assert error_codes(answer) == ["MANIFEST_BLOB_UNKNOWN"]
    assert registry.put_manifest(REPO, child_digest, child).status_code == 201
    answer = registry.put_manifest(REPO, "multi", index)
    assert answer.status_code == 201
    got = registry.get(f"/v2/{REPO}/manifests/multi", headers={"Accept": OCI_INDEX})
    assert got.headers["Content-Type"] == OCI_INDEX
    assert got.json() == index


@pytest.mark.parametrize(
    ("mutability", "filters", "locked", "free"),
    [
        ("IMMUTABLE", None, "v1", None),
        (
            "IMMUTABLE_WITH_EXCLUSION",
            [{"filterType": "WILDCARD", "filter": "dev-*"}],
            "v1",
            "dev-1",
        ),
    ],
)
def test_immutable_tag_cannot_be_overwritten(api, registry, mutability, filters, locked, free):
    options = {"imageTagMutabilityExclusionFilters": filters} if filters else {}
    api.create_repository(repositoryName="locked", imageTagMutability=mutability, **options)
    for tag in filter(None, (locked, free)):
        first, answer = registry.push_image("locked", tag, layers=(b"first",))
        assert answer.status_code == 201
        assert registry.put_manifest("locked", tag, first).status_code == 201  # same bytes: fine
    _, answer = registry.push_image("locked", locked, layers=(b"second",))
    assert answer.status_code == 400
    assert error_codes(answer) == ["TAG_INVALID"]
    assert registry.get(f"/v2/locked/manifests/{locked}").json() == first
    if free:
        _, answer = registry.push_image("locked", free, layers=(b"second",))
        assert answer.status_code == 201


def test_tags_list_pagination_with_link(registry):
    manifest, _ = registry.push_image(REPO, "a")
    for tag in ("d", "b", "c"):
        assert registry.put_manifest(REPO, tag, manifest).status_code == 201
    assert registry.get(f"/v2/{REPO}/tags/list").json() == {"name": REPO, "tags": list("abcd")}
    first = registry.get(f"/v2/{REPO}/tags/list", params={"n": 2})
    assert first.json()["tags"] == ["a", "b"]
    assert first.headers["Link"] == f'</v2/{REPO}/tags/list?n=2&last=b>; rel="next"'
    second = registry.get(first.links["next"]["url"])
    assert second.json()["tags"] == ["c", "d"]
    assert "Link" not in second.headers
    assert registry.get(f"/v2/{REPO}/tags/list", params={"last": "c"}).json()["tags"] == ["d"]
    assert registry.get(f"/v2/{REPO}/tags/list", params={"n": 0}).json()["tags"] == []


# --- one state with the ECR API --------------------------------------------------------------


def test_pushed_image_shows_in_the_ecr_api(api, registry):
    layers = (b"a" * 1000, b"b" * 2345)
    manifest, _ = registry.push_image(REPO, "v1", layers=layers, media_type=DOCKER_MANIFEST)
    digest = manifest_digest(manifest)
    (detail,) = api.describe_images(repositoryName=REPO)["imageDetails"]
    assert detail["imageDigest"] == digest
    assert detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] == 3345
    assert detail["imageManifestMediaType"] == DOCKER_MANIFEST
    assert detail["artifactMediaType"] == "application/vnd.docker.container.image.v1+json"
    assert api.list_images(repositoryName=REPO)["imageIds"] == [
        {"imageDigest": digest, "imageTag": "v1"}
    ]
    (image,) = api.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])["images"]
    assert image["imageManifest"] == json.dumps(manifest)
    assert image["imageManifestMediaType"] == DOCKER_MANIFEST
    layer_check = api.batch_check_layer_availability(
        repositoryName=REPO, layerDigests=[entry["digest"] for entry in manifest["layers"]]
    )["layers"]
    assert [layer["layerSize"] for layer in layer_check] == [1000, 2345]


def test_batch_delete_image_removes_it_from_the_registry(api, registry):
    manifest, _ = registry.push_image(REPO, "v1")
    deleted = api.batch_delete_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    assert deleted["failures"] == []
    assert registry.get(f"/v2/{REPO}/manifests/v1").status_code == 404
    assert registry.get(f"/v2/{REPO}/manifests/{manifest_digest(manifest)}").status_code == 404
    assert registry.get(f"/v2/{REPO}/tags/list").json()["tags"] == []


def test_put_image_of_pushed_blobs_is_pullable(api, registry):
    layer, config = b"layer via registry", b'{"os":"linux"}'
    manifest = image_manifest(
        [(registry.push_blob(REPO, layer), len(layer))],
        (registry.push_blob(REPO, config), len(config)),
    )
    text = json.dumps(manifest)
    api.put_image(repositoryName=REPO, imageManifest=text, imageTag="api")
    got = registry.get(f"/v2/{REPO}/manifests/api", headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200
    assert got.text == text
    assert got.headers["Docker-Content-Digest"] == manifest_digest(manifest)
    layer_digest = manifest["layers"][0]["digest"]
    assert registry.get(f"/v2/{REPO}/blobs/{layer_digest}").content == layer


def test_manifest_get_records_the_pull_time(api, registry):
    registry.push_image(REPO, "v1")

    def pulled_at():
        (detail,) = api.describe_images(repositoryName=REPO)["imageDetails"]
        return detail.get("lastRecordedPullTime")

    assert pulled_at() is None
    registry.head(f"/v2/{REPO}/manifests/v1")
    assert pulled_at() is None  # HEAD is not a pull
    registry.get(f"/v2/{REPO}/manifests/v1")
    assert pulled_at() is not None


def test_basic_auth_header_is_what_docker_sends(ecr_server, registry):
    """docker sends ``Authorization: Basic base64(AWS:<password>)`` with every request."""
    token = base64.b64encode(f"AWS:{registry.password}".encode()).decode()
    answer = requests.get(
        ecr_server.url + f"/v2/{REPO}/tags/list",
        headers={"Authorization": f"Basic {token}"},
        timeout=10,
    )
    assert answer.json() == {"name": REPO, "tags": []}
