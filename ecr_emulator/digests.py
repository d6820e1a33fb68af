"""Content digests: which ones the emulator can verify and store, in one place.

A leaf module, used by the blob store (which names files by digest), by
manifests (which reference blobs and images by digest) and by both wire
planes.  Only ``sha256`` and ``sha512`` with lowercase hex of the right length
are digests of stored content; anything else names nothing, so it can never
reach a file (an upper-case or over-long name on a case-folding disk included).
"""

from __future__ import annotations

import hashlib
import re

ALGORITHMS = {"sha256": 64, "sha512": 128}
PATTERN = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")


def is_valid_digest(digest: str) -> bool:
    """A digest of an algorithm we can verify: sha256 or sha512, lowercase hex."""
    return PATTERN.fullmatch(digest) is not None


def algorithm_of(digest: str) -> str | None:
    """``sha256`` or ``sha512`` for a valid digest, else None."""
    return digest.partition(":")[0] if is_valid_digest(digest) else None


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
