"""Many clients at once: blob throughput against distribution, API calls/s against moto_server.

Blobs: ``--clients`` (16) curl clients at once, each pushing its own 64 MiB blob
(POST, then one monolithic PUT with ``?digest=``) and pulling another that was
pushed before the round; throughput is all bytes moved over the round's wall
time.  ``ecr-emulator serve --no-auth --data-dir`` and Debian's docker-registry
(CNCF distribution 2.8, filesystem storage) take turns, round by round.
Target: emulator throughput ≥ 1.0x distribution's (best rounds compared).

API: ``--clients`` processes, each with its own boto3 client, call
DescribeRepositories, DescribeImages, BatchGetImage and PutImage (a new tag) in
a loop for ``--seconds``, against ``ecr-emulator serve`` and ``moto_server``
(PyPI ``moto[server]``) in turns.  The table shows calls per second.

    python benchmarks/concurrency.py [--clients 16] [--blob-mib 64] [--rounds 3]
                                     [--seconds 10] [--only blobs|api]
                                     [--emulator-url URL]

``--emulator-url`` measures a server that is already running (started with
``--no-auth``) instead of starting one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from servers import (
    DISTRIBUTION,
    curl,
    ecr_client,
    no_proxy,
    print_table,
    pull_blob,
    push_blob,
    start_distribution,
    start_emulator,
    start_moto,
    stop,
)

REPOSITORY = "bench/concurrent"
BLOB_TARGET = 1.0


def emulator_url(
    args: argparse.Namespace, work: Path, processes: list, *extra: str, data_dir: bool = True
) -> str:
    """``--emulator-url``, or an emulator started here (added to ``processes``)."""
    if args.emulator_url:
        return args.emulator_url
    process, url = start_emulator(work, *extra, data_dir=data_dir)
    processes.append(process)
    return url


def write_blob(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    with open(path, "wb") as target:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 * 2**20))
            hasher.update(chunk)
            target.write(chunk)
            left -= len(chunk)
    return "sha256:" + hasher.hexdigest()


def push(base: str, path: Path, digest: str) -> None:
    push_blob(base, REPOSITORY, path, digest)


def pull(base: str, digest: str, size: int) -> None:
    pull_blob(base, REPOSITORY, digest, size)


def delete(base: str, digest: str) -> None:
    curl("-X", "DELETE", "-o", os.devnull, f"{base}/v2/{REPOSITORY}/blobs/{digest}")


def blob_round(base: str, pushes: list[tuple[Path, str]], pulls: list[str], size: int) -> float:
    """Bytes per second moved by all clients at once (one push and one pull each)."""

    def one_client(index: int) -> None:
        path, digest = pushes[index]
        push(base, path, digest)
        pull(base, pulls[index], size)

    os.sync()
    started = time.perf_counter()
    with ThreadPoolExecutor(len(pushes)) as pool:
        list(pool.map(one_client, range(len(pushes))))
    elapsed = time.perf_counter() - started
    for _, digest in pushes:  # the next round pushes them again, as new
        delete(base, digest)
    return 2 * len(pushes) * size / elapsed


def run_blobs(args: argparse.Namespace, work: Path) -> bool:
    size = args.blob_mib * 2**20
    print(f"writing {2 * args.clients} blobs of {args.blob_mib} MiB", flush=True)
    pushes, seeds = [], []
    for index in range(args.clients):
        path = work / f"push-{index}.bin"
        pushes.append((path, write_blob(path, size)))
        seed = work / f"seed-{index}.bin"
        seeds.append((seed, write_blob(seed, size)))
    processes: list[subprocess.Popen] = []
    try:
        systems = {"ecr-emulator": emulator_url(args, work, processes, "--no-auth")}
        ecr_client(systems["ecr-emulator"]).create_repository(repositoryName=REPOSITORY)
        process, systems["distribution 2.8"] = start_distribution(work)
        processes.append(process)
        for base in systems.values():
            for path, digest in seeds:
                push(base, path, digest)
        rates: dict[str, list[float]] = {name: [] for name in systems}
        for number in range(args.rounds):
            for name, base in systems.items():
                rates[name].append(blob_round(base, pushes, [d for _, d in seeds], size))
            print(f"round {number + 1} of {args.rounds} done", flush=True)
    finally:
        for process in processes:
            stop(process)
    theirs = max(rates["distribution 2.8"])
    print(
        f"\n{args.clients} clients at once, each pushing one {args.blob_mib} MiB blob and "
        f"pulling another; best of {args.rounds} rounds\n"
    )
    print_table(
        ("system", "MiB/s best", "MiB/s median", "x distribution"),
        [
            (
                name,
                f"{max(r) / 2**20:.0f}",
                f"{statistics.median(r) / 2**20:.0f}",
                f"{max(r) / theirs:.2f}x",
            )
            for name, r in rates.items()
        ],
    )
    met = max(rates["ecr-emulator"]) >= BLOB_TARGET * theirs
    print(f"\n{'met   ' if met else 'MISSED'}  throughput >= {BLOB_TARGET}x distribution's")
    return met


MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        },
        "layers": [],
    }
)


def api_client(base: str, seconds: float, worker: int, counts: multiprocessing.Queue) -> None:
    client = ecr_client(base)
    repository = f"{REPOSITORY}-{worker % 4}"
    prefix = f"w{worker}-{os.urandom(4).hex()}"  # new tags every round
    calls = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        client.describe_repositories(repositoryNames=[repository])
        client.describe_images(repositoryName=repository, maxResults=20)
        client.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": "base"}])
        client.put_image(
            repositoryName=repository,
            imageManifest=MANIFEST,
            imageTag=f"{prefix}-{calls}",
        )
        calls += 4
    counts.put(calls)


def api_rate(base: str, clients: int, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    counts = context.Queue()
    workers = [
        context.Process(target=api_client, args=(base, seconds, index, counts))
        for index in range(clients)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    total = sum(counts.get(timeout=seconds + 120) for _ in workers)
    for worker in workers:
        worker.join()
    return total / (time.perf_counter() - started)


def run_api(args: argparse.Namespace, work: Path) -> None:
    processes: list[subprocess.Popen] = []
    try:
        systems = {"ecr-emulator": emulator_url(args, work, processes, data_dir=False)}
        process, systems["moto_server"] = start_moto(work)
        processes.append(process)
        for base in systems.values():
            client = ecr_client(base)
            for index in range(4):
                client.create_repository(repositoryName=f"{REPOSITORY}-{index}")
                client.put_image(
                    repositoryName=f"{REPOSITORY}-{index}", imageManifest=MANIFEST, imageTag="base"
                )
        rates: dict[str, list[float]] = {name: [] for name in systems}
        for number in range(args.rounds):
            for name, base in systems.items():
                rates[name].append(api_rate(base, args.clients, args.seconds))
            print(f"round {number + 1} of {args.rounds} done", flush=True)
    finally:
        for process in processes:
            stop(process)
    theirs = statistics.median(rates["moto_server"])
    print(
        f"\n{args.clients} boto3 clients at once (one process each), {args.seconds:.0f} s per "
        f"round, {args.rounds} rounds; calls/s (medians)\n"
    )
    print_table(
        ("server", "calls/s", "x moto_server"),
        [
            (name, f"{statistics.median(r):.0f}", f"{statistics.median(r) / theirs:.2f}x")
            for name, r in rates.items()
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--blob-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per API round")
    parser.add_argument("--only", choices=("blobs", "api"))
    parser.add_argument("--emulator-url", help="an emulator already running with --no-auth")
    args = parser.parse_args()
    no_proxy()
    if args.only != "api" and not os.access(DISTRIBUTION, os.X_OK):
        parser.error(f"{DISTRIBUTION} is needed (Debian package docker-registry)")
    work = Path(tempfile.mkdtemp(prefix="ecr-emulator-bench-"))
    try:
        met = True
        if args.only != "api":
            met = run_blobs(args, work)
        if args.only != "blobs":
            run_api(args, work)
        return 0 if met else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
