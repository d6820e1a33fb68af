"""Managed signing: signing rules sign pushed images with a Notation-format signature stored
as a referrer, verifiable with the certificate it carries; statuses per profile."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from registry_client import RegistryClient

PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/release_signer"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_pushes_are_signed_with_a_verifiable_notation_signature(ecr):
    with pytest.raises(ClientError, match="SigningConfigurationNotFoundException"):
        ecr.get_signing_configuration()
    configuration = {
        "rules": [
            {
                "signingProfileArn": PROFILE,
                "repositoryFilters": [{"filter": "signed/*", "filterType": "WILDCARD_MATCH"}],
            }
        ]
    }
    ecr.put_signing_configuration(signingConfiguration=configuration)
    assert ecr.get_signing_configuration()["signingConfiguration"] == configuration
    for name in ("signed/app", "plain/app"):
        ecr.create_repository(repositoryName=name)
    registry = RegistryClient(ecr)
    _, answer = registry.push_image("signed/app", "v1")
    digest = answer.headers["Docker-Content-Digest"]
    registry.push_image("plain/app", "v1")

    statuses = ecr.describe_image_signing_status(
        repositoryName="signed/app", imageId={"imageTag": "v1"}
    )["signingStatuses"]
    assert statuses == [{"signingProfileArn": PROFILE, "status": "COMPLETE"}]
    assert (
        ecr.describe_image_signing_status(repositoryName="plain/app", imageId={"imageTag": "v1"})[
            "signingStatuses"
        ]
        == []
    )

    (referrer,) = ecr.list_image_referrers(
        repositoryName="signed/app", subjectId={"imageDigest": digest}
    )["referrers"]
    assert referrer["artifactType"] == "application/vnd.cncf.notary.signature"
    listed = registry.get(f"/v2/signed/app/referrers/{digest}").json()["manifests"]
    assert [m["digest"] for m in listed] == [referrer["digest"]]

    # verify it as Notation would: the JWS signs the image's descriptor, with the key of
    # the certificate in its x5c header
    manifest = registry.get(
        f"/v2/signed/app/manifests/{referrer['digest']}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).json()
    assert manifest["subject"]["digest"] == digest
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/jose+json"
    envelope = json.loads(registry.get(f"/v2/signed/app/blobs/{layer['digest']}").content)
    payload = json.loads(_unb64(envelope["payload"]))
    assert payload["targetArtifact"]["digest"] == digest
    protected = json.loads(_unb64(envelope["protected"]))
    assert protected["alg"] == "ES256"
    assert protected["cty"] == "application/vnd.cncf.notary.payload.v1+json"
    certificate = x509.load_der_x509_certificate(base64.b64decode(envelope["header"]["x5c"][0]))
    raw = _unb64(envelope["signature"])
    signature = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    signed = f"{envelope['protected']}.{envelope['payload']}".encode()
    certificate.public_key().verify(signature, signed, ec.ECDSA(hashes.SHA256()))  # raises if not
    with pytest.raises(Exception):  # noqa: B017 (any verification failure will do)
        certificate.public_key().verify(signature, signed + b"x", ec.ECDSA(hashes.SHA256()))

    # a second image is signed with the same profile's certificate; deleting the
    # configuration stops signing and keeps the signatures
    ecr.put_image(
        repositoryName="signed/app", imageManifest=docker_manifest("second"), imageTag="v2"
    )
    assert (
        ecr.describe_image_signing_status(repositoryName="signed/app", imageId={"imageTag": "v2"})[
            "signingStatuses"
        ][0]["status"]
        == "COMPLETE"
    )
    ecr.delete_signing_configuration()
    ecr.put_image(
        repositoryName="signed/app", imageManifest=docker_manifest("third"), imageTag="v3"
    )
    assert (
        ecr.describe_image_signing_status(repositoryName="signed/app", imageId={"imageTag": "v3"})[
            "signingStatuses"
        ]
        == []
    )
    assert ecr.list_image_referrers(repositoryName="signed/app", subjectId={"imageDigest": digest})[
        "referrers"
    ]
