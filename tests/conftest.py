"""Shared test helpers: every test drives the emulator through real clients.

``ecr`` is a boto3 ECR client answered in-process (``mock``) or by the live
server (``server``); tests that take it run against both.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import boto3
import pytest

from ecr_emulator import mock_ecr
from ecr_emulator.server import BackgroundServer

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def fake_digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


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


def manifest_digest(manifest: str) -> str:
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def client(endpoint_url: str | None = None, region: str = "us-east-1", account: str | None = None):
    """A boto3 ECR client; ``account`` (12 digits) becomes the access key id."""
    options = {"region_name": region}
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if account:
        options["aws_access_key_id"] = account
        options["aws_secret_access_key"] = "secret"
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
def ecr(ecr_target):
    """A boto3 ECR client for ``ecr_target``: runs each test in-process and against the server."""
    return client(ecr_target)


@pytest.fixture
def make_client(ecr_target):
    """Build more clients (other accounts or regions) for the same target."""

    def build(region: str = "us-east-1", account: str | None = None):
        return client(ecr_target, region=region, account=account)

    return build
