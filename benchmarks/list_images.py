"""Paging cost as the repository grows: DescribeImages and ListImages pages deep in a listing.

DESIGN asks that per-operation cost not grow with the number of images.  For
each size a repository is filled and a nextToken for the page just before the
end is found (untimed); then fetching that page (maxResults=100) is timed,
the sizes taking turns round by round so drift hits them alike.  The baseline
is the same call on the 1k-image repository.
Target: 100k/1k ≤ 1.1.

    python benchmarks/list_images.py [--calls 300] [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import time

import boto3
from put_image import REPOSITORY, SIZES, manifest

from ecr_emulator import mock_ecr
from ecr_emulator.core import Caller, images

PAGE = 100
OPERATIONS = ("describe_images", "list_images")


def deep_token(client, operation: str) -> str:
    """The nextToken of the last page but one (found by paging through, untimed)."""
    call = getattr(client, operation)
    token, previous = None, None
    while True:
        page = call(
            repositoryName=REPOSITORY, maxResults=PAGE, **({"nextToken": token} if token else {})
        )
        if "nextToken" not in page:
            return previous or token
        previous, token = token, page["nextToken"]


def time_page(client, operation: str, token: str, calls: int) -> float:
    call = getattr(client, operation)
    start = time.perf_counter()
    for _ in range(calls):
        call(repositoryName=REPOSITORY, maxResults=PAGE, nextToken=token)
    return (time.perf_counter() - start) / calls * 1e6


def filled_mock(size: int) -> tuple[mock_ecr, dict[str, str]]:
    """A stopped mock holding ``size`` images, and the deep token of each operation."""
    mock = mock_ecr().start()
    client = boto3.client("ecr", region_name="us-east-1")
    client.create_repository(repositoryName=REPOSITORY)
    caller = Caller(mock.backend, "123456789012", "us-east-1")
    for number in range(size):
        images.put_image(caller, None, REPOSITORY, manifest(number), tags=[f"t{number}"])
    tokens = {operation: deep_token(client, operation) for operation in OPERATIONS}
    mock.stop()
    return mock, tokens


def measure(calls: int, rounds: int) -> dict[int, dict[str, float]]:
    """Best µs per page for every size and operation, the sizes taking turns each round."""
    mocks = {size: filled_mock(size) for size in SIZES}
    client = boto3.client("ecr", region_name="us-east-1")
    best: dict[int, dict[str, float]] = {size: {} for size in SIZES}
    for _ in range(rounds):
        for size, (mock, tokens) in mocks.items():
            with mock:
                for operation, token in tokens.items():
                    micros = time_page(client, operation, token, calls)
                    best[size][operation] = min(best[size].get(operation, micros), micros)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    results = measure(args.calls, args.rounds)
    base = results[SIZES[0]]
    print(
        f"{'images in repository':<22} {'DescribeImages µs':>18} {'x 1k':>6} {'ListImages µs':>14} {'x 1k':>6}"
    )
    for size, row in results.items():
        describe, listed = row["describe_images"], row["list_images"]
        print(
            f"{size:<22,} {describe:>18.1f} {describe / base['describe_images']:>6.2f} "
            f"{listed:>14.1f} {listed / base['list_images']:>6.2f}"
        )
    worst = max(row[op] / base[op] for row in results.values() for op in row)
    verdict = "meets" if worst <= 1.1 else "MISSES"
    print(f"{verdict} the target (a page deep in 100k images costs ≤ 1.1x the same page in 1k)")


if __name__ == "__main__":
    main()
