"""JSON Schemas for the manifest formats the registry accepts (OCI image spec, Docker v2).

Written from the OCI image-spec and Docker image-manifest-v2 documents; a
manifest must pass its schema before either plane (PutImage, registry PUT)
stores it.  A ``$`` inside a character class is written ``\\$`` for fastjsonschema,
which rewrites bare ``$`` anchors.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import fastjsonschema

from . import media_types as media

_DIGEST = {"type": "string", "pattern": r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"}
_MEDIA_TYPE = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9!#\$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#\$&^_.+-]{0,126}$",
}
_ANNOTATIONS = {"type": "object", "additionalProperties": {"type": "string"}}
_DESCRIPTOR: dict[str, Any] = {
    "type": "object",
    "required": ["mediaType", "digest", "size"],
    "properties": {
        "mediaType": _MEDIA_TYPE,
        "digest": _DIGEST,
        "size": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "urls": {"type": "array", "items": {"type": "string"}},
        "annotations": _ANNOTATIONS,
        "data": {"type": "string", "contentEncoding": "base64"},
        "artifactType": _MEDIA_TYPE,
    },
}
_PLATFORM = {
    "type": "object",
    "required": ["architecture", "os"],
    "properties": {
        "architecture": {"type": "string"},
        "os": {"type": "string"},
        "os.version": {"type": "string"},
        "os.features": {"type": "array", "items": {"type": "string"}},
        "variant": {"type": "string"},
        "features": {"type": "array", "items": {"type": "string"}},
    },
}
_INDEX_ENTRY = {**_DESCRIPTOR, "properties": {**_DESCRIPTOR["properties"], "platform": _PLATFORM}}

_OCI_MANIFEST = {
    "type": "object",
    "required": ["schemaVersion", "config", "layers"],
    "properties": {
        "schemaVersion": {"const": 2},
        "mediaType": {"const": media.OCI_MANIFEST},
        "artifactType": _MEDIA_TYPE,
        "config": _DESCRIPTOR,
        "layers": {"type": "array", "items": _DESCRIPTOR},
        "subject": _DESCRIPTOR,
        "annotations": _ANNOTATIONS,
    },
}
_OCI_INDEX = {
    "type": "object",
    "required": ["schemaVersion", "manifests"],
    "properties": {
        "schemaVersion": {"const": 2},
        "mediaType": {"const": media.OCI_INDEX},
        "artifactType": _MEDIA_TYPE,
        "manifests": {"type": "array", "items": _INDEX_ENTRY},
        "subject": _DESCRIPTOR,
        "annotations": _ANNOTATIONS,
    },
}
# ``mediaType`` may be left out when PutImage's imageManifestMediaType names the type.
_DOCKER_MANIFEST = {
    "type": "object",
    "required": ["schemaVersion", "config", "layers"],
    "properties": {
        "schemaVersion": {"const": 2},
        "mediaType": {"const": media.DOCKER_SCHEMA2},
        "config": _DESCRIPTOR,
        "layers": {"type": "array", "items": _DESCRIPTOR},
    },
}
_DOCKER_LIST = {
    "type": "object",
    "required": ["schemaVersion", "manifests"],
    "properties": {
        "schemaVersion": {"const": 2},
        "mediaType": {"const": media.DOCKER_MANIFEST_LIST},
        "manifests": {
            "type": "array",
            "items": {**_INDEX_ENTRY, "required": ["mediaType", "digest", "size", "platform"]},
        },
    },
}
_DOCKER_SCHEMA1 = {
    "type": "object",
    "required": ["schemaVersion", "name", "tag", "fsLayers"],
    "properties": {
        "schemaVersion": {"const": 1},
        "name": {"type": "string"},
        "tag": {"type": "string"},
        "architecture": {"type": "string"},
        "fsLayers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["blobSum"],
                "properties": {"blobSum": _DIGEST},
            },
        },
        "history": {"type": "array"},
        "signatures": {"type": "array"},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    media.OCI_MANIFEST: _OCI_MANIFEST,
    media.OCI_INDEX: _OCI_INDEX,
    media.DOCKER_SCHEMA2: _DOCKER_MANIFEST,
    media.DOCKER_MANIFEST_LIST: _DOCKER_LIST,
    media.DOCKER_SCHEMA1: _DOCKER_SCHEMA1,
    media.DOCKER_SCHEMA1_SIGNED: _DOCKER_SCHEMA1,
}


@cache
def _validator(media_type: str) -> Callable[[Any], Any]:
    # fastjsonschema compiles a schema to Python once: ~15 µs a manifest where a generic
    # validator takes ~170 µs, which matters on PutImage's hot path.
    return fastjsonschema.compile(SCHEMAS[media_type])


def schema_errors(media_type: str, document: Any) -> list[str]:
    """What is wrong with ``document`` as a ``media_type`` manifest (empty when valid), in
    our words: where in the manifest, and which rule of the schema it breaks."""
    try:
        _validator(media_type)(document)
    except fastjsonschema.JsonSchemaValueException as error:
        where = error.name.replace("data", "manifest", 1) if error.name else "manifest"
        return [f"{where} breaks the {media_type} schema rule '{error.rule}'"]
    return []
