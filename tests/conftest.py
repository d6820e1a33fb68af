"""Shared test helpers: every test drives the emulator through real clients.

``ecr`` is a boto3 ECR client answered in-process (``mock``) or by the live
server (``server``); tests that take it run against both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from registry_client import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, digest_of

from ecr_emulator import mock_ecr
from ecr_emulator.mock import current_mock
from ecr_emulator.server import BackgroundServer

# What boto3 and the aws CLI sign with unless a test names an account.
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
for _name, _value in TEST_CREDENTIALS.items():
    os.environ.setdefault(_name, _value)


def fake_digest(seed: str) -> str:
    return digest_of(seed.encode())


def docker_manifest(seed: str = "a", layer_sizes: tuple[int, ...] = (100, 200)) -> str:
    """A Docker schema 2 manifest whose blobs are named after ``seed`` (never uploaded)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG,
                "size": 7,
                "digest": fake_digest(seed + "config"),
            },
            "layers": [
                {"mediaType": DOCKER_LAYER, "size": size, "digest": fake_digest(f"{seed}layer{i}")}
                for i, size in enumerate(layer_sizes)
            ],
        }
    )


def ecr_client(
    region: str = "us-east-1",
    account: str | None = None,
    *,
    endpoint_url: str | None = None,
    config: Config | None = None,
):
    """A boto3 ECR client; ``account`` (12 digits) becomes the access key id, else the
    environment's credentials sign."""
    options = {"region_name": region, "endpoint_url": endpoint_url, "config": config}
    if account:
        options.update(aws_access_key_id=account, aws_secret_access_key="secret")
    return boto3.client("ecr", **options)


@pytest.fixture(params=["mock", "server"])
def ecr_target(request) -> Iterator[str | None]:
    """The endpoint to use: None (in-process mock active) or the live server's URL."""
    if request.param == "mock":
        with mock_ecr():
            yield None
    else:
        server: BackgroundServer = request.getfixturevalue("ecr_server")
        yield server.url


@pytest.fixture
def target_backend(ecr_target, request):
    """The state behind ``ecr_target``, for tests that check what a call left behind."""
    if ecr_target is None:
        return current_mock().backend
    return request.getfixturevalue("ecr_server").backend


@pytest.fixture
def ecr(ecr_target):
    """A boto3 ECR client for ``ecr_target``: runs each test in-process and against the server."""
    return ecr_client(endpoint_url=ecr_target)


@pytest.fixture
def raw_ecr(ecr_target):
    """A client for the same target that sends whatever it is given (no client-side checks)."""
    return ecr_client(endpoint_url=ecr_target, config=Config(parameter_validation=False))


@pytest.fixture
def make_client(ecr_target):
    """Build more clients (other accounts or regions) for the same target."""

    def build(region: str = "us-east-1", account: str | None = None):
        return ecr_client(region, account, endpoint_url=ecr_target)

    return build
