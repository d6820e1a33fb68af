"""Both blob stores through their driver interface: ``BlobStore`` and its ``BlobWriter``s.

Which uploads exist, who may write to them and when they are published is the
core's business (``tests/test_uploads.py``); here only the storage contract.
"""

from __future__ import annotations

import hashlib
import io
import time
import tracemalloc
from pathlib import Path

import pytest

from ecr_emulator.blobstore import (
    CHUNK_SIZE,
    BlobStore,
    BodyReadError,
    DigestMismatch,
    FilesystemBlobStore,
    MemoryBlobStore,
    WriterDiscarded,
    put_blob,
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


def publish(store: BlobStore, upload_id: str, *chunks: bytes) -> str:
    writer = store.new_writer(upload_id)
    for chunk in chunks:
        writer.write(io.BytesIO(chunk))
    digest = sha(b"".join(chunks))
    writer.verify(digest)
    writer.publish(digest)
    return digest


def test_streamed_writes_in_chunks_then_read_back(store):
    chunks = [b"first chunk|", b"", b"x" * (CHUNK_SIZE + 5), b"|last"]
    data = b"".join(chunks)
    writer = store.new_writer("u1")
    assert writer.size == 0
    total = 0
    for chunk in chunks:
        total += len(chunk)
        assert writer.write(io.BytesIO(chunk)) == total
        assert writer.size == total
    digest = sha(data)
    assert not store.exists(digest)
    writer.verify(digest)
    assert not store.exists(digest)  # verified is not yet visible
    writer.publish(digest)
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


def test_write_reads_only_the_given_length(store):
    stream = io.BytesIO(b"0123456789")
    writer = store.new_writer("u1")
    assert writer.write(stream, 4) == 4
    assert stream.read() == b"456789"  # the rest is left for whoever reads next
    writer.verify(sha(b"0123"))
    writer.publish(sha(b"0123"))
    assert store.open(sha(b"0123")).read() == b"0123"


def test_digest_mismatch_leaves_nothing_visible(store):
    writer = store.new_writer("u1")
    writer.write(io.BytesIO(b"actual bytes"))
    claimed = sha(b"claimed bytes")
    with pytest.raises(DigestMismatch):
        writer.verify(claimed)
    assert not store.exists(claimed)
    assert not store.exists(sha(b"actual bytes"))
    assert store.open(claimed) is None
    assert store.size(claimed) is None
    writer.discard()
    if isinstance(store, FilesystemBlobStore):
        assert files_under(store.root) == []


def test_unsupported_digest_algorithm_is_refused(store):
    writer = store.new_writer("u1")
    writer.write(io.BytesIO(b"abc"))
    with pytest.raises(DigestMismatch):
        writer.verify("md5:900150983cd24fb0d6963f7d28e17f72")


def test_sha512_verify(store):
    data = b"sha512 content " * 100_000  # more than one chunk to rehash
    writer = store.new_writer("u1")
    writer.write(io.BytesIO(data))
    with pytest.raises(DigestMismatch):
        writer.verify(sha(b"other", "sha512"))
    digest = sha(data, "sha512")
    writer.verify(digest)
    writer.publish(digest)
    assert store.open(digest).read() == data


def test_put_delete_and_clear(store):
    put_blob(store, sha(b"small"), b"small")
    assert store.size(sha(b"small")) == 5
    with pytest.raises(DigestMismatch):
        put_blob(store, sha(b"small"), b"not small")
    assert store.delete(sha(b"small"))
    assert not store.delete(sha(b"small"))
    assert not store.exists(sha(b"small"))
    put_blob(store, sha(b"kept?"), b"kept?")
    store.new_writer("pending").write(io.BytesIO(b"in flight"))
    store.clear()
    assert not store.exists(sha(b"kept?"))
    if isinstance(store, FilesystemBlobStore):
        assert files_under(store.root) == []


def test_same_blob_published_twice_is_stored_once(store):
    for number in range(2):
        publish(store, f"u{number}", b"duplicate")
    assert store.open(sha(b"duplicate")).read() == b"duplicate"
    if isinstance(store, FilesystemBlobStore):
        assert len(files_under(store.root / "blobs")) == 1


def test_discard_drops_the_bytes(store):
    writer = store.new_writer("u1")
    writer.write(io.BytesIO(b"partial"))
    writer.discard()
    writer.discard()  # twice is harmless
    if isinstance(store, FilesystemBlobStore):
        assert files_under(store.root) == []
        with pytest.raises(WriterDiscarded):  # never recreated: no orphan file
            writer.write(io.BytesIO(b"more"))
        assert files_under(store.root) == []


def test_a_write_in_flight_when_discarded_leaves_no_file(tmp_path):
    store = FilesystemBlobStore(tmp_path)
    writer = store.new_writer("u1")

    class DiscardMidway(io.RawIOBase):
        sent = False

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            if self.sent:
                return 0
            writer.discard()  # the upload is cancelled while its bytes arrive
            self.sent = True
            buffer[:3] = b"abc"
            return 3

    writer.write(DiscardMidway())
    assert files_under(tmp_path) == []


# --- the filesystem store ----------------------------------------------------------------------


def test_filesystem_publishes_atomically(tmp_path):
    store = FilesystemBlobStore(tmp_path)
    data = b"a" * 1000
    writer = store.new_writer("u1")
    writer.write(io.BytesIO(data[:500]))
    writer.write(io.BytesIO(data[500:]))
    assert files_under(tmp_path / "blobs") == []  # nothing visible while bytes arrive
    assert [p.name for p in files_under(tmp_path / "uploads")] == ["u1"]
    digest = sha(data)
    writer.verify(digest)
    writer.publish(digest)
    hex_part = digest.split(":")[1]
    assert files_under(tmp_path / "blobs") == [
        tmp_path / "blobs" / "sha256" / hex_part[:2] / hex_part
    ]
    assert files_under(tmp_path / "uploads") == []


def test_filesystem_survives_a_restart_and_resumes_uploads(tmp_path):
    store = FilesystemBlobStore(tmp_path)
    put_blob(store, sha(b"durable"), b"durable")
    store.new_writer("pending").write(io.BytesIO(b"in "))
    store.new_writer("forgotten").write(io.BytesIO(b"lost"))
    reopened = FilesystemBlobStore(tmp_path)
    assert reopened.open(sha(b"durable")).read() == b"durable"
    assert list(reopened.stored_digests()) == [sha(b"durable")]
    reopened.keep_only_uploads({"pending"})  # what the metadata store still knows
    assert [path.name for path in files_under(tmp_path / "uploads")] == ["pending"]
    writer = reopened.resume_writer("pending")
    assert writer.size == 3
    writer.write(io.BytesIO(b"flight"))
    writer.verify(sha(b"in flight"))
    writer.publish(sha(b"in flight"))
    assert reopened.open(sha(b"in flight")).read() == b"in flight"
    assert reopened.resume_writer("forgotten") is None


def test_filesystem_rejects_path_tricks(tmp_path):
    store = FilesystemBlobStore(tmp_path / "store")
    (tmp_path / "secret").write_bytes(b"secret")
    # a malformed digest names no blob: nothing outside the store is ever reached
    assert store.open("sha256:../../secret") is None
    assert store.size("sha256:../../secret") is None
    assert not store.exists("sha256:../../secret")
    assert not store.delete("sha256:../../secret")
    assert (tmp_path / "secret").read_bytes() == b"secret"
    for upload_id in ("", "../escape", ".hidden"):
        with pytest.raises(ValueError):
            store.new_writer(upload_id)


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_filesystem_never_holds_a_blob_in_memory(tmp_path, algorithm):
    size = 64 * 1024 * 1024
    store = FilesystemBlobStore(tmp_path)
    digest = pattern_digest(size, algorithm)
    tracemalloc.start()
    try:
        writer = store.new_writer("big")
        assert writer.write(io.BufferedReader(PatternStream(size))) == size
        writer.verify(digest)
        writer.publish(digest)
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


def test_large_write_stops_at_the_given_length(store):
    size = 3 * CHUNK_SIZE + 7
    stream = io.BufferedReader(PatternStream(size + 100))
    writer = store.new_writer("u1")
    assert writer.write(stream, size) == size
    assert len(stream.read()) == 100  # the rest is left for whoever reads next
    writer.verify(pattern_digest(size))


class BreakingStream(PatternStream):
    """Serves ``size`` bytes, then fails the way a client that hangs up mid-body does."""

    def readinto(self, buffer) -> int:
        if not self.remaining:
            raise ConnectionResetError("client went away")
        return super().readinto(buffer)


def test_broken_stream_is_the_clients_error_and_keeps_the_bytes_so_far(store):
    size = 2 * CHUNK_SIZE + 5
    writer = store.new_writer("u1")
    with pytest.raises(BodyReadError):
        writer.write(BreakingStream(size), None)
    assert writer.size == size  # a resumed upload goes on from here
    assert writer.write(io.BytesIO(b"tail")) == size + 4
    writer.verify(sha(PatternStream(size).read() + b"tail"))


def test_a_failing_disk_is_not_the_clients_error(tmp_path):
    store = FilesystemBlobStore(tmp_path)
    writer = store.new_writer("u1")
    path = tmp_path / "uploads" / "u1"
    path.unlink()
    path.symlink_to("/dev/full")  # every write: ENOSPC, as on a full disk
    for body in (b"x" * 10, b"x" * (3 * CHUNK_SIZE)):  # the small and the threaded path
        with pytest.raises(OSError) as raised:
            writer.write(io.BufferedReader(io.BytesIO(body)))
        assert not isinstance(raised.value, BodyReadError)
        assert raised.value.errno == 28


class SlowStream(io.RawIOBase):
    """A chunk every ``pause`` seconds, ``count`` times."""

    def __init__(self, count: int, pause: float) -> None:
        self.count = count
        self.pause = pause

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.count:
            return 0
        time.sleep(self.pause)
        self.count -= 1
        buffer[:10] = b"0123456789"
        return 10


def test_every_chunk_counts_as_activity(store):
    writer = store.new_writer("u1")
    before = time.monotonic()
    writer.write(SlowStream(3, 0.2))
    assert writer.touched - before >= 0.55  # the last chunk, not the first
