"""The core's one upload table under concurrent and failing requests, on both stores.

These drive ``core.uploads`` directly (the functions both planes call), with
real stores and real threads, where an HTTP client could not time the race.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ecr_emulator.blobstore import DigestMismatch, FilesystemBlobStore
from ecr_emulator.core import Caller, repositories, uploads
from ecr_emulator.errors import ServiceError
from ecr_emulator.state import Backend, UploadSession

ACCOUNT = "123456789012"
REPO = "team/app"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["memory", "filesystem"])
def backend(request, tmp_path) -> Backend:
    if request.param == "memory":
        return Backend()
    return Backend(blobs=FilesystemBlobStore(tmp_path / "store"))


@pytest.fixture
def caller(backend) -> Caller:
    caller = Caller(backend, ACCOUNT, "us-east-1")
    repositories.create(caller, None, REPO)
    return caller


def start(caller: Caller) -> UploadSession:
    return uploads.start(caller, None, REPO)


def upload_files(backend: Backend) -> list[Path]:
    if isinstance(backend.blobs, FilesystemBlobStore):
        return sorted((backend.blobs.root / "uploads").iterdir())
    return []


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


def in_flight(
    pool: ThreadPoolExecutor, caller: Caller, upload: UploadSession, stream: GatedStream, **options
):
    """Start an append of ``stream`` on ``pool``; return once it is reading."""
    future = pool.submit(uploads.append, caller, upload, stream, None, **options)
    assert stream.reading.wait(10)
    return future


def settle() -> None:
    """Give the threads just started time to queue up on the upload's lock."""
    time.sleep(0.2)


def test_the_table_row_knows_account_region_and_repository(caller, backend):
    upload = start(caller)
    assert backend.uploads == {upload.upload_id: upload}
    assert (upload.account_id, upload.region, upload.repository_name) == (
        ACCOUNT,
        "us-east-1",
        REPO,
    )
    repositories.create(caller, None, "other")
    with pytest.raises(uploads.UnknownUpload):  # another repository's upload is not there
        uploads.session(caller, None, "other", upload.upload_id)
    elsewhere = Caller(backend, ACCOUNT, "eu-west-1")
    repositories.create(elsewhere, None, REPO)
    with pytest.raises(uploads.UnknownUpload):  # nor another region's
        uploads.session(elsewhere, None, REPO, upload.upload_id)
    assert uploads.session(caller, None, REPO, upload.upload_id) is upload


def test_append_at_an_expected_offset(caller):
    upload = start(caller)
    assert uploads.append(caller, upload, io.BytesIO(b"0123456789"), expected_offset=0) == 10
    retry = io.BytesIO(b"0123456789")
    with pytest.raises(uploads.UploadOffsetMismatch) as raised:
        uploads.append(caller, upload, retry, expected_offset=0)
    assert raised.value.size == 10
    assert retry.tell() == 0  # refused before reading a byte
    assert uploads.append(caller, upload, io.BytesIO(b"abc"), expected_offset=10) == 13
    assert uploads.finish(caller, upload, [sha(b"0123456789abc")]) == 13


def test_finish_checks_every_digest_and_publishes_the_first(caller, backend):
    upload = start(caller)
    uploads.append(caller, upload, io.BytesIO(b"content"))
    sha512 = "sha512:" + hashlib.sha512(b"content").hexdigest()
    assert uploads.finish(caller, upload, [sha(b"content"), sha512]) == 7
    assert backend.blobs.exists(sha(b"content"))
    upload = start(caller)
    uploads.append(caller, upload, io.BytesIO(b"content"))
    with pytest.raises(DigestMismatch):  # the second digest names other bytes
        uploads.finish(caller, upload, [sha(b"content"), sha(b"other")])
    assert upload.upload_id not in backend.uploads  # a mismatch cancels the upload


def test_a_retried_chunk_waits_for_the_first_then_is_refused(caller):
    upload = start(caller)
    first = GatedStream(b"01234", b"56789")
    with ThreadPoolExecutor(2) as pool:
        appending = in_flight(pool, caller, upload, first, expected_offset=0)
        retry = pool.submit(uploads.append, caller, upload, io.BytesIO(b"0123456789"), None, 0)
        settle()
        assert not retry.done()  # a check made before the first chunk lands would pass
        first.release()
        assert appending.result() == 10
        with pytest.raises(uploads.UploadOffsetMismatch) as raised:
            retry.result()
    assert raised.value.size == 10
    assert uploads.finish(caller, upload, [sha(b"0123456789")]) == 10


def test_finish_racing_a_retried_chunk_leaves_no_orphan(caller, backend):
    data = b"0123456789"
    upload = start(caller)
    first = GatedStream(data[:4], data[4:])
    with ThreadPoolExecutor(3) as pool:
        appending = in_flight(pool, caller, upload, first, expected_offset=0)
        # Both hold the upload already and wait for its lock, in either order.
        retry = pool.submit(uploads.append, caller, upload, io.BytesIO(data), None, 0)
        finishing = pool.submit(uploads.finish, caller, upload, [sha(data)])
        settle()
        first.release()
        assert appending.result() == len(data)
        assert finishing.result() == len(data)
        with pytest.raises((uploads.UploadOffsetMismatch, uploads.UnknownUpload)):
            retry.result()
    assert backend.blobs.open(sha(data)).read() == data
    assert upload_files(backend) == []


