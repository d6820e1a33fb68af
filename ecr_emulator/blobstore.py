"""Content-addressed blob storage behind both the registry plane and the layer API.

One interface (``BlobStore``), two backends: ``MemoryBlobStore`` (the
in-process default) and ``FilesystemBlobStore`` (``--data-dir``).  Uploads
stream: bytes are hashed as they arrive, a blob becomes visible only after
its digest is verified, and on disk that is an atomic rename, so a reader
never sees half a layer.  Blobs are shared by every repository; which
repository may see which blob is tracked by the state model, not here.
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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

CHUNK_SIZE = 1024 * 1024
_BUFFERS = 4  # chunks in flight while a file upload is hashed on a helper thread


class DigestMismatch(ValueError):
    """The uploaded bytes do not hash to the digest the client claimed."""


class UnknownUpload(KeyError):
    """No upload session with that id (finished, cancelled, purged or never started)."""


class UploadOffsetMismatch(ValueError):
    """A chunk that does not start where the upload ends: out of order, or a retry of
    a chunk that has landed meanwhile.  ``size`` is where the upload does end."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the upload holds {size} bytes")
        self.size = size


class BlobStore(Protocol):
    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int | None:
        """Size in bytes, or None when the blob is not stored."""
        ...

    def open(self, digest: str) -> BinaryIO | None:
        """A seekable reader of the blob, or None when it is not stored."""
        ...

    def put(self, digest: str, data: bytes) -> None:
        """Store small ``data`` in one step (verified like an upload)."""
        ...

    def delete(self, digest: str) -> bool: ...

    def start_upload(self) -> str: ...

    def upload_size(self, upload_id: str) -> int:
        """Bytes received so far (``UnknownUpload`` if there is no such upload)."""
        ...

    def append(
        self,
        upload_id: str,
        stream: BinaryIO,
        length: int | None = None,
        expected_offset: int | None = None,
    ) -> int:
        """Read ``stream`` (up to ``length`` bytes, else to EOF) onto the upload; the new size.

        With ``expected_offset`` the chunk is taken only if the upload holds exactly that
        many bytes once it is this append's turn (else ``UploadOffsetMismatch``, nothing
        read): a check made before waiting for the turn would let a retried chunk in twice.
        """
        ...

    def finish_upload(self, upload_id: str, digest: str) -> int:
        """Verify and publish the upload as ``digest``; its size.  Raises ``DigestMismatch``."""
        ...

    def cancel_upload(self, upload_id: str) -> bool: ...

    def purge_uploads(self, older_than: float) -> int:
        """Drop uploads untouched for ``older_than`` seconds (abandoned pushes), never
        one that is receiving bytes right now."""
        ...

    def clear(self) -> None: ...


def read_chunks(stream: BinaryIO, length: int | None) -> Iterator[bytes]:
    """``stream``'s bytes in chunks, stopping after ``length`` bytes when it is given."""
    remaining = length
    while remaining is None or remaining > 0:
        chunk = stream.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _append_file(upload: _Upload, stream: BinaryIO, length: int | None, target: BinaryIO) -> None:
    """Copy ``stream`` (up to ``length`` bytes, else to EOF) onto ``target``, hashing it.

    Bytes are read straight into a few reused buffers (no allocation or copy per
    chunk) and hashed on a helper thread: sha256 releases the GIL, so hashing
    overlaps reading and writing instead of taking turns with them (a 1 GiB
    push through the server: about 1.2 s instead of 1.6 s).  ``upload.size``
    counts every byte written, also when the stream breaks off; ``upload.touched``
    moves with every chunk, so a long upload never looks abandoned.
    """
    readinto = getattr(stream, "readinto", None)
    if readinto is None or (length is not None and length <= CHUNK_SIZE):
        for chunk in read_chunks(stream, length):
            upload.hasher.update(chunk)
            target.write(chunk)
            upload.size += len(chunk)
            upload.touched = time.monotonic()
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
                upload.hasher.update(buffer[:count])
            except BaseException as error:  # raised below, once the reader has stopped
                errors.append(error)
            free.put(buffer)

    hasher = threading.Thread(target=hash_chunks, name="ecr-emulator-hash", daemon=True)
    hasher.start()
    end = upload.size + (length or 0)
    try:
        while (length is None or upload.size < end) and not errors:
            buffer = free.get()
            want = CHUNK_SIZE if length is None else min(CHUNK_SIZE, end - upload.size)
            count = readinto(buffer[:want])
            if not count:
                break
            target.write(buffer[:count])
            todo.put((buffer, count))
            upload.size += count
            upload.touched = time.monotonic()
    finally:
        todo.put(None)
        hasher.join()
    if errors:
        raise errors[0]


