"""``ecr-emulator import`` and ``export``: images in and out as files.

In: a ``docker save`` archive, or an OCI image layout (a directory or a tar of
one).  Out: an OCI image layout (directory, or tar when the path ends in
``.tar``) or a docker archive (a tar that ``docker load`` reads: the OCI layout
plus docker's ``manifest.json``, as docker 25 writes it).  Manifests and blobs
travel byte for byte, so an image exported and imported again keeps every
digest.  A docker archive without an OCI index (docker before 25) has no
manifest to keep: one is written for it, with its layers as they are
(uncompressed tars, whose digests are their diff ids).

Either end is a ``Target``: a running server (``--endpoint-url``, through
``/v2/`` with a GetAuthorizationToken password) or a data directory of a stopped
server (``--data-dir``, through the core).  Transfers over a few MiB show a
progress bar (tqdm).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from tqdm import tqdm

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
INDEX_TYPES = {OCI_INDEX, DOCKER_LIST}
REF_NAME = "org.opencontainers.image.ref.name"
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
PROGRESS_AFTER_BYTES = 4 * 2**20


class TransferError(Exception):
    """The source is not an image this module reads, or a target refused a step."""


class Target(Protocol):
    """One end of a transfer: the repository's blobs and manifests."""

    def has_blob(self, digest: str) -> bool: ...
    def put_blob(self, digest: str, source: BinaryIO, size: int) -> None: ...
    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str: ...
    def get_manifest(self, reference: str) -> tuple[bytes, str]: ...
    @contextmanager
    def open_blob(self, digest: str) -> Iterator[BinaryIO]: ...


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob_path(root: Path, digest: str) -> Path:
    algorithm, _, hex_part = digest.partition(":")
    if (
        algorithm != "sha256"
        or len(hex_part) != 64
        or not all(c in "0123456789abcdef" for c in hex_part)
    ):
        raise TransferError(f"unsupported digest {digest!r}")
    return root / "blobs" / algorithm / hex_part


@dataclass
class Descriptor:
    media_type: str
    digest: str
    size: int


def _references(body: bytes, media_type: str) -> tuple[list[Descriptor], list[Descriptor]]:
    """(child manifests, blobs) a manifest or index names."""
    document = json.loads(body)
    if media_type in INDEX_TYPES:
        children = [
            Descriptor(m["mediaType"], m["digest"], m["size"]) for m in document["manifests"]
        ]
        return children, []
    blobs = [document["config"], *document.get("layers", [])]
    return [], [Descriptor(b["mediaType"], b["digest"], b["size"]) for b in blobs]


# --- sources: an OCI layout, or a docker archive -------------------------------------------


@contextmanager
def _unpacked(source: Path) -> Iterator[Path]:
    """``source`` as a directory (a tar is unpacked into a temporary one, safely)."""
    if source.is_dir():
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="ecr-emulator-import-") as work:
        with tarfile.open(source) as archive:
            archive.extractall(work, filter="data")
        yield Path(work)


@dataclass
class LayoutImage:
    root: Path  # the OCI layout (or docker archive) directory
    body: bytes
    media_type: str


def _choose(root: Path, tag: str | None) -> LayoutImage:
    """The image of the layout's index named ``tag`` (or its only one)."""
    index_path = root / "index.json"
    if index_path.is_file():
        manifests = json.loads(index_path.read_text())["manifests"]
        if tag is not None:
            named = [
                m
                for m in manifests
                if m.get("annotations", {}).get(REF_NAME, "").rpartition(":")[2] == tag
                or m.get("annotations", {}).get("io.containerd.image.name", "").rpartition(":")[2]
                == tag
            ]
            manifests = named or manifests
        if len(manifests) != 1:
            names = [m.get("annotations", {}).get(REF_NAME) for m in manifests]
            raise TransferError(
                f"the layout holds {len(manifests)} images ({names}); name one with --tag"
            )
        (chosen,) = manifests
        body = _blob_path(root, chosen["digest"]).read_bytes()
        if _digest(body) != chosen["digest"]:
            raise TransferError(f"{chosen['digest']} does not hash to its name")
        return LayoutImage(root, body, chosen["mediaType"])
    if (root / "manifest.json").is_file():
        return _classic_docker_image(root, tag)
    raise TransferError("not an OCI image layout (no index.json) nor a docker archive")


