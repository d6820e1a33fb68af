"""The production HTTP server (``serving.py``) against hostile and slow clients, keep-alive,
and a graceful SIGTERM — all on a real ``ecr-emulator serve`` process.

The werkzeug development server this replaced crashed (SIGSEGV) or grew past 8 GiB on a
chunked body whose chunk header announced more than was sent, held a thread forever per
half-sent body, and made one thread per connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import docker_manifest
from support import PYTHON_MODULE, EmulatorProcess, serving

THREADS = 8
TARGET = "AmazonEC2ContainerRegistry_V20150921"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[EmulatorProcess]:
    base = tmp_path_factory.mktemp("http")
    options = ("--no-auth", "--threads", str(THREADS), "--header-timeout", "3")
    options += ("--read-timeout", "3", "--data-dir", str(base / "data"))
    with serving(PYTHON_MODULE, base / "log.txt", *options) as served:
        served.client().create_repository(repositoryName="hostile/target")
        yield served


def healthy_within(server: EmulatorProcess, seconds: float) -> float:
    started = time.perf_counter()
    answer = requests.get(server.url + "/_emulator/health", timeout=seconds)
    assert answer.status_code == 200
    return time.perf_counter() - started


def api_call_within(server: EmulatorProcess, seconds: float) -> None:
    started = time.perf_counter()
    server.client().describe_repositories(repositoryNames=["hostile/target"])
    assert time.perf_counter() - started < seconds


def connect(server: EmulatorProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


CUT_SHORT_REQUESTS = [
    ("PUT", "/v2/hostile/target/manifests/latest", "application/vnd.oci.image.manifest.v1+json"),
    ("POST", "/v2/hostile/target/blobs/uploads/", "application/octet-stream"),
    ("POST", "/", "application/x-amz-json-1.1"),
]


@pytest.mark.parametrize("method,path,content_type", CUT_SHORT_REQUESTS)
def test_a_chunk_header_announcing_more_than_is_sent_leaves_the_server_healthy(
    server, method, path, content_type
):
    rss_before = server.status("VmRSS")
    for _ in range(10):
        with connect(server) as client:
            client.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                f"Content-Type: {content_type}\r\nX-Amz-Target: {TARGET}.PutImage\r\n\r\n"
                "7fffffff\r\naaaaaaaaaa".encode()
            )
    healthy_within(server, 5)
    api_call_within(server, 5)
    assert server.status("VmRSS") - rss_before < 50_000  # kB: nothing read past the bytes sent


def test_a_bad_chunk_size_is_the_clients_error(server):
    with connect(server) as client:
        client.sendall(
            f"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            f"X-Amz-Target: {TARGET}.DescribeRepositories\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n".encode()
        )
        answer = client.recv(65536).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 400"), answer
    assert "SerializationException" in answer


def test_slowloris_heads_hold_no_worker(server):
    """200 clients trickling their request heads a byte at a time: others are served at
    once, the thread count stays where it was, and the trickles are dropped after the
    header timeout (3 s here)."""
    threads_before = server.status("Threads")
    clients = [connect(server) for _ in range(200)]
    for client in clients:
        client.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n")
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for client in clients:
                with contextlib.suppress(OSError):
                    client.send(b"X")
            assert healthy_within(server, 2) < 1.0
            api_call_within(server, 2)
            assert server.status("Threads") <= threads_before + 2
            time.sleep(0.3)
        dropped = 0
        for client in clients:
            try:
                client.send(b"-trickle: y\r\n")
                client.settimeout(2)
                if client.recv(1) == b"":
                    dropped += 1
            except OSError:
                dropped += 1
        assert dropped == len(clients)  # each head took longer than --header-timeout
    finally:
        for client in clients:
            client.close()


def test_half_sent_small_bodies_hold_no_worker(server):
    """An API call whose client sends half its body and waits never reaches a worker."""
    clients = [connect(server) for _ in range(4 * THREADS)]
    try:
        for client in clients:
            client.sendall(
                f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {TARGET}.DescribeRepositories\r\n"
                "Content-Type: application/x-amz-json-1.1\r\nContent-Length: 1000\r\n\r\n"
                '{"repositoryNames": ['.encode()
            )
        time.sleep(0.3)
        for _ in range(5):
            assert healthy_within(server, 2) < 1.0
            api_call_within(server, 2)
    finally:
        for client in clients:
            client.close()


def test_a_stalled_streaming_body_is_dropped_after_the_read_timeout(server):
    """Blob uploads stream to a worker; one that stalls gives its worker back after
    --read-timeout (3 s here), and its upload can be resumed."""
    uploads = requests.post(server.url + "/v2/hostile/target/blobs/uploads/", timeout=5)
    location = uploads.headers["Location"]
    clients = []
    for _ in range(THREADS):  # every worker
        client = connect(server)
        client.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {10 * 2**20}\r\n\r\n".encode()
            + b"x" * 1000
        )
        clients.append(client)
    try:
        started = time.perf_counter()
        healthy_within(server, 15)
        assert time.perf_counter() - started < 8
        for client in clients:
            client.settimeout(10)
            answer = client.recv(65536)  # dropped, or answered BLOB_UPLOAD_INVALID
            assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer
    finally:
        for client in clients:
            client.close()
    assert requests.get(server.url + location, timeout=5).status_code == 204


def test_connections_are_kept_alive(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        sockets = set()
        for _ in range(5):
            connection.request("GET", "/_emulator/health")
            answer = connection.getresponse()
            assert answer.status == 200
            answer.read()
            sockets.add(connection.sock.getsockname())
        assert len(sockets) == 1
    finally:
        connection.close()


def test_many_clients_at_once_are_all_answered(server):
    def describe(_: int) -> int:
        return len(server.client().describe_repositories()["repositories"])

    with ThreadPoolExecutor(32) as pool:
        assert set(pool.map(describe, range(200))) == {1}


def test_sigterm_lets_a_push_in_flight_finish_and_refuses_new_work(tmp_path):
    """Graceful shutdown: the listening socket closes at once, the upload whose body is
    still arriving completes with 201, then the process exits 0."""
    data = tmp_path / "data"
    with serving(PYTHON_MODULE, tmp_path / "log.txt", "--no-auth", "--data-dir", str(data)) as srv:
        srv.client().create_repository(repositoryName="graceful/push")
        location = requests.post(srv.url + "/v2/graceful/push/blobs/uploads/", timeout=5).headers[
            "Location"
        ]
        blob = b"g" * (4 * 2**20)
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        sent_half = threading.Event()

        def slow_body() -> Iterator[bytes]:
            yield blob[: len(blob) // 2]
            sent_half.set()
            time.sleep(1.5)
            yield blob[len(blob) // 2 :]

        with ThreadPoolExecutor(1) as pool:
            push = pool.submit(
                requests.put,
                srv.url + location,
                params={"digest": digest},
                data=slow_body(),
                headers={"Content-Type": "application/octet-stream"},
                timeout=30,
            )
            assert sent_half.wait(10)
            time.sleep(0.3)
            srv.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(requests.ConnectionError):
                requests.get(srv.url + "/_emulator/health", timeout=2)
            answer = push.result()
        assert answer.status_code == 201, answer.text
        assert srv.process.wait(timeout=30) == 0
        assert "Traceback" not in srv.log_text()


def test_put_image_manifest_survives_the_gate(server):
    """A manifest sent as a small body of known length goes through the gate whole."""
    client = server.client()
    client.put_image(
        repositoryName="hostile/target", imageManifest=docker_manifest("gate"), imageTag="gate"
    )
    images = client.describe_images(repositoryName="hostile/target")["imageDetails"]
    assert any("gate" in image.get("imageTags", []) for image in images)
