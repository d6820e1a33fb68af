"""The metadata store under ``--data-dir``: every kept record in one SQLite database.

``DIR/metadata.sqlite3`` (WAL) sits beside the content-addressed blob files of
``FilesystemBlobStore``.  Why SQLite: it is in the standard library, its
transactions are atomic and survive a killed process (and, with
``synchronous=FULL``, a power loss), and its WAL lets a reader look at the
file while the server writes.  One table, ``records``, holds one row per
``records.Record`` (registry, repository, image, upload session) and per blob a
repository holds (``link``), keyed by ``Record.record_key`` and in insertion
order, which is the order listings show.

Writes: the ``SqliteJournal`` collects what changed while the state lock is
held and writes it in one SQLite transaction when the outermost holder lets go
(``state.StateLock``), before the request is answered and before any blob's
bytes are deleted.  After a kill -9 a restart therefore shows exactly the
changes that were answered.

Durability (``--fsync``): ``never`` (the default) survives the process being
killed (SQLite's WAL with ``synchronous=NORMAL``; blob files are complete
before they are renamed into place); ``always`` also survives a power loss
(``synchronous=FULL`` and an fsync of every blob and upload write).
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from .blobstore import FilesystemBlobStore
from .records import Record, decode, encode, key_parts
from .state import Backend, Image, Principal, Registry, Repository, UploadSession

log = logging.getLogger(__name__)

DATABASE = "metadata.sqlite3"
FSYNC_CHOICES = ("never", "always")
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    parent TEXT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_parent ON records (parent);
"""
BACKEND_KEY = "backend"