def _classic_docker_image(root: Path, tag: str | None) -> LayoutImage:
    """A docker archive without an OCI index: a manifest is written for it."""
    entries = json.loads((root / "manifest.json").read_text())
    if tag is not None:
        entries = [
            e for e in entries if any(t.rpartition(":")[2] == tag for t in e.get("RepoTags") or [])
        ] or entries
    if len(entries) != 1:
        raise TransferError(f"the archive holds {len(entries)} images; name one with --tag")
    (entry,) = entries
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def as_blob(relative: str) -> tuple[str, int]:
        path = root / relative
        hasher = hashlib.sha256()
        with open(path, "rb") as source:
            while chunk := source.read(1 << 20):
                hasher.update(chunk)
        digest = "sha256:" + hasher.hexdigest()
        target = blobs / digest.partition(":")[2]
        if not target.exists():
            shutil.copyfile(path, target)
        return digest, path.stat().st_size

    config_digest, config_size = as_blob(entry["Config"])
    layers = [as_blob(layer) for layer in entry["Layers"]]
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config_size, "digest": config_digest},
        "layers": [
            {"mediaType": DOCKER_LAYER_TAR, "size": size, "digest": digest}
            for digest, size in layers
        ],
    }
    return LayoutImage(root, json.dumps(manifest, indent=3).encode(), DOCKER_MANIFEST)


def import_image(source: Path, target: Target, tag: str | None) -> str:
    """Load the image at ``source`` into ``target``, tagged ``tag``; its digest."""
    with _unpacked(source) as root:
        image = _choose(root, tag)
        blobs: dict[str, Descriptor] = {}
        manifests: list[tuple[bytes, str]] = []  # children first, then the image itself
        _collect(
            lambda digest: (_blob_path(root, digest).read_bytes(), ""),
            image.body,
            image.media_type,
            blobs,
            manifests,
        )
        total = sum(d.size for d in blobs.values())
        with _progress(total, "import") as bar:
            for descriptor in blobs.values():
                if target.has_blob(descriptor.digest):
                    bar.update(descriptor.size)
                    continue
                path = _blob_path(root, descriptor.digest)
                if not path.is_file():
                    raise TransferError(f"blob {descriptor.digest} is missing from {source}")
                with open(path, "rb") as blob:
                    target.put_blob(descriptor.digest, _Counting(blob, bar), path.stat().st_size)
        for body, media_type in manifests[:-1]:
            target.put_manifest(_digest(body), body, media_type)
        return target.put_manifest(tag or _digest(image.body), image.body, image.media_type)


def _collect(
    fetch: Callable[[str], tuple[bytes, str]],
    body: bytes,
    media_type: str,
    blobs: dict[str, Descriptor],
    manifests: list[tuple[bytes, str]],
) -> None:
    """Every blob and manifest an image needs, children before the manifests that list
    them; ``fetch`` reads a child manifest (body, media type) by digest."""
    children, needed = _references(body, media_type)
    for child in children:
        child_body, child_type = fetch(child.digest)
        _collect(fetch, child_body, child_type or child.media_type, blobs, manifests)
    for blob in needed:
        blobs.setdefault(blob.digest, blob)
    manifests.append((body, media_type))


