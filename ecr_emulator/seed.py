"""Fixtures: a YAML or JSON file that seeds repositories, settings, policies and images.

``ecr-emulator serve --seed FILE`` and ``mock_ecr(seed=FILE or dict)`` apply it at
start-up, so a test suite starts from a known registry.  Each repository entry is
CreateRepository's own parameters, plus ``policy`` (SetRepositoryPolicy),
``lifecyclePolicy`` (PutLifecyclePolicy) and ``images``; ``account`` and ``region`` pick the registry (at the top for every entry,
or per entry).  Everything goes through the API's operations, so a bad value gets the
error ECR would give.  An image is either ``manifest`` (PutImage as-is) or ``files``
(a path → text mapping built into a one-layer OCI image whose blobs are uploaded, so
docker can pull it), with ``tag`` or ``tags``::

    account: "123456789012"
    region: us-east-1
    repositories:
      - repositoryName: team/app
        imageTagMutability: IMMUTABLE
        tags: [{Key: team, Value: platform}]
        policy: {Version: "2012-10-17", Statement: [...]}
        lifecyclePolicy: {rules: [...]}
        images:
          - tags: [v1, latest]
            files: {hello.txt: "hello"}

A repository that already exists (a data directory kept it) is left as it is.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import tarfile
from pathlib import Path
from typing import Any

import yaml

from .core import Caller, uploads
from .errors import ServiceError
from .identity import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from .protocol.dispatcher import ApiDispatcher
from .state import Backend

log = logging.getLogger(__name__)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# entry key -> the operation that sets it and its text member (JSON given as YAML is dumped)
_POLICIES = (
    ("policy", "SetRepositoryPolicy", "policyText"),
    ("lifecyclePolicy", "PutLifecyclePolicy", "lifecyclePolicyText"),
)
ENTRY_KEYS = {"account", "region", "images", *(key for key, _, _ in _POLICIES)}


class SeedError(ValueError):
    """The fixtures file is not what this module describes, or ECR refused an entry."""


def read(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The fixtures from a YAML or JSON file (JSON is YAML), or as given."""
    if isinstance(source, dict):
        return source
    data = yaml.safe_load(Path(source).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("repositories", []), list):
        raise SeedError(f"{source}: expected a mapping with a 'repositories' list")
    return data


def apply(backend: Backend, source: str | Path | dict[str, Any]) -> int:
    """Seed ``backend``; the number of repositories created."""
    data = read(source)
    api = ApiDispatcher(backend)
    created = 0
    for entry in data.get("repositories", []):
        if not isinstance(entry, dict) or "repositoryName" not in entry:
            raise SeedError(f"each repository needs a repositoryName: {entry!r}")
        caller = Caller(
            backend,
            str(entry.get("account", data.get("account", DEFAULT_ACCOUNT_ID))),
            str(entry.get("region", data.get("region", DEFAULT_REGION))),
        )
        name = entry["repositoryName"]
        with backend.lock:
            registry = backend.find_registry(caller.account, caller.region)
            if registry is not None and name in registry.repositories:
                log.info("seed: %s exists already; left as it is", name)
                continue
        try:
            _seed_repository(api, caller, entry)
        except ServiceError as error:
            raise SeedError(f"seeding {name}: {error.code}: {error.message}") from None
        created += 1
    return created


def _seed_repository(api: ApiDispatcher, caller: Caller, entry: dict[str, Any]) -> None:
    name = entry["repositoryName"]
    create = {key: value for key, value in entry.items() if key not in ENTRY_KEYS}
    api.call("CreateRepository", caller, create)
    for key, operation, member in _POLICIES:
        if key in entry:
            value = entry[key]
            text = value if isinstance(value, str) else json.dumps(value)
            api.call(operation, caller, {"repositoryName": name, member: text})
    for image in entry.get("images", []):
        tags = image.get("tags") or ([image["tag"]] if "tag" in image else [])
        if "manifest" in image:
            manifest = image["manifest"]
            text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        elif "files" in image:
            text = _build_image(caller, name, image["files"])
        else:
            raise SeedError(f"an image of {name} needs 'manifest' or 'files': {image!r}")
        for tag in tags or [None]:
            params = {"repositoryName": name, "imageManifest": text}
            if tag is not None:
                params["imageTag"] = tag
            api.call("PutImage", caller, params)


def _build_image(caller: Caller, repository: str, files: dict[str, str]) -> str:
    """A one-layer OCI image holding ``files``, its blobs uploaded; the manifest."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, text in sorted(files.items()):
            data = str(text).encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    diff_id = "sha256:" + hashlib.sha256(tar_bytes.getvalue()).hexdigest()
    layer = gzip.compress(tar_bytes.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        separators=(",", ":"),
    ).encode()
    layer_digest = _upload(caller, repository, layer)
    config_digest = _upload(caller, repository, config)
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        },
        separators=(",", ":"),
    )


def _upload(caller: Caller, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = uploads.start(caller, None, repository)
    uploads.append(caller, upload, io.BytesIO(data), len(data), 0)
    uploads.finish(caller, upload, [digest], if_absent=True)
    return digest
