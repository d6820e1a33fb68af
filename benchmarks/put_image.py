"""PutImage cost in-process as the repository grows, against botocore's own floor.

The floor is the same boto3 ``put_image`` call answered by a ``before-send``
hook with a canned response: everything botocore does (validate, serialize,
sign, parse) and nothing the emulator does.  The emulator rows time the same
call answered by ``mock_ecr`` with 1k, 10k and 100k images already in the
repository.  Floor and emulator take turns in short batches (``--calls`` each,
``--rounds`` times, which one goes first alternating, each batch starting with
no GC debt).  The µs columns are each side's best batch; "x floor" is the median
over rounds of emulator/floor within a round, so a machine that speeds up or
slows down (a shared VM does, by ±20% over minutes) moves both sides of each
ratio alike.  Growth is the 100k ratio over the 1k ratio.  Target: every ratio
≤ 1.5, and growth ≤ 1.1.

    python benchmarks/put_image.py [--calls 500] [--rounds 15] [--data-dir]
        [--lifecycle-policy]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import boto3
from botocore.awsrequest import AWSResponse

from ecr_emulator import mock_ecr, persistence
from ecr_emulator.blobstore import FilesystemBlobStore
from ecr_emulator.core import Caller, images
from ecr_emulator.mock import _RawBody

REPOSITORY = "bench/app"
SIZES = (1_000, 10_000, 100_000)


def manifest(number: int) -> str:
    """A distinct Docker schema 2 manifest per number (so every push is a new image)."""
    layer = hashlib.sha256(str(number).encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": "sha256:" + "c" * 64,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 2_000_000 + number,
                    "digest": f"sha256:{layer}",
                }
            ],
        }
    )


def time_batch(client, manifests: list[str], tag_prefix: str) -> float:
    """Microseconds per ``put_image`` call over one batch (started with no GC debt)."""
    gc.collect()
    start = time.perf_counter()
    for number, text in enumerate(manifests):
        client.put_image(
            repositoryName=REPOSITORY, imageManifest=text, imageTag=f"{tag_prefix}{number}"
        )
    return (time.perf_counter() - start) / len(manifests) * 1e6


def floor_client():
    """A client whose every call is answered by a canned PutImage response."""
    client = boto3.client("ecr", region_name="us-east-1")
    body = json.dumps(
        {
            "image": {
                "registryId": "123456789012",
                "repositoryName": REPOSITORY,
                "imageId": {"imageDigest": "sha256:" + "d" * 64, "imageTag": "t"},
                "imageManifest": manifest(0),
                "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
            }
        }
    ).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "bench"}

    def canned(request, **_):
        return AWSResponse(request.url, 200, headers, _RawBody(body))

    client.meta.events.register_first("before-send", canned)
    return client


LIFECYCLE_POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["fill*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 1_000_000,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


def measure(
    size: int,
    calls: int,
    rounds: int,
    data_dir: Path | None = None,
    lifecycle_policy: bool = False,
) -> tuple[float, float, float]:
    """(floor, emulator) µs per call with ``size`` images stored (each side's best batch),
    and the median over rounds of emulator/floor within a round."""
    with mock_ecr() as mock:
        if data_dir is not None:  # what serve --data-dir does, on the mock's backend
            mock.backend.blobs = FilesystemBlobStore(data_dir)
            persistence.attach(mock.backend, data_dir)
        floor = floor_client()
        client = boto3.client("ecr", region_name="us-east-1")
        client.create_repository(repositoryName=REPOSITORY)
        if lifecycle_policy:  # a policy only acts on runs: a push must not pay for it
            client.put_lifecycle_policy(
                repositoryName=REPOSITORY, lifecyclePolicyText=LIFECYCLE_POLICY
            )
        caller = Caller(mock.backend, "123456789012", "us-east-1")
        with mock.backend.lock:  # fill the repository without timing it (one commit)
            for number in range(size):
                images.put_image(
                    caller, None, REPOSITORY, manifest(10_000_000 + number), tags=[f"fill{number}"]
                )
        # The filled images are fixtures: keep the cyclic GC from re-scanning them during the
        # timed batches, where a full collection would land on whichever side it happens to.
        gc.collect()
        gc.freeze()
        mock.stop()
        time_batch(floor, [manifest(n) for n in range(100)], "warm")
        mock.start()
        floor_times, emulator_times = [], []
        for round_number in range(rounds):
            batch = [manifest(round_number * calls + n) for n in range(calls)]
            for side in ("floor", "emulator") if round_number % 2 else ("emulator", "floor"):
                if side == "floor":
                    mock.stop()  # the floor must not pay for the emulator's hook
                    floor_times.append(time_batch(floor, batch, f"r{round_number}-"))
                    mock.start()
                else:
                    emulator_times.append(time_batch(client, batch, f"r{round_number}-"))
        gc.unfreeze()
        persistence.close(mock.backend)
        ratios = [e / f for e, f in zip(emulator_times, floor_times, strict=True)]
        return min(floor_times), min(emulator_times), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--data-dir", action="store_true", help="keep state on disk (in a temporary directory)"
    )
    parser.add_argument(
        "--lifecycle-policy",
        action="store_true",
        help="the repository has a lifecycle policy (issue 8: still ≤ 1.5x the floor)",
    )
    args = parser.parse_args()
    limit = 2.5 if args.data_dir else 1.5
    work = Path(tempfile.mkdtemp(prefix="ecr-emulator-bench-")) if args.data_dir else None
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    print(f"{'images in repository':<22} {'floor µs':>9} {'emulator µs':>12} {'x floor':>8}")
    ratio_by_size = {}
    for size in SIZES:
        data_dir = None if work is None else work / f"data-{size}"
        floor, emulated, ratio = measure(
            size, args.calls, args.rounds, data_dir, args.lifecycle_policy
        )
        ratio_by_size[size] = ratio
        print(f"{size:<22,} {floor:>9.1f} {emulated:>12.1f} {ratio:>8.2f}")
    worst = max(ratio_by_size.values())
    growth = ratio_by_size[SIZES[-1]] / ratio_by_size[SIZES[0]]
    print(f"growth {SIZES[0]:,} → {SIZES[-1]:,} images: {growth:.2f}x")
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
        verdict = "meets" if worst <= limit else "MISSES"
        print(f"{verdict} the target (≤ {limit}x the floor at every size, state on disk)")
        return
    verdict = "meets" if worst <= limit and growth <= 1.1 else "MISSES"
    print(f"{verdict} the target (≤ {limit}x the floor at every size, growth ≤ 1.1x)")


if __name__ == "__main__":
    main()
