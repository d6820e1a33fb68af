"""The ECR layer API (InitiateLayerUpload ... GetDownloadUrlForLayer) on the registry's blob store.

Every test that takes ``ecr`` runs in-process (``requests`` answered through
``responses``) and against the live server; downloads and pulls go through
``requests`` either way.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from freezegun import freeze_time
from registry_client import OCI_MANIFEST, RegistryClient, digest_of, image_manifest

from ecr_emulator import ManualClock, mock_ecr

REPO = "layers/app"
BINARY = bytes(range(256)) * 4097  # every byte value, just over 1 MiB: more than one read chunk


@pytest.fixture
def repo(ecr) -> str:
    ecr.create_repository(repositoryName=REPO)
    return REPO


def part(ecr, upload_id: str, first: int, data: bytes, repository: str = REPO) -> dict:
    """UploadLayerPart of ``data`` starting at byte ``first``; the answer."""
    return ecr.upload_layer_part(
        repositoryName=repository,
        uploadId=upload_id,
        partFirstByte=first,
        partLastByte=first + len(data) - 1,
        layerPartBlob=data,
    )


def upload(ecr, data: bytes, parts: int = 1, repository: str = REPO) -> str:
    """InitiateLayerUpload, UploadLayerPart per part, CompleteLayerUpload; the digest."""
    upload_id = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    size = -(-len(data) // parts)
    for first in range(0, len(data), size):
        chunk = data[first : first + size]
        answer = part(ecr, upload_id, first, chunk, repository)
        assert answer["lastByteReceived"] == first + len(chunk) - 1
    digest = digest_of(data)
    completed = ecr.complete_layer_upload(
        repositoryName=repository, uploadId=upload_id, layerDigests=[digest]
    )
    assert completed["layerDigest"] == digest
    return digest


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> dict:
    return raised.value.response["Error"]


def test_initiate_gives_an_upload_id_and_part_size(ecr, repo):
    answer = ecr.initiate_layer_upload(repositoryName=repo)
    assert answer["uploadId"]
    assert answer["partSize"] > 0


def test_upload_in_parts_then_check_availability(ecr, repo):
    data = b"0123456789" * 1000
    digest = upload(ecr, data, parts=3)
    answer = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[digest])
    assert answer["layers"] == [
        {"layerDigest": digest, "layerAvailability": "AVAILABLE", "layerSize": len(data)}
    ]
    assert answer["failures"] == []


def test_batch_check_reports_unavailable_and_invalid_digests(ecr, repo):
    present = upload(ecr, b"present")
    missing = digest_of(b"missing")
    answer = ecr.batch_check_layer_availability(
        repositoryName=repo, layerDigests=[present, missing, "sha256:not-hex"]
    )
    assert answer["layers"] == [
        {"layerDigest": present, "layerAvailability": "AVAILABLE", "layerSize": 7},
        {"layerDigest": missing, "layerAvailability": "UNAVAILABLE"},
    ]
    (failure,) = answer["failures"]
    assert failure["layerDigest"] == "sha256:not-hex"
    assert failure["failureCode"] == "InvalidLayerDigest"


def test_layers_belong_to_their_repository(ecr, repo):
    digest = upload(ecr, b"only in one repository")
    ecr.create_repository(repositoryName="elsewhere")
    (layer,) = ecr.batch_check_layer_availability(
        repositoryName="elsewhere", layerDigests=[digest]
    )["layers"]
    assert layer["layerAvailability"] == "UNAVAILABLE"
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    with pytest.raises(ClientError) as raised:
        part(ecr, upload_id, 0, b"x", repository="elsewhere")
    assert error_of(raised)["Code"] == "UploadNotFoundException"


def test_a_part_after_a_gap_is_invalid(ecr, repo):
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    part(ecr, upload_id, 0, b"abcde")
    with pytest.raises(ClientError) as raised:
        part(ecr, upload_id, 10, b"klmno")
    error = raised.value.response
    assert error["Error"]["Code"] == "InvalidLayerPartException"
    assert error["lastValidByteReceived"] == 4
    assert error["uploadId"] == upload_id
    # The upload survives the refused part and carries on from where it was.
    part(ecr, upload_id, 5, b"fghij")
    completed = ecr.complete_layer_upload(
        repositoryName=repo, uploadId=upload_id, layerDigests=[digest_of(b"abcdefghij")]
    )
    assert completed["layerDigest"] == digest_of(b"abcdefghij")


def test_complete_with_the_wrong_digest_is_invalid_layer(ecr, repo):
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    part(ecr, upload_id, 0, b"abc")
    wrong = digest_of(b"xyz")
    with pytest.raises(ClientError) as raised:
        ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=[wrong])
    assert error_of(raised)["Code"] == "InvalidLayerException"
    (layer,) = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[wrong])[
        "layers"
    ]
    assert layer["layerAvailability"] == "UNAVAILABLE"


@pytest.mark.parametrize(
    ("second", "code"),
    [
        (digest_of(b"xyz"), "InvalidLayerException"),  # well formed, other bytes
        ("sha256:abc", "InvalidLayerException"),  # the model's pattern, not a sha256
        ("not-a-digest", "InvalidParameterException"),  # not even the model's pattern
    ],
    ids=["other", "short", "junk"],
)
def test_complete_checks_every_digest_it_is_given(ecr, repo, second, code):
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    part(ecr, upload_id, 0, b"abc")
    with pytest.raises(ClientError) as raised:
        ecr.complete_layer_upload(
            repositoryName=repo, uploadId=upload_id, layerDigests=[digest_of(b"abc"), second]
        )
    assert error_of(raised)["Code"] == code
    (layer,) = ecr.batch_check_layer_availability(
        repositoryName=repo, layerDigests=[digest_of(b"abc")]
    )["layers"]
    assert layer["layerAvailability"] == "UNAVAILABLE"


def test_complete_with_two_digests_of_the_same_bytes(ecr, repo):
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    part(ecr, upload_id, 0, b"abc")
    both = [digest_of(b"abc"), digest_of(b"abc", "sha512")]
    done = ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=both)
    assert done["layerDigest"] == both[0]


def test_complete_of_an_existing_layer_is_layer_already_exists(ecr, repo):
    upload(ecr, b"twice")
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    part(ecr, upload_id, 0, b"twice")
    with pytest.raises(ClientError) as raised:
        ecr.complete_layer_upload(
            repositoryName=repo, uploadId=upload_id, layerDigests=[digest_of(b"twice")]
        )
    assert error_of(raised)["Code"] == "LayerAlreadyExistsException"


def test_complete_of_an_empty_upload_is_empty_upload(ecr, repo):
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    with pytest.raises(ClientError) as raised:
        ecr.complete_layer_upload(
            repositoryName=repo, uploadId=upload_id, layerDigests=[digest_of(b"")]
        )
    assert error_of(raised)["Code"] == "EmptyUploadException"


def test_unknown_upload_is_upload_not_found(ecr, repo):
    unknown = str(uuid.uuid4())  # the model insists on a UUID
    with pytest.raises(ClientError) as raised:
        part(ecr, unknown, 0, b"x")
    assert error_of(raised)["Code"] == "UploadNotFoundException"
    with pytest.raises(ClientError) as raised:
        ecr.complete_layer_upload(
            repositoryName=repo, uploadId=unknown, layerDigests=[digest_of(b"x")]
        )
    assert error_of(raised)["Code"] == "UploadNotFoundException"
    finished = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    part(ecr, finished, 0, b"x")
    ecr.complete_layer_upload(
        repositoryName=repo, uploadId=finished, layerDigests=[digest_of(b"x")]
    )
    with pytest.raises(ClientError) as raised:
        ecr.complete_layer_upload(
            repositoryName=repo, uploadId=finished, layerDigests=[digest_of(b"x")]
        )
    assert error_of(raised)["Code"] == "UploadNotFoundException"


def test_parallel_uploads_under_frozen_time(ecr, repo):
    """Starting an upload cleans up abandoned ones; a frozen clock must not make that eager."""
    with freeze_time("2024-05-01 12:00:00"):
        first = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        second = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        for upload_id, data in ((first, b"first"), (second, b"second")):
            part(ecr, upload_id, 0, data)
            ecr.complete_layer_upload(
                repositoryName=repo, uploadId=upload_id, layerDigests=[digest_of(data)]
            )


def test_an_upload_in_progress_survives_emulated_hours():
    clock = ManualClock()
    with mock_ecr(clock=clock):
        ecr = boto3.client("ecr", region_name="us-east-1")
        ecr.create_repository(repositoryName=REPO)
        slow = ecr.initiate_layer_upload(repositoryName=REPO)["uploadId"]
        part(ecr, slow, 0, b"slow ")
        clock.advance(hours=2)
        ecr.initiate_layer_upload(repositoryName=REPO)  # sweeps abandoned uploads
        part(ecr, slow, 5, b"but steady")
        completed = ecr.complete_layer_upload(
            repositoryName=REPO, uploadId=slow, layerDigests=[digest_of(b"slow but steady")]
        )
        assert completed["layerDigest"] == digest_of(b"slow but steady")


def test_layer_api_needs_the_repository(ecr):
    with pytest.raises(ClientError) as raised:
        ecr.initiate_layer_upload(repositoryName="missing")
    assert error_of(raised)["Code"] == "RepositoryNotFoundException"


def test_download_url_serves_the_exact_bytes(ecr, repo, ecr_target):
    digest = upload(ecr, BINARY, parts=2)
    answer = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest)
    assert answer["layerDigest"] == digest
    url = answer["downloadUrl"]
    if ecr_target is None:
        assert url.startswith(
            "https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/"
        )
    else:
        assert url.startswith(ecr_target + "/")
    got = requests.get(url, timeout=30)  # no credentials: the URL itself is the grant
    assert got.status_code == 200
    assert got.headers["Content-Length"] == str(len(BINARY))
    assert got.content == BINARY
    with requests.get(url, stream=True, timeout=30) as streamed:
        assert b"".join(streamed.iter_content(chunk_size=100_000)) == BINARY
    ranged = requests.get(url, headers={"Range": "bytes=256-511"}, timeout=30)
    assert ranged.status_code == 206
    assert ranged.content == bytes(range(256))


def test_download_url_of_a_missing_layer_is_layers_not_found(ecr, repo):
    with pytest.raises(ClientError) as raised:
        ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest_of(b"nope"))
    assert error_of(raised)["Code"] == "LayersNotFoundException"


def test_an_expired_or_tampered_download_url_is_refused(ecr, repo):
    with freeze_time("2024-05-01 12:00:00", tick=True) as frozen:
        digest = upload(ecr, b"short-lived url")
        url = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest)["downloadUrl"]
        assert requests.get(url, timeout=30).content == b"short-lived url"
        tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
        assert requests.get(tampered, timeout=30).status_code == 403
        assert requests.get(url[:-3] + "%C3%A9", timeout=30).status_code == 403  # non-ASCII
        frozen.tick(dt.timedelta(hours=1, seconds=1))
        expired = requests.get(url, timeout=30)
        assert expired.status_code == 403
        assert "AccessDenied" in expired.text


def test_image_uploaded_through_the_layer_api_is_pullable(ecr, repo):
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layers = [BINARY, b"second layer"]
    manifest = image_manifest(
        [(upload(ecr, layer), len(layer)) for layer in layers], (upload(ecr, config), len(config))
    )
    text = json.dumps(manifest)
    ecr.put_image(repositoryName=repo, imageManifest=text, imageTag="v1")

    registry = RegistryClient(ecr)
    got = registry.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200
    assert got.text == text
    assert got.headers["Content-Type"] == OCI_MANIFEST
    for descriptor, data in zip(
        [manifest["config"], *manifest["layers"]], [config, *layers], strict=True
    ):
        head = registry.head(f"/v2/{repo}/blobs/{descriptor['digest']}")
        assert head.headers["Content-Length"] == str(descriptor["size"])
        assert head.content == b""
        blob = registry.get(f"/v2/{repo}/blobs/{descriptor['digest']}")
        assert blob.headers["Docker-Content-Digest"] == descriptor["digest"]
        assert blob.content == data
    (detail,) = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["imageSizeInBytes"] == len(BINARY) + len(b"second layer")
