"""Both blob stores through their interface (the storage-driver contract the registry relies on)."""

from __future__ import annotations

import hashlib
import io
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ecr_emulator.blobstore import (
    CHUNK_SIZE,
    BlobStore,
    DigestMismatch,
    FilesystemBlobStore,
    MemoryBlobStore,
    UnknownUpload,
    UploadOffsetMismatch,
)


def sha(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


class PatternStream(io.RawIOBase):
    """``size`` bytes of a repeating pattern, made on demand: the source never holds them all."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.block = bytes(range(256)) * 256  # 64 KiB

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), len(self.block), self.remaining)
        buffer[:count] = self.block[:count]
        self.remaining -= count
        return count


def pattern_digest(size: int, algorithm: str = "sha256") -> str:
    hasher = hashlib.new(algorithm)
    stream = PatternStream(size)
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
    return f"{algorithm}:{hasher.hexdigest()}"


@pytest.fixture(params=["memory", "filesystem"])
def store(request, tmp_path) -> BlobStore:
    if request.param == "memory":
        return MemoryBlobStore()
    return FilesystemBlobStore(tmp_path / "store")


def test_streamed_append_in_chunks_then_read_back(store):
    chunks = [b"first chunk|", b"", b"x" * (CHUNK_SIZE + 5), b"|last"]
    data = b"".join(chunks)
    upload_id = store.start_upload()
    assert store.upload_size(upload_id) == 0
    total = 0
    for chunk in chunks:
        total += len(chunk)
        assert store.append(upload_id, io.BytesIO(chunk)) == total
        assert store.upload_size(upload_id) == total
    digest = sha(data)
    assert not store.exists(digest)
    assert store.finish_upload(upload_id, digest) == len(data)
    assert store.exists(digest)
    assert store.size(digest) == len(data)
    reader = store.open(digest)
    try:
        assert reader.read(5) == b"first"
        reader.seek(len(data) - 5)
        assert reader.read() == b"|last"
        reader.seek(0)
        assert reader.read() == data
    finally:
        reader.close()
    with pytest.raises(UnknownUpload):
        store.upload_size(upload_id)  # a finished upload is gone


def test_append_reads_only_the_given_length(store):
    stream = io.BytesIO(b"0123456789")
    upload_id = store.start_upload()
    assert store.append(upload_id, stream, 4) == 4
    assert stream.read() == b"456789"  # the rest is left for whoever reads next
    store.finish_upload(upload_id, sha(b"0123"))
    assert store.open(sha(b"0123")).read() == b"0123"


def test_digest_mismatch_leaves_nothing_visible(store, tmp_path):
    upload_id = store.start_upload()
    store.append(upload_id, io.BytesIO(b"actual bytes"))
    claimed = sha(b"claimed bytes")
    with pytest.raises(DigestMismatch):
        store.finish_upload(upload_id, claimed)
    assert not store.exists(claimed)
    assert not store.exists(sha(b"actual bytes"))
    assert store.open(claimed) is None
    assert store.size(claimed) is None
    if isinstance(store, FilesystemBlobStore):
        assert files_under(store.root / "blobs") == []
    assert store.cancel_upload(upload_id)


def test_unsupported_digest_algorithm_is_refused(store):
    upload_id = store.start_upload()
    store.append(upload_id, io.BytesIO(b"abc"))
    with pytest.raises(DigestMismatch):
        store.finish_upload(upload_id, "md5:900150983cd24fb0d6963f7d28e17f72")


def test_sha512_finish(store):
    data = b"sha512 content " * 100_000  # more than one chunk to rehash
    upload_id = store.start_upload()
    store.append(upload_id, io.BytesIO(data))
    with pytest.raises(DigestMismatch):
        store.finish_upload(upload_id, sha(b"other", "sha512"))
    digest = sha(data, "sha512")
    assert store.finish_upload(upload_id, digest) == len(data)
    assert store.open(digest).read() == data


def test_put_delete_and_clear(store):
    store.put(sha(b"small"), b"small")
    assert store.size(sha(b"small")) == 5
    with pytest.raises(DigestMismatch):
        store.put(sha(b"small"), b"not small")
    assert store.delete(sha(b"small"))
    assert not store.delete(sha(b"small"))
    assert not store.exists(sha(b"small"))
    store.put(sha(b"kept?"), b"kept?")
    pending = store.start_upload()
    store.clear()
    assert not store.exists(sha(b"kept?"))
    with pytest.raises(UnknownUpload):
        store.upload_size(pending)


def test_same_blob_uploaded_twice_is_stored_once(store):
    for _ in range(2):
        upload_id = store.start_upload()
        store.append(upload_id, io.BytesIO(b"duplicate"))
        store.finish_upload(upload_id, sha(b"duplicate"))
    assert store.open(sha(b"duplicate")).read() == b"duplicate"
    if isinstance(store, FilesystemBlobStore):
        assert len(files_under(store.root / "blobs")) == 1


def test_cancel_drops_the_upload(store):
    upload_id = store.start_upload()
    store.append(upload_id, io.BytesIO(b"partial"))
    assert store.cancel_upload(upload_id)
    assert not store.cancel_upload(upload_id)
    with pytest.raises(UnknownUpload):
        store.upload_size(upload_id)
    with pytest.raises(UnknownUpload):
        store.append(upload_id, io.BytesIO(b"more"))
    with pytest.raises(UnknownUpload):
        store.finish_upload(upload_id, sha(b"partial"))
    if isinstance(store, FilesystemBlobStore):
        assert files_under(store.root / "uploads") == []


def test_purge_uploads_removes_abandoned_ones(store):
    abandoned = store.start_upload()
    store.append(abandoned, io.BytesIO(b"left behind"))
    time.sleep(0.05)
    fresh = store.start_upload()
    assert store.purge_uploads(3600) == 0
    assert store.purge_uploads(0.03) == 1
    with pytest.raises(UnknownUpload):
        store.upload_size(abandoned)
    assert store.upload_size(fresh) == 0
    if isinstance(store, FilesystemBlobStore):
        assert [p.name for p in files_under(store.root / "uploads")] == [fresh]


# --- the filesystem store ----------------------------------------------------------------------


def test_filesystem_publishes_atomically(tmp_path):
    store = FilesystemBlobStore(tmp_path)
    data = b"a" * 1000
    upload_id = store.start_upload()
    store.append(upload_id, io.BytesIO(data[:500]))
    store.append(upload_id, io.BytesIO(data[500:]))
    assert files_under(tmp_path / "blobs") == []  # nothing visible while bytes arrive
    assert [p.name for p in files_under(tmp_path / "uploads")] == [upload_id]
    digest = sha(data)
    store.finish_upload(upload_id, digest)
    hex_part = digest.split(":")[1]
    assert files_under(tmp_path / "blobs") == [
        tmp_path / "blobs" / "sha256" / hex_part[:2] / hex_part
    ]
    assert files_under(tmp_path / "uploads") == []


def test_filesystem_survives_a_restart_but_not_its_uploads(tmp_path):
    store = FilesystemBlobStore(tmp_path)
    store.put(sha(b"durable"), b"durable")
    pending = store.start_upload()
    store.append(pending, io.BytesIO(b"in flight"))
    reopened = FilesystemBlobStore(tmp_path)
    assert reopened.open(sha(b"durable")).read() == b"durable"
    with pytest.raises(UnknownUpload):
        reopened.upload_size(pending)
    assert files_under(tmp_path / "uploads") == []


def test_filesystem_rejects_path_tricks(tmp_path):
    store = FilesystemBlobStore(tmp_path / "store")
    (tmp_path / "secret").write_bytes(b"secret")
    # a malformed digest names no blob: nothing outside the store is ever reached
    assert store.open("sha256:../../secret") is None
    assert store.size("sha256:../../secret") is None
    assert not store.exists("sha256:../../secret")
    assert not store.delete("sha256:../../secret")
    assert (tmp_path / "secret").read_bytes() == b"secret"


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_filesystem_never_holds_a_blob_in_memory(tmp_path, algorithm):
    size = 64 * 1024 * 1024
    store = FilesystemBlobStore(tmp_path)
    digest = pattern_digest(size, algorithm)
    tracemalloc.start()
    try:
        upload_id = store.start_upload()
        assert store.append(upload_id, io.BufferedReader(PatternStream(size))) == size
        assert store.finish_upload(upload_id, digest) == size
        with store.open(digest) as reader:
            read = 0
            while chunk := reader.read(CHUNK_SIZE):
                read += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == size
    assert store.size(digest) == size
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while streaming {size}"


def test_large_append_stops_at_the_given_length(store):
    size = 3 * CHUNK_SIZE + 7
    stream = io.BufferedReader(PatternStream(size + 100))
    upload_id = store.start_upload()
    assert store.append(upload_id, stream, size) == size
    assert len(stream.read()) == 100  # the rest is left for whoever reads next
    assert store.finish_upload(upload_id, pattern_digest(size)) == size


class BreakingStream(PatternStream):
    """Serves ``size`` bytes, then fails the way a client that hangs up mid-body does."""

    def readinto(self, buffer) -> int:
        if not self.remaining:
            raise ConnectionResetError("client went away")
        return super().readinto(buffer)


def test_broken_stream_keeps_the_bytes_received_so_far(store):
    size = 2 * CHUNK_SIZE + 5
    upload_id = store.start_upload()
    with pytest.raises(ConnectionResetError):
        store.append(upload_id, BreakingStream(size), None)
    assert store.upload_size(upload_id) == size  # a resumed upload goes on from here
    assert store.append(upload_id, io.BytesIO(b"tail")) == size + 4
    assert store.finish_upload(upload_id, sha(PatternStream(size).read() + b"tail")) == size + 4


# --- uploads under concurrent requests ----------------------------------------------------------


class GatedStream(io.RawIOBase):
    """Serves ``head``, then stalls (like a slow client mid-body) until ``release()``,
    then serves ``tail``."""

    def __init__(self, head: bytes, tail: bytes = b"") -> None:
        self.parts = [head, tail]
        self.reading = threading.Event()  # set once ``head`` is read: the append is in flight
        self.gate = threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.parts[0]:
            self.parts.pop(0)
            if not self.parts:
                return 0
            self.reading.set()
            assert self.gate.wait(10), "never released"
        count = min(len(buffer), len(self.parts[0]))
        buffer[:count] = self.parts[0][:count]
        self.parts[0] = self.parts[0][count:]
        return count

    def release(self) -> None:
        self.gate.set()


def in_flight(pool: ThreadPoolExecutor, store, upload_id: str, stream: GatedStream, **options):
    """Start ``store.append`` of ``stream`` on ``pool``; return once it is reading."""
    future = pool.submit(store.append, upload_id, stream, None, **options)
    assert stream.reading.wait(10)
    return future


def settle() -> None:
    """Give the threads just started time to queue up on the upload's lock."""
    time.sleep(0.2)


def test_append_at_an_expected_offset(store):
    upload_id = store.start_upload()
    assert store.append(upload_id, io.BytesIO(b"0123456789"), expected_offset=0) == 10
    retry = io.BytesIO(b"0123456789")
    with pytest.raises(UploadOffsetMismatch) as raised:
        store.append(upload_id, retry, expected_offset=0)
    assert raised.value.size == 10
    assert retry.tell() == 0  # refused before reading a byte
    assert store.append(upload_id, io.BytesIO(b"abc"), expected_offset=10) == 13
    assert store.finish_upload(upload_id, sha(b"0123456789abc")) == 13


def test_a_retried_chunk_waits_for_the_first_then_is_refused(store):
    upload_id = store.start_upload()
    first = GatedStream(b"01234", b"56789")
    with ThreadPoolExecutor(2) as pool:
        appending = in_flight(pool, store, upload_id, first, expected_offset=0)
        retry = pool.submit(store.append, upload_id, io.BytesIO(b"0123456789"), None, 0)
        settle()
        assert not retry.done()  # a check made before the first chunk lands would pass
        first.release()
        assert appending.result() == 10
        with pytest.raises(UploadOffsetMismatch) as raised:
            retry.result()
    assert raised.value.size == 10
    assert store.finish_upload(upload_id, sha(b"0123456789")) == 10


def test_finish_racing_a_retried_chunk_leaves_no_orphan(store):
    data = b"0123456789"
    upload_id = store.start_upload()
    first = GatedStream(data[:4], data[4:])
    with ThreadPoolExecutor(3) as pool:
        appending = in_flight(pool, store, upload_id, first, expected_offset=0)
        # Both hold the upload already and wait for its lock, in either order.
        retry = pool.submit(store.append, upload_id, io.BytesIO(data), None, 0)
        finishing = pool.submit(store.finish_upload, upload_id, sha(data))
        settle()
        first.release()
        assert appending.result() == len(data)
        assert finishing.result() == len(data)
        with pytest.raises((UploadOffsetMismatch, UnknownUpload)):
            retry.result()
    assert store.open(sha(data)).read() == data
    if isinstance(store, FilesystemBlobStore):
        assert files_under(store.root / "uploads") == []


def test_an_append_waiting_on_a_finish_leaves_no_orphan(store):
    data = b"0123456789"
    for _ in range(3):  # which of the two waiters goes first is up to the scheduler
        upload_id = store.start_upload()
        first = GatedStream(data[:4], data[4:])
        with ThreadPoolExecutor(3) as pool:
            appending = in_flight(pool, store, upload_id, first)
            finishing = pool.submit(store.finish_upload, upload_id, sha(data))
            settle()
            late = pool.submit(store.append, upload_id, io.BytesIO(b"late"))  # no offset
            settle()
            first.release()
            assert appending.result() == len(data)
            if finishing.exception() is None:
                with pytest.raises(UnknownUpload):
                    late.result()  # not appended to a file that finish renamed away
            else:  # the late chunk went first: the blob is not what the finish claimed
                assert late.result() == len(data) + 4
                assert isinstance(finishing.exception(), DigestMismatch)
                assert store.cancel_upload(upload_id)
        if isinstance(store, FilesystemBlobStore):
            assert files_under(store.root / "uploads") == []


def test_cancel_during_an_append_leaves_no_orphan(store):
    upload_id = store.start_upload()
    first = GatedStream(b"01234", b"56789")
    with ThreadPoolExecutor(2) as pool:
        appending = in_flight(pool, store, upload_id, first)
        waiting = pool.submit(store.append, upload_id, io.BytesIO(b"more"))
        settle()
        assert store.cancel_upload(upload_id)  # does not wait for the append in flight
        first.release()
        with pytest.raises(UnknownUpload):
            appending.result()  # its bytes went nowhere: it must not report them
        with pytest.raises(UnknownUpload):
            waiting.result()
    if isinstance(store, FilesystemBlobStore):
        assert files_under(store.root / "uploads") == []


def test_purge_skips_an_upload_still_streaming(store):
    streaming = store.start_upload()
    idle = store.start_upload()
    stream = GatedStream(b"x" * 1000, b"y" * 1000)
    with ThreadPoolExecutor(1) as pool:
        appending = in_flight(pool, store, streaming, stream)
        time.sleep(0.1)
        assert store.purge_uploads(0.05) == 1  # the idle one only
        stream.release()
        assert appending.result() == 2000
    with pytest.raises(UnknownUpload):
        store.upload_size(idle)
    assert store.finish_upload(streaming, sha(b"x" * 1000 + b"y" * 1000)) == 2000
    if isinstance(store, FilesystemBlobStore):
        assert files_under(store.root / "uploads") == []


class SlowBreakingStream(io.RawIOBase):
    """A chunk every ``pause`` seconds, ``count`` times, then a dropped connection."""

    def __init__(self, count: int, pause: float) -> None:
        self.count = count
        self.pause = pause

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.count:
            raise ConnectionResetError("client went away")
        time.sleep(self.pause)
        self.count -= 1
        buffer[:10] = b"0123456789"
        return 10


def test_every_chunk_counts_as_activity(store):
    upload_id = store.start_upload()
    with pytest.raises(ConnectionResetError):
        store.append(upload_id, SlowBreakingStream(3, 0.2))
    # Started 0.6 s ago, last chunk just now: not abandoned, and resumable.
    assert store.purge_uploads(0.4) == 0
    assert store.append(upload_id, io.BytesIO(b"!"), expected_offset=30) == 31