def _algorithm(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    if algorithm not in ("sha256", "sha512") or not hex_part:
        raise DigestMismatch(f"unsupported digest {digest!r}")
    return algorithm


@dataclass(eq=False)
class _Upload:
    """One upload in progress: bytes so far and the running sha256 of them.

    ``lock`` is held by whoever moves its bytes (append, finish, purge); the
    upload's entry in the ``_UploadTable`` owns its data, so whoever pops the
    entry (finish, cancel, purge) is the one to publish or drop the data.
    """

    size: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    # Looked up on each call, like ``stale``: a frozen clock (freezegun) must patch both or neither.
    touched: float = field(default_factory=lambda: time.monotonic())
    chunks: list[bytes] = field(default_factory=list)  # memory store only
    lock: threading.Lock = field(default_factory=threading.Lock)


class _UploadTable:
    """Upload bookkeeping shared by both stores."""

    def __init__(self) -> None:
        self._uploads: dict[str, _Upload] = {}
        self._lock = threading.Lock()

    def start(self) -> str:
        upload_id = str(uuid.uuid4())
        with self._lock:
            self._uploads[upload_id] = _Upload()
        return upload_id

    def get(self, upload_id: str) -> _Upload:
        upload = self._uploads.get(upload_id)
        if upload is None:
            raise UnknownUpload(upload_id)
        return upload

    def pop(self, upload_id: str) -> _Upload | None:
        with self._lock:
            return self._uploads.pop(upload_id, None)

    def check(self, upload_id: str, upload: _Upload, expected_offset: int | None = None) -> None:
        """With ``upload.lock`` held: is the upload still here (not finished, cancelled or
        purged while the caller waited for the lock), and at ``expected_offset``?"""
        if upload_id not in self._uploads:
            raise UnknownUpload(upload_id)
        if expected_offset is not None and upload.size != expected_offset:
            raise UploadOffsetMismatch(upload.size)

    def purge(self, older_than: float) -> list[str]:
        """Pop the uploads untouched for ``older_than`` seconds; their ids.

        An upload whose lock is taken is being appended to (or published) right
        now, however long ago its last chunk came: skipped, not cut off.
        """
        cutoff = time.monotonic() - older_than
        purged = []
        for upload_id, upload in list(self._uploads.items()):
            if upload.touched >= cutoff or not upload.lock.acquire(blocking=False):
                continue
            try:
                if upload.touched < cutoff and self.pop(upload_id) is not None:
                    purged.append(upload_id)
            finally:
                upload.lock.release()
        return purged

    def clear(self) -> list[str]:
        with self._lock:
            ids = list(self._uploads)
            self._uploads.clear()
        return ids


def _verified_digest(upload: _Upload, digest: str, reread: BinaryIO | None) -> None:
    """Check ``digest`` against the running sha256, or rehash for another algorithm."""
    algorithm = _algorithm(digest)
    if algorithm == "sha256":
        actual = "sha256:" + upload.hasher.hexdigest()
    else:
        hasher = hashlib.new(algorithm)
        if reread is None:
            for chunk in upload.chunks:
                hasher.update(chunk)
        else:
            for chunk in read_chunks(reread, None):
                hasher.update(chunk)
        actual = f"{algorithm}:{hasher.hexdigest()}"
    if actual != digest:
        raise DigestMismatch(f"content digest {actual} does not match {digest}")


class _UploadingStore:
    """What both stores do the same way: upload bookkeeping, offsets, one-step ``put``.

    A store adds where bytes go (``_write``) and how a verified upload is published.
    """

    def __init__(self) -> None:
        self._uploads = _UploadTable()

    def upload_size(self, upload_id: str) -> int:
        return self._uploads.get(upload_id).size

    def append(
        self,
        upload_id: str,
        stream: BinaryIO,
        length: int | None = None,
        expected_offset: int | None = None,
    ) -> int:
        upload = self._uploads.get(upload_id)
        with upload.lock:
            self._uploads.check(upload_id, upload, expected_offset)
            upload.touched = time.monotonic()
            self._write(upload_id, upload, stream, length)
            self._uploads.check(upload_id, upload)  # cancelled meanwhile: the bytes went nowhere
            return upload.size

    def _write(self, upload_id: str, upload: _Upload, stream: BinaryIO, length: int | None) -> None:
        raise NotImplementedError

    def start_upload(self) -> str:
        raise NotImplementedError

    def finish_upload(self, upload_id: str, digest: str) -> int:
        raise NotImplementedError

    def put(self, digest: str, data: bytes) -> None:
        upload_id = self.start_upload()
        self.append(upload_id, io.BytesIO(data))
        self.finish_upload(upload_id, digest)


class MemoryBlobStore(_UploadingStore):
    """Blobs in a dict: fast and private to one mock context."""

    def __init__(self) -> None:
        super().__init__()
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

    def start_upload(self) -> str:
        return self._uploads.start()

    def _write(self, upload_id: str, upload: _Upload, stream: BinaryIO, length: int | None) -> None:
        for chunk in read_chunks(stream, length):
            upload.hasher.update(chunk)
            upload.chunks.append(chunk)
            upload.size += len(chunk)
            upload.touched = time.monotonic()

    def finish_upload(self, upload_id: str, digest: str) -> int:
        upload = self._uploads.get(upload_id)
        with upload.lock:
            self._uploads.check(upload_id, upload)
            _verified_digest(upload, digest, None)
            if self._uploads.pop(upload_id) is None:  # cancelled meanwhile
                raise UnknownUpload(upload_id)
            self._blobs.setdefault(digest, b"".join(upload.chunks))
            return upload.size

    def cancel_upload(self, upload_id: str) -> bool:
        return self._uploads.pop(upload_id) is not None

    def purge_uploads(self, older_than: float) -> int:
        return len(self._uploads.purge(older_than))

    def clear(self) -> None:
        self._blobs.clear()
        self._uploads.clear()


class FilesystemBlobStore(_UploadingStore):
    """Blobs as files under ``root/blobs/<algorithm>/<hex[:2]>/<hex>``; uploads under ``root/uploads``.

    A layer never sits whole in memory: uploads are appended to a file while
    hashing, and published by ``os.replace`` once the digest checks out.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__()
        self.root = Path(root)
        self._blob_root = self.root / "blobs"
        self._upload_root = self.root / "uploads"
        self._blob_root.mkdir(parents=True, exist_ok=True)
        self._upload_root.mkdir(parents=True, exist_ok=True)
        for leftover in self._upload_root.iterdir():  # uploads cannot survive a restart
            leftover.unlink(missing_ok=True)

    def _path(self, digest: str) -> Path:
        algorithm, _, hex_part = digest.partition(":")
        if not hex_part or not hex_part.isalnum() or not algorithm.isalnum():
            raise DigestMismatch(f"invalid digest {digest!r}")
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

    def _upload_path(self, upload_id: str) -> Path:
        return self._upload_root / upload_id

    def start_upload(self) -> str:
        upload_id = self._uploads.start()
        self._upload_path(upload_id).touch()
        return upload_id

    def _reopen(self, upload_id: str) -> BinaryIO:
        """The upload's file, for appending.  Never created here: a file that a cancel
        removed (or a finish renamed) must not come back as an orphan."""
        try:
            return open(self._upload_path(upload_id), "ab", opener=_existing)
        except FileNotFoundError:
            raise UnknownUpload(upload_id) from None

    def _write(self, upload_id: str, upload: _Upload, stream: BinaryIO, length: int | None) -> None:
        with self._reopen(upload_id) as target:
            _append_file(upload, stream, length, target)

    def finish_upload(self, upload_id: str, digest: str) -> int:
        upload = self._uploads.get(upload_id)
        path = self._upload_path(upload_id)
        with upload.lock:
            self._uploads.check(upload_id, upload)
            try:
                with open(path, "rb") as reread:
                    _verified_digest(upload, digest, reread)
            except FileNotFoundError:  # cancelled meanwhile
                raise UnknownUpload(upload_id) from None
            final = self._path(digest)
            final.parent.mkdir(parents=True, exist_ok=True)
            if self._uploads.pop(upload_id) is None:  # cancelled meanwhile: its file is gone
                raise UnknownUpload(upload_id)
            try:
                os.replace(path, final)
            except OSError:
                path.unlink(missing_ok=True)  # popped above: nobody else would remove it
                raise
            return upload.size

    def cancel_upload(self, upload_id: str) -> bool:
        # No need to wait for an append in flight: it writes to the unlinked file,
        # then finds the upload gone.
        if self._uploads.pop(upload_id) is None:
            return False
        self._upload_path(upload_id).unlink(missing_ok=True)
        return True

    def purge_uploads(self, older_than: float) -> int:
        purged = self._uploads.purge(older_than)
        for upload_id in purged:
            self._upload_path(upload_id).unlink(missing_ok=True)
        return len(purged)

    def clear(self) -> None:
        for upload_id in self._uploads.clear():
            self._upload_path(upload_id).unlink(missing_ok=True)
        shutil.rmtree(self._blob_root, ignore_errors=True)
        self._blob_root.mkdir(parents=True, exist_ok=True)


def _existing(path: str, flags: int) -> int:
    """``open`` an upload file without creating it (``opener=``)."""
    return os.open(path, flags & ~os.O_CREAT)


def temporary_filesystem_store() -> FilesystemBlobStore:
    """A filesystem store in a fresh temporary directory (tests and benchmarks)."""
    return FilesystemBlobStore(tempfile.mkdtemp(prefix="ecr-emulator-blobs-"))
