"""API latency while a /v2/ upload stalls mid-body, against the same server idle.

One ``ecr-emulator serve`` runs as a subprocess.  A "stall" is a registry PATCH
whose client sends half its body and then waits, plus an UploadLayerPart for the
same bytes sent to the same upload behind it (a retry), the case that used to
hold the global lock while it waited for the upload.
Rounds alternate: each times ``--calls`` pairs of boto3 calls (DescribeImages
and PutImage on another repository) with the server idle, then with a stall in
progress.  The table shows the median, 95th percentile and slowest of one pair,
and the stalled/idle ratios.  Target: median and p95 within 1.25x of idle, and
no pair slower than 1 s (a request stuck behind the stall takes as long as the
stall, ``--stall-seconds``).

    python benchmarks/api_beside_slow_upload.py [--calls 200] [--rounds 3]
                                                [--stall-seconds 5] [--src DIR]

``--src DIR`` runs the server from another checkout (PYTHONPATH=DIR), to compare
against an older commit in the same run.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from botocore.exceptions import ClientError
from servers import start_emulator

TARGET = 1.25
STALLED_BYTES = 1 << 20  # above the size the server reads whole before a worker starts


def client(url: str):
    return boto3.client(
        "ecr",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def manifest(number: int) -> str:
    digest = "sha256:" + f"{number:064x}"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1,
                "digest": digest,
            },
            "layers": [],
        }
    )


class Stall:
    """A PATCH that sends half its body and waits, and an UploadLayerPart queued behind it."""

    def __init__(self, url: str, password: str, seconds: float) -> None:
        ecr = client(url)
        answer = _http(url, "POST", "/v2/bench/slow/blobs/uploads/", password)
        self.location = answer["Location"]
        self.upload_id = answer["Docker-Upload-UUID"]
        self.released = threading.Event()
        self.url, self.password = url, password
        self.pool = ThreadPoolExecutor(2)
        self.patch = self.pool.submit(self._slow_patch)
        time.sleep(0.2)
        self.queued = self.pool.submit(
            ecr.upload_layer_part,
            repositoryName="bench/slow",
            uploadId=self.upload_id,
            partFirstByte=0,  # what was the upload's end when it was sent
            partLastByte=2,
            layerPartBlob=b"abc",
        )
        time.sleep(0.2)
        # The client resumes after ``seconds`` whatever happens: a request stuck behind the
        # stall then returns, and its time shows what the stall cost it.
        self.timer = threading.Timer(seconds, self.released.set)
        self.timer.start()

    def _slow_patch(self) -> None:
        host, port = self.url.removeprefix("http://").split(":")
        token = base64.b64encode(f"AWS:{self.password}".encode()).decode()
        head = (
            f"PATCH {self.location} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Basic {token}\r\nContent-Length: {STALLED_BYTES}\r\n\r\n"
        )
        with socket.create_connection((host, int(port))) as connection:
            connection.sendall(head.encode())  # the body is announced, and does not come
            self.released.wait(600)
            connection.sendall(b"b" * STALLED_BYTES)
            connection.recv(65536)

    def end(self) -> None:
        self.timer.cancel()
        self.released.set()
        self.patch.result(timeout=60)
        with contextlib.suppress(ClientError):  # refused once the PATCH's bytes landed first
            self.queued.result(timeout=60)
        self.pool.shutdown()


def _http(url: str, method: str, path: str, password: str) -> dict[str, str]:
    import urllib.request

    request = urllib.request.Request(url + path, method=method)
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(answer.headers)


def time_pairs(ecr, calls: int, offset: int) -> list[float]:
    """Milliseconds per (DescribeImages, PutImage) pair."""
    times = []
    for number in range(calls):
        started = time.perf_counter()
        ecr.describe_images(repositoryName="bench/busy", maxResults=10)
        ecr.put_image(
            repositoryName="bench/busy",
            imageManifest=manifest(offset + number),
            imageTag=f"t{offset + number}",
        )
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stall-seconds", type=float, default=5.0)
    parser.add_argument("--src", help="run the server from this checkout")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ecr-bench-"))
    process, url = start_emulator(work, data_dir=False, src=args.src)
    try:
        ecr = client(url)
        for name in ("bench/slow", "bench/busy"):
            ecr.create_repository(repositoryName=name)
        (data,) = ecr.get_authorization_token()["authorizationData"]
        password = base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]
        time_pairs(ecr, 20, 10_000_000)  # warm up
        idle: list[float] = []
        stalled: list[float] = []
        offset = 0
        for _ in range(args.rounds):
            idle += time_pairs(ecr, args.calls, offset)
            offset += args.calls
            stall = Stall(url, password, args.stall_seconds)
            try:
                stalled += time_pairs(ecr, args.calls, offset)
            finally:
                stall.end()
            offset += args.calls
    finally:
        process.terminate()
        process.wait(10)
    rows = [("idle", idle), ("beside a stalled upload", stalled)]
    print(
        f"{'server':<26} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'median x':>9} {'p95 x':>7}"
    )
    base_median, base_p95 = statistics.median(idle), p95(idle)
    for name, values in rows:
        median, tail = statistics.median(values), p95(values)
        print(
            f"{name:<26} {median:>10.2f} {tail:>8.2f} {max(values):>8.1f} "
            f"{median / base_median:>8.2f}x {tail / base_p95:>6.2f}x"
        )
    ok = (
        statistics.median(stalled) <= TARGET * base_median
        and p95(stalled) <= TARGET * base_p95
        and max(stalled) < 1000
    )
    verdict = "meets" if ok else "MISSES"
    print(f"{verdict} the target (stalled within {TARGET}x of idle, no pair slower than 1 s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
