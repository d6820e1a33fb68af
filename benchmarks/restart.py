"""How long ``ecr-emulator serve --data-dir`` takes to be ready, by how much it keeps.

A data directory is filled in-process with ``--images`` images (PutImage through the
core, one commit) in one repository, each with a tag, plus a blob per 100 images; then
``ecr-emulator serve --data-dir`` is started as a subprocess and timed from launch to
its first healthy answer, and once more until a DescribeImages page and a blob pull
answer.  The baseline is the same start on an empty data directory.  Target: ready in
under 5 s with 100k images.

    python benchmarks/restart.py [--images 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from put_image import manifest
from servers import HOST, free_port, print_table, stop

from ecr_emulator import persistence
from ecr_emulator.blobstore import FilesystemBlobStore
from ecr_emulator.core import Caller, images, repositories, uploads
from ecr_emulator.state import Backend

REPOSITORY = "bench/restart"
ACCOUNT = "123456789012"
TARGET_SECONDS = 5.0


def fill(data_dir: Path, count: int) -> str:
    """``count`` images in one repository; the digest of one blob that is kept."""
    backend = Backend(blobs=FilesystemBlobStore(data_dir))
    persistence.attach(backend, data_dir)
    caller = Caller(backend, ACCOUNT, "us-east-1")
    repositories.create(caller, None, REPOSITORY)
    blob = b"kept blob"
    with backend.lock:
        for number in range(count):
            images.put_image(caller, None, REPOSITORY, manifest(number), tags=[f"t{number}"])
    for number in range(max(1, count // 100)):
        data = blob + str(number).encode()
        upload = uploads.start(caller, None, REPOSITORY)
        uploads.append(caller, upload, io.BytesIO(data), len(data), 0)
        uploads.finish(caller, upload, ["sha256:" + hashlib.sha256(data).hexdigest()])
    persistence.close(backend)
    return "sha256:" + hashlib.sha256(blob + b"0").hexdigest()


def time_start(data_dir: Path, blob: str) -> tuple[float, float]:
    """(seconds to a healthy answer, seconds to a DescribeImages page and a blob pull)."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [sys.executable, "-m", "ecr_emulator", "serve", "--host", HOST, "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--no-auth", "--log-level", "WARNING"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_emulator/health", timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("the server exited") from None
                time.sleep(0.01)
        healthy = time.perf_counter() - started
        client = boto3.client(
            "ecr",
            endpoint_url=base,
            region_name="us-east-1",
            aws_access_key_id=ACCOUNT,
            aws_secret_access_key="x",
        )
        client.describe_images(repositoryName=REPOSITORY, maxResults=100)
        with urllib.request.urlopen(f"{base}/v2/{REPOSITORY}/blobs/{blob}", timeout=10) as got:
            got.read()
        return healthy, time.perf_counter() - started
    finally:
        stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ecr-emulator-bench-"))
    try:
        rows = []
        results = {}
        for label, count in (("baseline: 1 image", 1), (f"{args.images:,} images", args.images)):
            data_dir = work / f"data-{count}"
            print(f"filling {label}", flush=True)
            blob = fill(data_dir, count)
            size = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
            times = [time_start(data_dir, blob) for _ in range(args.rounds)]
            healthy = statistics.median(t[0] for t in times)
            serving = statistics.median(t[1] for t in times)
            results[label] = serving
            rows.append((label, f"{size / 2**20:.1f}", f"{healthy:.2f}", f"{serving:.2f}"))
        print()
        print_table(("data directory", "MB on disk", "healthy s", "serving s"), rows)
        worst = max(results.values())
        met = worst < TARGET_SECONDS
        print(f"\n{'met   ' if met else 'MISSED'}  ready in under {TARGET_SECONDS:.0f} s")
        return 0 if met else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
