"""``ecr-emulator check --data-dir DIR [--repair]``: verify a data directory.

What it checks, on a stopped server's directory (or a running one's: SQLite's WAL
lets it read while the server writes, but ``--repair`` needs the server stopped):

- every blob file hashes to its name;
- every image's manifest resolves: the blobs it names are held by its repository and
  their bytes are intact, and the manifests an index lists are in the repository;
- every tag names one image only (no tag left behind on another image);
- every blob a repository holds, and every upload in progress, still has its bytes;
- blob files no repository holds (freed at the next start anyway).

``--repair`` drops what cannot be served: corrupt blob files and the holds on them,
images whose manifests do not resolve (and the tags on them), the duplicate claim on
a tag (the most recent push keeps it), holds and uploads whose bytes are gone, and
unheld blob files.  The exit status is 0 when nothing is wrong (or all was repaired).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from . import persistence
from .blobstore import FilesystemBlobStore
from .records import encode
from .state import Backend, Image, Repository


@dataclass
class Finding:
    problem: str
    repair: str
    rows: list[str] = field(default_factory=list)  # metadata rows the repair deletes
    files: list[Path] = field(default_factory=list)  # files the repair deletes
    rewrite: Image | None = None  # an image row the repair writes anew


@dataclass
class CheckReport:
    summary: str = ""
    findings: list[Finding] = field(default_factory=list)


def check(data_dir: Path) -> tuple[CheckReport, sqlite3.Connection]:
    if not (data_dir / persistence.DATABASE).is_file():
        raise FileNotFoundError(f"{data_dir} holds no {persistence.DATABASE}")
    store = FilesystemBlobStore(data_dir)
    backend = Backend(blobs=store)
    connection, loaded = persistence.load(backend, data_dir)
    report = CheckReport()
    corrupt = _check_blobs(store, report)
    for key in loaded.missing:
        kind = key.split("\x1f", 1)[0]
        what = "a held blob" if kind == "link" else "an upload in progress"
        report.findings.append(
            Finding(f"{what} has lost its bytes: {_show(key)}", "forget it", rows=[key])
        )
    images = 0
    for registry in backend.registries.values():
        for repository in registry.repositories.values():
            images += len(repository.images)
            _check_repository(repository, corrupt, report)
    held = set(backend.blob_holders)
    unheld = [d for d in store.stored_digests() if d not in held and d not in corrupt]
    for digest in unheld:
        report.findings.append(
            Finding(f"blob {digest} is held by no repository", "delete its file",
                    files=[store.path_of(digest)])
        )  # fmt: skip
    repositories = sum(len(r.repositories) for r in backend.registries.values())
    report.summary = (
        f"checked {data_dir}: {len(backend.registries)} registries, {repositories} "
        f"repositories, {images} images, {len(held)} held blobs, "
        f"{len(backend.uploads)} uploads in progress"
    )
    return report, connection


def _check_blobs(store: FilesystemBlobStore, report: CheckReport) -> set[str]:
    corrupt = set()
    for digest in list(store.stored_digests()):
        algorithm, _, expected = digest.partition(":")
        hasher = hashlib.new(algorithm)
        path = store.path_of(digest)
        with open(path, "rb") as blob:
            while chunk := blob.read(1 << 20):
                hasher.update(chunk)
        if hasher.hexdigest() != expected:
            corrupt.add(digest)
            report.findings.append(
                Finding(
                    f"blob {digest} hashes to {algorithm}:{hasher.hexdigest()}",
                    "delete its file and every hold on it",
                    files=[path],
                )
            )
    return corrupt


def _check_repository(repository: Repository, corrupt: set[str], report: CheckReport) -> None:
    where = f"{'/'.join(repository.scope[:2])} {repository.name}"
    for digest in corrupt & repository.linked_blobs:
        report.findings.append(
            Finding(f"{where} holds corrupt blob {digest}", "forget the hold",
                    rows=[repository.link_key(digest)])
        )  # fmt: skip
    claims: dict[str, list[Image]] = {}
    for image in repository.images.values():
        for tag in image.tags:
            claims.setdefault(tag, []).append(image)
        missing = [
            d for d in image.blob_digests if d not in repository.linked_blobs or d in corrupt
        ]
        missing += [d for d in image.child_digests if d not in repository.images]
        if missing:
            report.findings.append(
                Finding(
                    f"{where}@{image.digest} (tags {', '.join(image.tags) or 'none'}) "
                    f"cannot be served: {', '.join(missing)} missing",
                    "delete the image",
                    rows=[image.record_key()],
                )
            )
    for tag, images in claims.items():
        if len(images) < 2:
            continue
        keeper = max(images, key=lambda image: image.pushed_at)
        for image in images:
            if image is keeper:
                continue
            object.__setattr__(image, "tags", tuple(t for t in image.tags if t != tag))
            report.findings.append(
                Finding(
                    f"{where}:{tag} is claimed by {image.digest} and {keeper.digest}",
                    f"keep it on {keeper.digest}, the most recent push",
                    rewrite=image,
                )
            )


def _show(key: str) -> str:
    return " ".join(key.split("\x1f")[1:])


def repair(report: CheckReport, connection: sqlite3.Connection) -> None:
    """Apply every finding's repair: rows in one SQLite transaction, then files."""
    with connection:
        for finding in report.findings:
            for key in finding.rows:
                connection.execute("DELETE FROM records WHERE key = ? OR parent = ?", (key, key))
            if finding.rewrite is not None:
                connection.execute(
                    "UPDATE records SET body = ? WHERE key = ?",
                    (encode(finding.rewrite), finding.rewrite.record_key()),
                )
    for finding in report.findings:
        for path in finding.files:
            path.unlink(missing_ok=True)


def run(data_dir: Path, fix: bool) -> int:
    """The CLI: print what was found (and repaired); the exit status."""
    report, connection = check(data_dir)
    try:
        print(report.summary)
        for finding in report.findings:
            print(f"  {finding.problem}; repair: {finding.repair}")
        if not report.findings:
            print("no problems found")
            return 0
        if not fix:
            print(f"{len(report.findings)} problems; --repair drops what cannot be served")
            return 1
        repair(report, connection)
        print(f"repaired {len(report.findings)} problems")
        return 0
    finally:
        connection.close()
