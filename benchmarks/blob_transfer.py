"""A 1 GiB blob pushed and pulled with curl: the emulator against Debian's docker-registry.

Both servers run here as subprocesses on free loopback ports, each storing on
disk in one temporary directory: ``ecr-emulator serve --no-auth --data-dir``
and CNCF distribution 2.8 (``/usr/bin/docker-registry``, filesystem storage).
For each, push = ``curl`` POST ``/v2/<repo>/blobs/uploads/`` then a monolithic
``curl -T`` PUT of the whole file to the Location with ``?digest=``; pull =
``curl -o /dev/null`` GET ``/v2/<repo>/blobs/<digest>``.  Rounds alternate
between the two servers, with ``sync`` before each push; the table shows the best
wall-clock time of ``--rounds``.  The emulator's peak RSS is its process tree's
VmHWM.  Targets: push ≤ 0.5x distribution's, pull ≤ 1.0x, emulator peak RSS
≤ 150 MB; the exit status is 1 when one is missed.  See benchmarks/README.md.

    python benchmarks/blob_transfer.py [--rounds 3] [--size-mib 1024] [--blob FILE]
                                       [--only emulator|distribution]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from servers import (
    DISTRIBUTION,
    HOST,
    RssWatch,
    no_proxy,
    pull_blob,
    push_blob,
    start_distribution,
    start_emulator,
    stop,
)

REPOSITORY = "bench/blob"
PUSH_TARGET = 0.5
PULL_TARGET = 1.0
RSS_TARGET_MB = 150.0


@dataclass
class Result:
    system: str
    push: list[float] = field(default_factory=list)
    pull: list[float] = field(default_factory=list)
    peak_rss_mb: float | None = None


def make_blob(path: Path, size: int) -> None:
    chunk = 16 * 1024 * 1024
    with open(path, "wb") as target:
        left = size
        while left:
            step = min(chunk, left)
            target.write(os.urandom(step))
            left -= step


def sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(4 * 1024 * 1024):
            hasher.update(block)
    return "sha256:" + hasher.hexdigest()


def push(base: str, blob: Path, digest: str) -> float:
    start = time.perf_counter()
    push_blob(base, REPOSITORY, blob, digest)
    return time.perf_counter() - start


def pull(base: str, digest: str, size: int) -> float:
    start = time.perf_counter()
    pull_blob(base, REPOSITORY, digest, size)
    return time.perf_counter() - start


def one_round(result: Result, base: str, blob: Path, digest: str) -> None:
    os.sync()  # each push starts with no dirty page cache left by the one before
    result.push.append(push(base, blob, digest))
    result.pull.append(pull(base, digest, blob.stat().st_size))


def start_emulator_with_repository(work: Path) -> tuple[subprocess.Popen, str]:
    process, base = start_emulator(work, "--no-auth")
    boto3.client(
        "ecr",
        endpoint_url=base,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_repository(repositoryName=REPOSITORY)
    return process, base


def ratio(mine: list[float], theirs: list[float]) -> str:
    return f"{min(mine) / min(theirs):.2f}x" if mine and theirs else "-"


def best(times: list[float]) -> str:
    return f"{min(times):.2f}" if times else "-"


def report(emulator: Result, distribution: Result, size: int, rounds: int) -> bool:
    """Print the table; True when every target is met (False when one could not be checked)."""
    print(f"\n{size / 2**20:.0f} MiB blob, best of {rounds}, curl over {HOST}\n")
    header = ("system", "push s", "pull s", "push ratio", "pull ratio", "peak RSS MB")
    rows = [
        (
            emulator.system,
            best(emulator.push),
            best(emulator.pull),
            ratio(emulator.push, distribution.push),
            ratio(emulator.pull, distribution.pull),
            "-" if emulator.peak_rss_mb is None else f"{emulator.peak_rss_mb:.0f}",
        ),
        (
            distribution.system,
            best(distribution.push),
            best(distribution.pull),
            "1.00x",
            "1.00x",
            "-",
        ),
    ]
    rows = [row for row, result in zip(rows, (emulator, distribution), strict=True) if result.push]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * width for width in widths), *rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
    print()
    for result in (emulator, distribution):
        if result.push:
            print(
                f"{result.system} rounds: push {' '.join(f'{t:.2f}' for t in result.push)} s;"
                f" pull {' '.join(f'{t:.2f}' for t in result.pull)} s"
            )
    if not (emulator.push and distribution.push):
        return False
    checks = {
        f"push <= {PUSH_TARGET}x distribution's": min(emulator.push)
        <= PUSH_TARGET * min(distribution.push),
        f"pull <= {PULL_TARGET}x distribution's": min(emulator.pull)
        <= PULL_TARGET * min(distribution.pull),
        f"emulator peak RSS <= {RSS_TARGET_MB:.0f} MB": (emulator.peak_rss_mb or 0.0)
        <= RSS_TARGET_MB,
    }
    print()
    for name, met in checks.items():
        print(f"{'met   ' if met else 'MISSED'}  {name}")
    return all(checks.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="blob size (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="push+pull rounds (default 3)")
    parser.add_argument(
        "--blob", type=Path, help="reuse this file as the blob (else a random one in a temp dir)"
    )
    parser.add_argument(
        "--only", choices=("emulator", "distribution"), help="benchmark one system only"
    )
    args = parser.parse_args()
    no_proxy()
    if shutil.which("curl") is None:
        parser.error("curl is needed")
    if args.only != "emulator" and not os.access(DISTRIBUTION, os.X_OK):
        parser.error(f"{DISTRIBUTION} is needed (Debian package docker-registry)")

    work = Path(tempfile.mkdtemp(prefix="ecr-emulator-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        blob = args.blob
        if blob is None:
            blob = work / "blob.bin"
            print(f"writing {args.size_mib} MiB of random bytes to {blob}", flush=True)
            make_blob(blob, args.size_mib * 2**20)
        digest = sha256_of(blob)
        emulator, distribution = Result("ecr-emulator"), Result("distribution 2.8")
        with contextlib.ExitStack() as stack:
            servers: list[tuple[Result, str]] = []
            watch = None
            if args.only != "distribution":
                process, base = start_emulator_with_repository(work)
                processes.append(process)
                watch = stack.enter_context(RssWatch(process.pid))
                servers.append((emulator, base))
                print(f"emulator at {base}", flush=True)
            if args.only != "emulator":
                process, base = start_distribution(work)
                processes.append(process)
                servers.append((distribution, base))
                print(f"distribution at {base}", flush=True)
            for number in range(args.rounds):  # interleaved, so both see the same machine
                for result, base in servers:
                    one_round(result, base, blob, digest)
                print(f"round {number + 1} of {args.rounds} done", flush=True)
        if watch is not None:
            emulator.peak_rss_mb = watch.peak_mb
        met = report(emulator, distribution, blob.stat().st_size, args.rounds)
        return 0 if met or args.only else 1
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