def export_image(
    target: Target, reference: str, destination: Path, form: str, repository: str
) -> str:
    """Write the image ``reference`` of ``target`` to ``destination`` as ``form``
    (``oci`` or ``docker-archive``); its digest."""
    body, media_type = target.get_manifest(reference)
    pieces: list[tuple[bytes, str]] = []
    blobs: dict[str, Descriptor] = {}
    _collect(target.get_manifest, body, media_type, blobs, pieces)
    as_tar = form == "docker-archive" or destination.suffix == ".tar"
    with tempfile.TemporaryDirectory(prefix="ecr-emulator-export-") as work:
        root = Path(work) if as_tar else destination
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        for piece, _ in pieces:
            _blob_path(root, _digest(piece)).write_bytes(piece)
        total = sum(d.size for d in blobs.values())
        with _progress(total, "export") as bar:
            for descriptor in blobs.values():
                with (
                    target.open_blob(descriptor.digest) as source,
                    open(_blob_path(root, descriptor.digest), "wb") as out,
                ):
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                        bar.update(len(chunk))
        digest = _digest(body)
        tag = None if reference.startswith("sha256:") else reference
        annotations = {REF_NAME: tag} if tag else {}
        if form == "docker-archive" and tag:
            annotations["io.containerd.image.name"] = f"{repository}:{tag}"
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": media_type, "digest": digest, "size": len(body),
                 **({"annotations": annotations} if annotations else {})}
            ],
        }  # fmt: skip
        (root / "index.json").write_text(json.dumps(index))
        if form == "docker-archive":
            _write_docker_manifest(root, body, media_type, repository, tag)
        if as_tar:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(destination, "w") as archive:
                for path in sorted(root.rglob("*")):
                    archive.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return digest


def _write_docker_manifest(
    root: Path, body: bytes, media_type: str, repository: str, tag: str | None
) -> None:
    """docker's own ``manifest.json``, so ``docker load`` reads the archive (one image)."""
    if media_type in INDEX_TYPES:
        raise TransferError("a docker archive holds one image, not an index: use --format oci")
    document = json.loads(body)
    entry = {
        "Config": "blobs/sha256/" + document["config"]["digest"].partition(":")[2],
        "RepoTags": [f"{repository}:{tag}"] if tag else [],
        "Layers": [
            "blobs/sha256/" + layer["digest"].partition(":")[2] for layer in document["layers"]
        ],
    }
    (root / "manifest.json").write_text(json.dumps([entry]))


@contextmanager
def _progress(total: int, label: str) -> Iterator[tqdm]:
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        disable=total < PROGRESS_AFTER_BYTES,
        delay=0.5,
    ) as bar:
        yield bar


class _Counting(io.RawIOBase):
    """A reader that moves a progress bar as it is read."""

    def __init__(self, source: BinaryIO, bar: tqdm) -> None:
        self.source = source
        self.bar = bar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        count = self.source.readinto(buffer)  # type: ignore[attr-defined]
        self.bar.update(count or 0)
        return count or 0

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = self.source.read(size)
        self.bar.update(len(data))
        return data


# --- targets --------------------------------------------------------------------------------


class ServerTarget:
    """A repository of a running emulator, through ``/v2/`` (created when missing)."""

    def __init__(self, endpoint: str, repository: str, region: str, create: bool) -> None:
        import boto3
        import requests

        self.base = endpoint.rstrip("/")
        self.repository = repository
        client = boto3.client("ecr", endpoint_url=self.base, region_name=region)
        if create:
            with suppress(client.exceptions.RepositoryAlreadyExistsException):
                client.create_repository(repositoryName=repository)
        (data,) = client.get_authorization_token()["authorizationData"]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        self.session = requests.Session()
        self.session.auth = (user, password)

    def _url(self, path: str) -> str:
        return f"{self.base}/v2/{self.repository}/{path}"

    def _check(self, answer, what: str) -> None:
        if answer.status_code >= 300:
            raise TransferError(f"{what}: {answer.status_code} {answer.text[:300]}")

    def has_blob(self, digest: str) -> bool:
        return self.session.head(self._url(f"blobs/{digest}"), timeout=60).status_code == 200

    def put_blob(self, digest: str, source: BinaryIO, size: int) -> None:
        started = self.session.post(self._url("blobs/uploads/"), timeout=60)
        self._check(started, "starting an upload")
        location = started.headers["Location"]
        if location.startswith("/"):
            location = self.base + location
        separator = "&" if "?" in location else "?"
        answer = self.session.put(  # chunked, as docker sends layers
            f"{location}{separator}digest={digest}",
            data=iter(lambda: source.read(1 << 20), b""),
            headers={"Content-Type": "application/octet-stream"},
            timeout=600,
        )
        self._check(answer, f"uploading {digest}")

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        answer = self.session.put(
            self._url(f"manifests/{reference}"),
            data=body,
            headers={"Content-Type": media_type},
            timeout=60,
        )
        self._check(answer, f"putting the manifest {reference}")
        return answer.headers.get("Docker-Content-Digest", _digest(body))

    def get_manifest(self, reference: str) -> tuple[bytes, str]:
        answer = self.session.get(
            self._url(f"manifests/{reference}"), headers={"Accept": ACCEPT}, timeout=60
        )
        self._check(answer, f"getting the manifest {reference}")
        return answer.content, answer.headers["Content-Type"]

    @contextmanager
    def open_blob(self, digest: str) -> Iterator[BinaryIO]:
        answer = self.session.get(self._url(f"blobs/{digest}"), stream=True, timeout=600)
        self._check(answer, f"getting {digest}")
        answer.raw.decode_content = False
        try:
            yield answer.raw
        finally:
            answer.close()


