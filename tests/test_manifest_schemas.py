"""The manifest schemas: valid Draft 7, and the fast compiled validator agrees with jsonschema."""

from __future__ import annotations

import copy

import pytest
from jsonschema import Draft7Validator
from registry_client import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, image_manifest

from ecr_emulator.manifest_schemas import SCHEMAS, schema_errors

LAYER = ("sha256:" + "a" * 64, 10)
CONFIG = ("sha256:" + "b" * 64, 5)


def _index() -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": LAYER[0],
                "size": 500,
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }


VALID = [
    (OCI_MANIFEST, image_manifest([LAYER], CONFIG)),
    (OCI_MANIFEST, image_manifest([], CONFIG, artifactType="application/vnd.example+json")),
    (DOCKER_MANIFEST, image_manifest([LAYER], CONFIG, DOCKER_MANIFEST)),
    (OCI_INDEX, _index()),
]


def _broken(media_type: str, document: dict, path: tuple, value: object) -> tuple[str, dict]:
    document = copy.deepcopy(document)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return media_type, document


INVALID = [
    _broken(OCI_MANIFEST, VALID[0][1], ("layers", 0, "size"), -5),
    _broken(OCI_MANIFEST, VALID[0][1], ("layers", 0, "size"), "10"),
    _broken(OCI_MANIFEST, VALID[0][1], ("layers", 0, "digest"), "not a digest"),
    _broken(OCI_MANIFEST, VALID[0][1], ("config",), "sha256:x"),
    _broken(OCI_MANIFEST, VALID[0][1], ("schemaVersion",), 3),
    _broken(OCI_MANIFEST, VALID[0][1], ("subject",), {"digest": [1]}),
    _broken(OCI_MANIFEST, VALID[0][1], ("annotations",), {"a": 1}),
    _broken(DOCKER_MANIFEST, VALID[2][1], ("layers",), {}),
    _broken(OCI_INDEX, VALID[3][1], ("manifests", 0, "platform"), {"os": "linux"}),
    _broken(OCI_INDEX, VALID[3][1], ("manifests", 0, "mediaType"), "no-slash"),
]


@pytest.mark.parametrize("media_type", sorted(SCHEMAS))
def test_every_schema_is_valid_draft7(media_type):
    Draft7Validator.check_schema(SCHEMAS[media_type])


@pytest.mark.parametrize(("media_type", "document"), VALID)
def test_valid_manifests_pass_both_validators(media_type, document):
    assert Draft7Validator(SCHEMAS[media_type]).is_valid(document)
    assert schema_errors(media_type, document) == []


@pytest.mark.parametrize(("media_type", "document"), INVALID)
def test_invalid_manifests_fail_both_validators(media_type, document):
    assert not Draft7Validator(SCHEMAS[media_type]).is_valid(document)
    assert schema_errors(media_type, document)
