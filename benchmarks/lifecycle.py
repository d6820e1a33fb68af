"""One lifecycle run over a repository of 10k images, in-process: the preview (evaluation
only) and the run (evaluation and the changes: expiries free blobs, transitions archive),
against the same repository listed with DescribeImages as a baseline measured in the same
run.  Target (issue 8): the run under 1 s.

The images: 10k pushed one hour apart over 416 days, a third untagged, tags ``prod-N``,
``dev-N`` and ``rel-N``; the policy keeps 50 prod images, expires dev images after 30
days and untagged ones after 7, archives releases after 90 days.  About 9,500 images
are acted on.

    python benchmarks/lifecycle.py [--images 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from put_image import manifest

from ecr_emulator import mock_ecr
from ecr_emulator.clock import ManualClock
from ecr_emulator.core import Caller, images

REPOSITORY = "bench/lifecycle"
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["prod-*"],
                "countType": "imageCountMoreThan",
                "countNumber": 50,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["dev-"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 30,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 3,
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["rel-*"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 90,
            },
            "action": {"type": "transition", "targetStorageClass": "archive"},
        },
        {
            "rulePriority": 4,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
    ]
}


def fill(mock: mock_ecr, clock: ManualClock, count: int) -> None:
    caller = Caller(mock.backend, "123456789012", "us-east-1")
    kinds = ("prod", "dev", "rel")
    with mock.backend.lock:
        for number in range(count):
            clock.set(START + dt.timedelta(hours=number))
            tags = [] if number % 3 == 0 else [f"{kinds[number % 9 % 3]}-{number}"]
            images.put_image(caller, None, REPOSITORY, manifest(number), tags=tags)
    clock.set(START + dt.timedelta(hours=count))


def one_round(count: int) -> tuple[float, float, float, int]:
    """(describe-all s, preview s, run s, actions) on a fresh repository of ``count``."""
    clock = ManualClock(START)
    with mock_ecr(clock=clock) as mock:
        client = boto3.client("ecr", region_name="us-east-1")
        client.create_repository(repositoryName=REPOSITORY)
        fill(mock, clock, count)
        client.put_lifecycle_policy(
            repositoryName=REPOSITORY, lifecyclePolicyText=json.dumps(POLICY)
        )
        started = time.perf_counter()
        pages = client.get_paginator("describe_images").paginate(
            repositoryName=REPOSITORY, PaginationConfig={"PageSize": 1000}
        )
        listed = sum(len(page["imageDetails"]) for page in pages)
        described = time.perf_counter() - started
        assert listed == count
        started = time.perf_counter()
        client.start_lifecycle_policy_preview(repositoryName=REPOSITORY)
        previewed = time.perf_counter() - started
        started = time.perf_counter()
        taken = mock.run_lifecycle()
        ran = time.perf_counter() - started
        return described, previewed, ran, len(taken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    results = [one_round(args.images) for _ in range(args.rounds)]
    described = statistics.median(r[0] for r in results)
    previewed = statistics.median(r[1] for r in results)
    ran = statistics.median(r[2] for r in results)
    actions = results[0][3]
    print(f"{args.images:,} images, {actions:,} acted on; median of {args.rounds} rounds")
    print(f"{'what':<44} {'seconds':>8} {'x describe':>11}")
    print(f"{'DescribeImages, every page (baseline)':<44} {described:>8.3f} {1.0:>11.2f}")
    print(
        f"{'StartLifecyclePolicyPreview (evaluate)':<44} {previewed:>8.3f} {previewed / described:>11.2f}"
    )
    print(f"{'lifecycle run (evaluate, expire, archive)':<44} {ran:>8.3f} {ran / described:>11.2f}")
    verdict = "meets" if ran < 1.0 else "MISSES"
    print(f"{verdict} the target (a run over {args.images:,} images under 1 s)")


if __name__ == "__main__":
    main()
