"""Content-addressed blob storage: the one storage-driver interface behind both planes.

Two drivers, ``MemoryBlobStore`` (the in-process default) and
``FilesystemBlobStore`` (``--data-dir``), each with one ``BlobWriter`` per
upload in progress.  A writer streams: bytes are hashed as they arrive, and a
blob becomes visible only after ``verify`` and ``publish`` (on disk an atomic
rename), so a reader never sees half a layer.  The store knows nothing of
repositories, accounts or which uploads exist: the core's one upload table
holds the writers and decides when a blob is published or freed.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .digests import algorithm_of, is_valid_digest

CHUNK_SIZE = 1024 * 1024
_BUFFERS = 4  # chunks in flight while a file upload is hashed on a helper thread


class DigestMismatch(ValueError):
    """The uploaded bytes do not hash to the digest the client claimed."""


class BodyReadError(OSError):
    """The client's stream broke off or was malformed (a client error, not the store's)."""


class WriterDiscarded(Exception):
    """The writer was discarded (the upload cancelled) before this write began."""


class BlobWriter(Protocol):
    """One upload's bytes on their way into the store.  Not thread-safe: the core
    lets one request at a time write, except ``discard``, which may come at any time."""

    size: int
    touched: float  # time.monotonic() of the last byte received

    def write(self, stream: BinaryIO, length: int | None = None, *, hash_now: bool = True) -> int:
        """Append ``stream`` (up to ``length`` bytes, else to EOF); the new size.  A broken
        stream raises ``BodyReadError`` and keeps the bytes received before the break.
        ``hash_now=False`` leaves hashing to ``verify``, which then reads the bytes back
        (a pull-through's client is not kept waiting for sha256)."""
        ...

    def verify(self, digest: str) -> None:
        """``DigestMismatch`` unless the bytes so far hash to ``digest``."""
        ...

    def publish(self, digest: str) -> None:
        """Make the verified bytes the blob ``digest``, atomically; the writer is done."""
        ...

    def discard(self) -> None:
        """Drop the bytes; safe while a ``write`` is in flight (its bytes go nowhere)."""
        ...


class BlobStore(Protocol):
    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int | None:
        """Size in bytes, or None when the blob is not stored."""
        ...

    def open(self, digest: str) -> BinaryIO | None:
        """A seekable reader of the blob, or None when it is not stored."""
        ...

    def delete(self, digest: str) -> bool: ...

    def new_writer(self, upload_id: str) -> BlobWriter:
        """A writer for a new upload named ``upload_id`` (unique, chosen by the caller)."""
        ...

    def clear(self) -> None: ...


def put_blob(store: BlobStore, digest: str, data: bytes) -> None:
    """Store small ``data`` as ``digest`` in one step, verified like an upload."""
    writer = store.new_writer(f"put-{os.urandom(8).hex()}")
    try:
        writer.write(io.BytesIO(data))
        writer.verify(digest)
        writer.publish(digest)
    except BaseException:
        writer.discard()
        raise


def read_chunks(stream: BinaryIO, length: int | None) -> Iterator[bytes]:
    """``stream``'s bytes in chunks, stopping after ``length`` bytes when it is given;
    a failing stream, or one that ends before ``length`` bytes, raises ``BodyReadError``."""
    remaining = length
    while remaining is None or remaining > 0:
        try:
            chunk = stream.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
        except Exception as error:  # the server's stream: OSError, werkzeug's ClientDisconnected
            raise BodyReadError(f"the request body could not be read: {error}") from error
        if not chunk:
            if remaining:  # the server's stream stops at Content-Length; earlier, it broke off
                raise BodyReadError(f"the request body ended {remaining} bytes early")
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _algorithm(digest: str) -> str:
    algorithm = algorithm_of(digest)
    if algorithm is None:
        raise DigestMismatch(f"unsupported digest {digest!r}")
    return algorithm


class _HashingWriter:
    """What both writers share: the running sha256, the size and the last-activity time."""

    def __init__(self) -> None:
        self.size = 0
        self.hasher: Any = hashlib.sha256()
        # Looked up on each call (not bound at import), so a frozen clock patches all of it.
        self.touched = time.monotonic()

    def _rehash(self, algorithm: str) -> str:
        raise NotImplementedError

    def _skip_hashing(self, hash_now: bool) -> None:
        """A write that does not hash leaves every later ``verify`` to read the bytes back."""
        if not hash_now:
            self.hasher = None

    def verify(self, digest: str) -> None:
        algorithm = _algorithm(digest)
        if algorithm == "sha256" and self.hasher is not None:
            actual = "sha256:" + self.hasher.hexdigest()
        else:
            actual = f"{algorithm}:{self._rehash(algorithm)}"
        if actual != digest:
            raise DigestMismatch(f"content digest {actual} does not match {digest}")


class MemoryBlobStore:
    """Blobs in a dict: fast and private to one mock context."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def exists(self, digest: str) -> bool:
        return digest in self._blobs

    def size(self, digest: str) -> int | None:
        data = self._blobs.get(digest)
        return None if data is None else len(data)

    def open(self, digest: str) -> BinaryIO | None:
        data = self._blobs.get(digest)
        return None if data is None else io.BytesIO(data)

    def delete(self, digest: str) -> bool:
        return self._blobs.pop(digest, None) is not None

    def new_writer(self, upload_id: str) -> BlobWriter:
        return _MemoryWriter(self._blobs)

    def clear(self) -> None:
        self._blobs.clear()


class _MemoryWriter(_HashingWriter):
    def __init__(self, blobs: dict[str, bytes]) -> None:
        super().__init__()
        self._blobs = blobs
        self._chunks: list[bytes] = []

    def write(self, stream: BinaryIO, length: int | None = None, *, hash_now: bool = True) -> int:
        self._skip_hashing(hash_now)
        for chunk in read_chunks(stream, length):
            if self.hasher is not None:
                self.hasher.update(chunk)
            self._chunks.append(chunk)
            self.size += len(chunk)
            self.touched = time.monotonic()
        return self.size

    def _rehash(self, algorithm: str) -> str:
        hasher = hashlib.new(algorithm)
        for chunk in self._chunks:
            hasher.update(chunk)
        return hasher.hexdigest()

    def publish(self, digest: str) -> None:
        self._blobs.setdefault(digest, b"".join(self._chunks))
        self._chunks = []

    def discard(self) -> None:
        self._chunks = []


class FilesystemBlobStore:
    """Blobs as files under ``root/blobs/<algorithm>/<hex[:2]>/<hex>``; uploads under ``root/uploads``.

    A layer never sits whole in memory: uploads are appended to a file while
    hashing, and published by ``os.replace`` once the digest checks out.
    """

    def __init__(self, root: str | os.PathLike[str], fsync: bool = False) -> None:
        self.root = Path(root)
        self.fsync = fsync  # every write reaches the disk before it is acknowledged
        self._blob_root = self.root / "blobs"
        self._upload_root = self.root / "uploads"
        self._blob_root.mkdir(parents=True, exist_ok=True)
        self._upload_root.mkdir(parents=True, exist_ok=True)

    def keep_only_uploads(self, upload_ids: set[str]) -> None:
        """Delete upload files of uploads the metadata store does not know (a restart)."""
        for leftover in self._upload_root.iterdir():
            if leftover.name not in upload_ids:
                leftover.unlink(missing_ok=True)

    def resume_writer(self, upload_id: str) -> BlobWriter | None:
        """The writer of an upload kept across a restart, at the end of the bytes it
        holds (re-read once for its running hash); None when its file is gone."""
        path = self._upload_root / upload_id
        if "/" in upload_id or not path.is_file():
            return None
        writer = _FileWriter(self, path, resume=True)
        with open(path, "rb") as reread:
            for chunk in read_chunks(reread, None):
                writer.hasher.update(chunk)
                writer.size += len(chunk)
        return writer

    def stored_digests(self) -> Iterator[str]:
        """Every blob on disk (for sweeping and checking a data directory)."""
        for algorithm in sorted(p for p in self._blob_root.iterdir() if p.is_dir()):
            for prefix in sorted(p for p in algorithm.iterdir() if p.is_dir()):
                for blob in sorted(prefix.iterdir()):
                    digest = f"{algorithm.name}:{blob.name}"
                    if is_valid_digest(digest):
                        yield digest

    def path_of(self, digest: str) -> Path:
        """Where the bytes of ``digest`` are (``DigestMismatch`` for an invalid digest)."""
        return self._path(digest)

    def _path(self, digest: str) -> Path:
        """Where ``digest`` lives; ``DigestMismatch`` for anything but a valid digest, so no
        client-chosen name (over-long, upper-case, ``..``) ever reaches the filesystem."""
        if not is_valid_digest(digest):
            raise DigestMismatch(f"invalid digest {digest!r}")
        algorithm, _, hex_part = digest.partition(":")
        return self._blob_root / algorithm / hex_part[:2] / hex_part

    def exists(self, digest: str) -> bool:
        return self.size(digest) is not None

    def size(self, digest: str) -> int | None:
        try:
            return self._path(digest).stat().st_size
        except (FileNotFoundError, DigestMismatch):  # a malformed digest names no blob
            return None

    def open(self, digest: str) -> BinaryIO | None:
        try:
            return open(self._path(digest), "rb")  # the caller streams and closes it
        except (FileNotFoundError, DigestMismatch):
            return None

    def delete(self, digest: str) -> bool:
        try:
            self._path(digest).unlink()
            return True
        except (FileNotFoundError, DigestMismatch):
            return False

    def new_writer(self, upload_id: str) -> BlobWriter:
        if not upload_id or "/" in upload_id or upload_id.startswith("."):
            raise ValueError(f"invalid upload id {upload_id!r}")
        return _FileWriter(self, self._upload_root / upload_id)

    def clear(self) -> None:
        self.keep_only_uploads(set())
        shutil.rmtree(self._blob_root, ignore_errors=True)
        self._blob_root.mkdir(parents=True, exist_ok=True)


class _FileWriter(_HashingWriter):
    def __init__(self, store: FilesystemBlobStore, path: Path, resume: bool = False) -> None:
        super().__init__()
        self._store = store
        self._path = path
        if not resume:
            path.touch(exist_ok=False)

    def write(self, stream: BinaryIO, length: int | None = None, *, hash_now: bool = True) -> int:
        self._skip_hashing(hash_now)
        try:  # never created here: a file that a discard removed must not come back
            with open(self._path, "ab", opener=_existing) as target:
                try:
                    _append_file(self, stream, length, target)
                finally:  # what was received is kept, also when the stream broke off
                    target.flush()
                    if self._store.fsync:
                        os.fsync(target.fileno())
        except FileNotFoundError:
            raise WriterDiscarded(str(self._path.name)) from None
        return self.size

    def _rehash(self, algorithm: str) -> str:
        hasher = hashlib.new(algorithm)
        with open(self._path, "rb") as reread:
            for chunk in read_chunks(reread, None):
                hasher.update(chunk)
        return hasher.hexdigest()

    def publish(self, digest: str) -> None:
        final = self._store._path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self._path, final)
            if self._store.fsync:  # the rename itself reaches the disk
                _fsync_directory(final.parent)
        except OSError:
            self._path.unlink(missing_ok=True)
            raise

    def discard(self) -> None:
        # An append in flight writes on into the unlinked file; its bytes go nowhere.
        self._path.unlink(missing_ok=True)


def _append_file(writer: _FileWriter, stream: BinaryIO, length: int | None, target: Any) -> None:
    """Copy ``stream`` (up to ``length`` bytes, else to EOF) onto ``target``, hashing it
    unless the writer was told not to.

    Bytes are read straight into a few reused buffers (no allocation or copy per
    chunk) and hashed on a helper thread: sha256 releases the GIL, so hashing
    overlaps reading and writing instead of taking turns with them (a 1 GiB
    push through the server: about 1.2 s instead of 1.6 s).  ``writer.size``
    counts every byte written, also when the stream breaks off; ``writer.touched``
    moves with every chunk, so a long upload never looks abandoned.  A failure to
    read the client's stream is a ``BodyReadError``; a failure to write is the
    store's own ``OSError`` (a full disk is the server's problem, not the client's).
    """
    readinto = getattr(stream, "readinto", None)
    if readinto is None or (length is not None and length <= CHUNK_SIZE):
        for chunk in read_chunks(stream, length):
            if writer.hasher is not None:
                writer.hasher.update(chunk)
            target.write(chunk)
            writer.size += len(chunk)
            writer.touched = time.monotonic()
        return
    free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
    for _ in range(_BUFFERS):
        free.put(memoryview(bytearray(CHUNK_SIZE)))
    todo: queue.SimpleQueue[tuple[memoryview, int] | None] = queue.SimpleQueue()
    errors: list[BaseException] = []

    def hash_chunks() -> None:
        while (item := todo.get()) is not None:
            buffer, count = item
            try:
                if writer.hasher is not None:  # else ``verify`` reads the bytes back
                    writer.hasher.update(buffer[:count])
            except BaseException as error:  # raised below, once the reader has stopped
                errors.append(error)
            free.put(buffer)

    hasher = threading.Thread(target=hash_chunks, name="ecr-emulator-hash", daemon=True)
    hasher.start()
    end = writer.size + (length or 0)
    try:
        while (length is None or writer.size < end) and not errors:
            buffer = free.get()
            want = CHUNK_SIZE if length is None else min(CHUNK_SIZE, end - writer.size)
            try:
                count = readinto(buffer[:want])
            except Exception as error:
                raise BodyReadError(f"the request body could not be read: {error}") from error
            if not count:
                if length is not None:  # the body ended before its Content-Length
                    raise BodyReadError(f"the request body ended {end - writer.size} bytes early")
                break
            target.write(buffer[:count])
            todo.put((buffer, count))
            writer.size += count
            writer.touched = time.monotonic()
    finally:
        todo.put(None)
        hasher.join()
    if errors:
        raise errors[0]


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _existing(path: str, flags: int) -> int:
    """``open`` an upload file without creating it (``opener=``)."""
    return os.open(path, flags & ~os.O_CREAT)


def temporary_filesystem_store() -> FilesystemBlobStore:
    """A filesystem store in a fresh temporary directory (tests and benchmarks)."""
    return FilesystemBlobStore(tempfile.mkdtemp(prefix="ecr-emulator-blobs-"))
