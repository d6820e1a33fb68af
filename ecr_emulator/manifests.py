"""What a manifest says about itself: media type, digest, size, and what it references.

Shared by PutImage and the registry's manifest PUT, so both planes validate
the same way (JSON Schema per media type) and derive the same digest, size
and references from the same bytes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from .manifest_schemas import schema_errors
from .media_types import (
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    SCHEMA1_TYPES,
    SUPPORTED_TYPES,
)

INVALID_JSON = "Invalid JSON syntax"


class ManifestError(ValueError):
    """The manifest cannot be stored.  The message is what ECR says (for a manifest that
    breaks its schema, ECR's one sentence ``Invalid JSON syntax``); ``detail`` says what
    exactly is wrong, for the registry's error detail and the log."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    artifact_media_type: str | None
    layers_size: int
    blob_digests: tuple[str, ...]
    child_digests: tuple[str, ...]
    subject_digest: str | None
    digest_payload: bytes


def parse_manifest(
    text: str | bytes, declared_media_type: str | None = None, *, infer_media_type: bool = False
) -> ParsedManifest:
    """What ``text`` says about itself, checked against its media type's schema.

    The media type is the manifest's own ``mediaType``, else the one declared
    (``imageManifestMediaType``, a registry PUT's Content-Type).  With neither,
    ECR refuses the manifest; ``infer_media_type`` (a registry PUT that sent no
    Content-Type) instead reads it from the manifest's shape.
    """
    try:
        raw = text.encode("utf-8") if isinstance(text, str) else text
        document = json.loads(raw.decode("utf-8"))  # UTF-8 only: what is stored is served back
    except (ValueError, RecursionError):  # UnicodeDecodeError/-EncodeError are ValueErrors
        raise ManifestError(INVALID_JSON) from None
    if not isinstance(document, dict):
        raise ManifestError(INVALID_JSON)
    media_type = _media_type(document, declared_media_type, infer_media_type)
    problems = schema_errors(media_type, document)
    if problems:
        raise ManifestError(INVALID_JSON, "; ".join(problems))
    if media_type in SCHEMA1_TYPES:
        return _parse_schema1(document, raw, media_type)
    subject = document.get("subject")
    subject_digest = None
    if subject is not None:  # any media type may name one; it must be a descriptor
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
            raise ManifestError(INVALID_JSON, "manifest.subject must be a descriptor with a digest")
        subject_digest = subject["digest"]
    if media_type in INDEX_TYPES:
        children = _descriptors(document, "manifests")
        return ParsedManifest(
            media_type=media_type,
            artifact_media_type=_string(document.get("artifactType")),
            layers_size=0,
            blob_digests=(),
            child_digests=tuple(child["digest"] for child in children),
            subject_digest=subject_digest,
            digest_payload=raw,
        )
    config = document.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        raise ManifestError("Manifest config must be a descriptor with a digest")
    layers = _descriptors(document, "layers")
    return ParsedManifest(
        media_type=media_type,
        artifact_media_type=_string(document.get("artifactType"))
        or _string(config.get("mediaType")),
        layers_size=sum(int(layer.get("size") or 0) for layer in layers),
        blob_digests=(
            config["digest"],
            *(layer["digest"] for layer in layers if not is_foreign_layer(layer)),
        ),
        child_digests=(),
        subject_digest=subject_digest,
        digest_payload=raw,
    )


def is_foreign_layer(descriptor: dict[str, Any]) -> bool:
    """Non-distributable layers live elsewhere (``urls``); registries never hold their bytes."""
    media_type = str(descriptor.get("mediaType", ""))
    return (
        "nondistributable" in media_type or "foreign" in media_type or bool(descriptor.get("urls"))
    )


def _media_type(document: dict[str, Any], declared: str | None, infer: bool) -> str:
    in_document = document.get("mediaType")
    if in_document is not None and not isinstance(in_document, str):
        raise ManifestError("Manifest mediaType must be a string")
    if document.get("schemaVersion") == 1:
        media_type = (
            declared
            if declared in SCHEMA1_TYPES
            else (DOCKER_SCHEMA1_SIGNED if "signatures" in document else DOCKER_SCHEMA1)
        )
    elif in_document:
        if declared and declared != in_document:
            raise ManifestError(
                f"Manifest mediaType '{in_document}' does not match imageManifestMediaType '{declared}'"
            )
        media_type = in_document
    elif declared:
        media_type = declared
    elif infer and "manifests" in document:
        media_type = OCI_INDEX
    elif infer and "config" in document:
        media_type = OCI_MANIFEST
    else:  # ECR cannot tell what the manifest is without either
        raise ManifestError(INVALID_JSON)
    if media_type not in SUPPORTED_TYPES:
        raise ManifestError(f"Unsupported manifest media type '{media_type}'")
    if document.get("schemaVersion") not in (1, 2):
        raise ManifestError("Manifest schemaVersion must be 1 or 2")
    return media_type


def _descriptors(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = document.get(key, [])
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get("digest"), str) for item in items
    ):
        raise ManifestError(f"Manifest {key} must be a list of descriptors with digests")
    return items


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _parse_schema1(document: dict[str, Any], raw: bytes, media_type: str) -> ParsedManifest:
    layers = document.get("fsLayers", [])
    if not isinstance(layers, list) or not all(
        isinstance(layer, dict) and isinstance(layer.get("blobSum"), str) for layer in layers
    ):
        raise ManifestError("Manifest fsLayers must be a list of blobSum entries")
    return ParsedManifest(
        media_type=media_type,
        artifact_media_type=None,
        layers_size=0,
        blob_digests=tuple(dict.fromkeys(layer["blobSum"] for layer in layers)),
        child_digests=(),
        subject_digest=None,
        digest_payload=_schema1_payload(document, raw),
    )


def _schema1_payload(document: dict[str, Any], raw: bytes) -> bytes:
    """A signed schema 1 manifest is digested without its signatures (libtrust's JWS rule)."""
    signatures = document.get("signatures")
    if not signatures:
        return raw
    try:
        protected = signatures[0]["protected"]
        header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
        length = int(header["formatLength"])
        tail = header["formatTail"]
        return raw[:length] + base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))
    except (KeyError, IndexError, TypeError, ValueError, OverflowError, RecursionError):
        raise ManifestError("Invalid schema 1 manifest signature") from None