def test_an_append_waiting_on_a_finish_leaves_no_orphan(caller, backend):
    data = b"0123456789"
    for _ in range(3):  # which of the two waiters goes first is up to the scheduler
        upload = start(caller)
        first = GatedStream(data[:4], data[4:])
        with ThreadPoolExecutor(3) as pool:
            appending = in_flight(pool, caller, upload, first)
            finishing = pool.submit(uploads.finish, caller, upload, [sha(data)])
            settle()
            late = pool.submit(uploads.append, caller, upload, io.BytesIO(b"late"))  # no offset
            settle()
            first.release()
            assert appending.result() == len(data)
            if finishing.exception() is None:
                with pytest.raises(uploads.UnknownUpload):
                    late.result()  # not appended to a file that finish renamed away
            else:  # the late chunk went first: the blob is not what the finish claimed
                assert late.result() == len(data) + 4
                assert isinstance(finishing.exception(), DigestMismatch)
        assert upload_files(backend) == []


def test_cancel_during_an_append_leaves_no_orphan(caller, backend):
    upload = start(caller)
    first = GatedStream(b"01234", b"56789")
    with ThreadPoolExecutor(2) as pool:
        appending = in_flight(pool, caller, upload, first)
        waiting = pool.submit(uploads.append, caller, upload, io.BytesIO(b"more"))
        settle()
        assert uploads.cancel(caller, upload)  # does not wait for the append in flight
        assert not uploads.cancel(caller, upload)
        first.release()
        with pytest.raises(uploads.UnknownUpload):
            appending.result()  # its bytes went nowhere: it must not report them
        with pytest.raises(uploads.UnknownUpload):
            waiting.result()
    assert upload_files(backend) == []


def test_a_cancel_racing_initiates_never_fails(caller, backend):
    """Initiate and cancel in a tight race on two threads: every call answers cleanly."""
    started: list[UploadSession] = []
    stop = threading.Event()

    def initiate() -> None:
        for _ in range(200):
            started.append(start(caller))
        stop.set()

    def cancel_all() -> None:
        while not stop.is_set() or started:
            if started:
                uploads.cancel(caller, started.pop())

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(initiate), pool.submit(cancel_all)]
        for future in futures:
            future.result(timeout=30)
    assert backend.uploads == {}
    assert upload_files(backend) == []


def test_purge_skips_an_upload_still_streaming(caller, backend):
    streaming = start(caller)
    idle = start(caller)
    stream = GatedStream(b"x" * 1000, b"y" * 1000)
    with ThreadPoolExecutor(1) as pool:
        appending = in_flight(pool, caller, streaming, stream)
        time.sleep(0.1)
        assert uploads.purge_abandoned(backend, 0.05) == 1  # the idle one only
        stream.release()
        assert appending.result() == 2000
    with pytest.raises(uploads.UnknownUpload):
        uploads.size(idle)
    assert uploads.finish(caller, streaming, [sha(b"x" * 1000 + b"y" * 1000)]) == 2000
    assert upload_files(backend) == []


def test_deleting_the_repository_closes_its_uploads(caller, backend):
    upload = start(caller)
    uploads.append(caller, upload, io.BytesIO(b"partial"))
    repositories.delete(caller, None, REPO)
    assert backend.uploads == {}
    with pytest.raises(uploads.UnknownUpload):
        uploads.append(caller, upload, io.BytesIO(b"more"))
    assert upload_files(backend) == []


def test_uploads_in_progress_are_bounded_per_registry(caller, backend, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOADS_PER_REGISTRY", 3)
    for _ in range(3):
        start(caller)
    with pytest.raises(ServiceError) as raised:
        start(caller)
    assert raised.value.code == "LimitExceededException"
    other = Caller(backend, "111111111111", "us-east-1")
    repositories.create(other, None, REPO)
    uploads.start(other, None, REPO)  # another account is not held back by this one


def test_a_sha512_finish_racing_a_cancel_answers_cleanly(caller, backend):
    """The sha512 check re-reads the upload; a cancel meanwhile makes it UnknownUpload."""
    for _ in range(20):
        upload = start(caller)
        data = b"x" * (4 * 1024 * 1024)
        uploads.append(caller, upload, io.BytesIO(data))
        digest = "sha512:" + hashlib.sha512(data).hexdigest()
        with ThreadPoolExecutor(2) as pool:
            finishing = pool.submit(uploads.finish, caller, upload, [digest])
            pool.submit(uploads.cancel, caller, upload).result()
            with contextlib.suppress(uploads.UnknownUpload):  # the cancel came first
                assert finishing.result() == len(data)
    assert backend.uploads == {}
    assert upload_files(backend) == []
