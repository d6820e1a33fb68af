"""Content-addressed blob storage behind both the registry plane and the layer API.

One interface (``BlobStore``), two backends: memory (the in-process default)
and filesystem (``--data-dir``).  Blobs are shared by every repository of the
emulator; a repository references blobs through its images.
"""

from __future__ import annotations

import threading
from typing import Protocol


class BlobStore(Protocol):
    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int | None:
        """Size in bytes, or None when the blob is not stored."""
        ...

    def put(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest`` (the caller has verified the digest)."""
        ...

    def get(self, digest: str) -> bytes | None: ...

    def delete(self, digest: str) -> bool: ...

    def clear(self) -> None: ...


class MemoryBlobStore:
    """Blobs in a dict: fast and private to one mock context."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def exists(self, digest: str) -> bool:
        return digest in self._blobs

    def size(self, digest: str) -> int | None:
        data = self._blobs.get(digest)
        return None if data is None else len(data)

    def put(self, digest: str, data: bytes) -> None:
        with self._lock:
            self._blobs[digest] = bytes(data)

    def get(self, digest: str) -> bytes | None:
        return self._blobs.get(digest)

    def delete(self, digest: str) -> bool:
        with self._lock:
            return self._blobs.pop(digest, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._blobs.clear()