class DataDirTarget:
    """A repository in the data directory of a stopped server, through the core."""

    def __init__(self, data_dir: Path, repository: str, region: str, create: bool) -> None:
        from . import persistence
        from .blobstore import FilesystemBlobStore
        from .core import Caller, repositories
        from .errors import ServiceError
        from .identity import DEFAULT_ACCOUNT_ID
        from .state import Backend

        if not (data_dir / persistence.DATABASE).exists() and not create:
            raise TransferError(f"{data_dir} holds no {persistence.DATABASE}")
        self.backend = Backend(blobs=FilesystemBlobStore(data_dir))
        persistence.attach(self.backend, data_dir)
        account = os.environ.get("AWS_ACCESS_KEY_ID", "")
        self.caller = Caller(
            self.backend,
            account if account.isdigit() and len(account) == 12 else DEFAULT_ACCOUNT_ID,
            region,
        )
        self.repository = repository
        if create:
            try:
                repositories.create(self.caller, None, repository)
            except ServiceError as error:
                if error.code != "RepositoryAlreadyExistsException":
                    raise

    def close(self) -> None:
        from . import persistence

        persistence.close(self.backend)

    def has_blob(self, digest: str) -> bool:
        from .core import blobs

        return (
            blobs.layer_sizes(
                self.caller, None, self.repository, [digest], "ecr:BatchCheckLayerAvailability"
            )[digest]
            is not None
        )

    def put_blob(self, digest: str, source: BinaryIO, size: int) -> None:
        from .core import uploads

        upload = uploads.start(self.caller, None, self.repository)
        uploads.append(self.caller, upload, source, size, 0)
        uploads.finish(self.caller, upload, [digest], if_absent=True)

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        from .core import images

        tags = [] if reference.startswith("sha256:") else [reference]
        image = images.put_image(
            self.caller, None, self.repository, body, media_type=media_type, tags=tags,
            strict=True, idempotent=True,
        )  # fmt: skip
        return image.digest

    def get_manifest(self, reference: str) -> tuple[bytes, str]:
        from .core import images

        image = images.get_manifest(self.caller, None, self.repository, reference, pull=False)
        if image is None:
            raise TransferError(
                f"{self.repository}:{reference} is not in {self.backend.blobs.root}"
            )
        return image.manifest.encode(), image.media_type

    @contextmanager
    def open_blob(self, digest: str) -> Iterator[BinaryIO]:
        from .core import blobs

        opened = blobs.open_blob(
            self.caller, None, self.repository, digest, "ecr:GetDownloadUrlForLayer"
        )
        if opened is None:
            raise TransferError(f"blob {digest} is not held by {self.repository}")
        reader, _ = opened
        try:
            yield reader
        finally:
            reader.close()