class SqliteJournal:
    """What changed under the lock, written to SQLite when the lock is let go."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        # ("put", key) → (parent, kind, record or body); ("delete", key) → None; in order
        self._pending: dict[tuple[str, str], tuple[str | None, str, Record | str] | None] = {}

    def changed(self, record: Record) -> None:
        key = record.record_key()
        pending = self._pending
        entry = ("put", key)
        if entry in pending:
            del pending[entry]  # written once, after its last change
        pending[entry] = (record.record_parent(), record.KIND, record)

    def deleted(self, record: Record) -> None:
        self.delete_row(record.record_key())

    def put_row(self, key: str, parent: str | None, kind: str, body: str) -> None:
        self._pending.pop(("put", key), None)
        self._pending[("put", key)] = (parent, kind, body)

    def delete_row(self, key: str) -> None:
        pending = self._pending
        pending.pop(("put", key), None)
        pending.pop(("delete", key), None)
        pending[("delete", key)] = None

    def clear(self) -> None:
        """Everything is forgotten (reset): written at once."""
        self._pending.clear()
        with self.connection:
            # identities (the opt-in identity mode's principals) are configuration: kept
            self.connection.execute(
                "DELETE FROM records WHERE kind NOT IN ('backend', ?)", (Principal.KIND,)
            )

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        execute = self.connection.execute
        with self.connection:  # one SQLite transaction: all of it or none
            for (_operation, key), entry in pending.items():
                if entry is None:
                    execute("DELETE FROM records WHERE key = ? OR parent = ?", (key, key))
                    continue
                parent, kind, value = entry
                body = value if isinstance(value, str) else encode(value)
                execute(
                    "INSERT INTO records (key, parent, kind, body) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET body = excluded.body",
                    (key, parent, kind, body),
                )


def connect(data_dir: Path, fsync: str = "never") -> sqlite3.Connection:
    """The metadata database of ``data_dir``, created when missing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(data_dir / DATABASE, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={'FULL' if fsync == 'always' else 'NORMAL'}")
    connection.executescript(SCHEMA)
    # isolation_level=None: autocommit, except inside ``with connection`` (BEGIN ... COMMIT)
    connection.isolation_level = "DEFERRED"
    return connection


@dataclass
class LoadReport:
    registries: int = 0
    repositories: int = 0
    images: int = 0
    links: int = 0
    uploads: int = 0
    missing: list[str] = field(default_factory=list)  # rows whose bytes are gone
    seconds: float = 0.0


def load(backend: Backend, data_dir: Path) -> tuple[sqlite3.Connection, LoadReport]:
    """Load what ``data_dir`` keeps into ``backend`` without keeping later changes
    (``ecr-emulator check`` looks at it this way)."""
    connection = connect(data_dir)
    report = LoadReport()
    with backend.lock:
        _load(backend, connection, report)
    return connection, report


def attach(backend: Backend, data_dir: Path, fsync: str = "never") -> LoadReport:
    """Load what ``data_dir`` keeps into ``backend`` (empty, using ``data_dir``'s blob store)
    and keep every later change there."""
    if not isinstance(backend.blobs, FilesystemBlobStore):
        raise TypeError("a data directory keeps blobs in a FilesystemBlobStore")
    started = time.perf_counter()
    connection = connect(data_dir, fsync)
    report = LoadReport()
    with backend.lock:
        _load(backend, connection, report)
        journal = backend.journal = SqliteJournal(connection)
        for registry in backend.registries.values():
            _attach(registry, journal)
            for repository in registry.repositories.values():
                _attach(repository, journal)
                for image in repository.images.values():
                    _attach(image, journal)
        for upload in backend.uploads.values():
            _attach(upload, journal)
        for principal in backend.principals.values():
            _attach(principal, journal)
        backend.blobs.keep_only_uploads(set(backend.uploads))
    report.seconds = time.perf_counter() - started
    if report.missing:
        log.warning(
            "%d kept blobs or uploads have lost their bytes and are not served; "
            "run: ecr-emulator check --data-dir %s --repair",
            len(report.missing),
            data_dir,
        )
    return report


def _attach(record: Record, journal: SqliteJournal) -> None:
    object.__setattr__(record, "journal", journal)  # loaded as written: nothing to write


def close(backend: Backend) -> None:
    """Write what is pending and close the database (graceful shutdown)."""
    journal = backend.journal
    if isinstance(journal, SqliteJournal):
        with backend.lock:
            journal.flush()
            journal.connection.close()
            backend.journal = None


def _load(backend: Backend, connection: sqlite3.Connection, report: LoadReport) -> None:
    rows = connection.execute("SELECT key, kind, body FROM records ORDER BY id")
    repositories: dict[tuple[str, ...], Repository] = {}
    for key, kind, body in rows:
        if kind == "backend":
            backend.token_secret = bytes.fromhex(json.loads(body)["token_secret"])
        elif kind == Registry.KIND:
            registry = Registry(backend=backend, **decode(body))
            backend.registries[(registry.account_id, registry.region)] = registry
            report.registries += 1
        elif kind == Repository.KIND:
            account, region, name = key_parts(key)
            registry = backend.registries[(account, region)]
            repository = Repository(registry=registry, **decode(body))
            registry.add_repository(repository)
            repositories[(account, region, name)] = repository
            report.repositories += 1
        elif kind == Image.KIND:
            *scope, _digest = key_parts(key)
            repository = repositories[tuple(scope)]
            repository.restore_image(Image(**decode(body)))
            report.images += 1
        elif kind == "link":
            *scope, digest = key_parts(key)
            repository = repositories[tuple(scope)]
            if backend.blobs.exists(digest):
                repository.link_blob(digest)
                report.links += 1
            else:  # bytes lost outside the emulator: not served (``ecr-emulator check``)
                report.missing.append(key)
        elif kind == Principal.KIND:
            principal = Principal(**decode(body))
            backend.principals[principal.access_key_id] = principal
        elif kind == UploadSession.KIND:
            fields = decode(body)
            writer = backend.blobs.resume_writer(fields["upload_id"])
            if writer is None:
                report.missing.append(key)
                continue
            backend.add_upload(UploadSession(writer=writer, **fields))
            report.uploads += 1
    secret = connection.execute("SELECT 1 FROM records WHERE key = ?", (BACKEND_KEY,)).fetchone()
    if secret is None:  # a new data directory: its token secret is kept from now on
        backend.token_secret = secrets.token_bytes(32)
        with connection:
            connection.execute(
                "INSERT INTO records (key, parent, kind, body) VALUES (?, NULL, 'backend', ?)",
                (BACKEND_KEY, json.dumps({"token_secret": backend.token_secret.hex()})),
            )


def free_unheld_blobs(backend: Backend) -> int:
    """Delete blob files no repository holds (left by a crash between storing a blob and
    recording it, or by a deletion that did not finish); how many."""
    freed = 0
    for digest in backend.blobs.stored_digests():
        with backend.lock:
            if backend.blob_holders.get(digest):
                continue
            if backend.blobs.delete(digest):
                freed += 1
    return freed
