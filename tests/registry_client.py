"""A tiny registry client on ``requests`` for the tests: login from GetAuthorizationToken,
push blobs and manifests the way docker and the OCI spec describe.

The media types and digest helpers here are the ones every test module uses."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def login(ecr_client: Any, registry_id: str | None = None) -> tuple[str, str, str]:
    """(registry URL, user, password) from GetAuthorizationToken (for ``registry_id``'s
    registry when given, else the caller's own)."""
    options = {"registryIds": [registry_id]} if registry_id else {}
    (data,) = ecr_client.get_authorization_token(**options)["authorizationData"]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return data["proxyEndpoint"], user, password


class RegistryClient:
    """A ``requests.Session`` logged in to the registry an ECR client's token is for."""

    def __init__(
        self, ecr_client: Any, base_url: str | None = None, registry_id: str | None = None
    ) -> None:
        endpoint, user, password = login(ecr_client, registry_id)
        self.base = base_url or endpoint
        self.password = password
        self.session = requests.Session()
        self.session.auth = (user, password)

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path)

    def request(self, method: str, path: str, **options: Any) -> requests.Response:
        return self.session.request(method, self.url(path), timeout=30, **options)

    def get(self, path: str, **options: Any) -> requests.Response:
        return self.request("GET", path, **options)

    def head(self, path: str, **options: Any) -> requests.Response:
        return self.request("HEAD", path, **options)

    def post(self, path: str, **options: Any) -> requests.Response:
        return self.request("POST", path, **options)

    def put(self, path: str, **options: Any) -> requests.Response:
        return self.request("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> requests.Response:
        return self.request("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> requests.Response:
        return self.request("DELETE", path, **options)

    def push_blob(self, repository: str, data: bytes, algorithm: str = "sha256") -> str:
        """Monolithic upload (POST ``?digest=``); the blob's digest."""
        digest = digest_of(data, algorithm)
        answer = self.post(
            f"/v2/{repository}/blobs/uploads/",
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert answer.status_code == 201, answer.text
        return digest

    def put_manifest(
        self, repository: str, reference: str, manifest: dict | bytes, media_type: str | None = None
    ) -> requests.Response:
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        if media_type is None and isinstance(manifest, dict):
            media_type = manifest.get("mediaType")
        headers = {"Content-Type": media_type} if media_type else {}
        return self.put(f"/v2/{repository}/manifests/{reference}", data=body, headers=headers)

    def push_image(
        self,
        repository: str,
        reference: str,
        layers: tuple[bytes, ...] = (b"layer one", b"layer two!"),
        config: bytes = b'{"architecture":"amd64","os":"linux"}',
        media_type: str = OCI_MANIFEST,
        **extra: Any,
    ) -> tuple[dict, requests.Response]:
        """Push the blobs and a manifest referencing them; (manifest, PUT response)."""
        manifest = image_manifest(
            [(self.push_blob(repository, layer), len(layer)) for layer in layers],
            (self.push_blob(repository, config), len(config)),
            media_type,
            **extra,
        )
        return manifest, self.put_manifest(repository, reference, manifest)


def image_manifest(
    layers: list[tuple[str, int]],
    config: tuple[str, int],
    media_type: str = OCI_MANIFEST,
    **extra: Any,
) -> dict:
    docker = media_type == DOCKER_MANIFEST
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": config[0],
            "size": config[1],
        },
        "layers": [
            {"mediaType": DOCKER_LAYER if docker else OCI_LAYER, "digest": digest, "size": size}
            for digest, size in layers
        ],
        **extra,
    }


def manifest_digest(manifest: dict | str | bytes, algorithm: str = "sha256") -> str:
    """The digest of a manifest as sent: bytes or text as they are, a dict as ``json.dumps``."""
    if isinstance(manifest, dict):
        manifest = json.dumps(manifest)
    body = manifest.encode() if isinstance(manifest, str) else manifest
    return digest_of(body, algorithm)


def error_codes(answer: requests.Response) -> list[str]:
    return [error["code"] for error in answer.json()["errors"]]


class GatedBody:
    """A request body that stalls after ``head`` until ``release()``: a slow client with a
    chunk in flight.  It is sent chunked, as docker sends layers, so the server hands it to
    the application at once (a small body of known length is read whole first)."""

    def __init__(self, head: bytes, tail: bytes) -> None:
        self.head = head
        self.tail = tail
        self.sent = threading.Event()
        self.gate = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        self.sent.set()
        assert self.gate.wait(10), "never released"
        yield self.tail

    def release(self) -> None:
        self.gate.set()
