"""Managed signing: a registry's signing rules sign each image pushed into a repository they
match, and the signature is stored beside it as an OCI referrer.

AWS signs with AWS Signer, whose signatures are Notation's (the Notary Project's
``application/vnd.cncf.notary.signature`` artifacts), so the emulator makes the same kind:
a JWS envelope (``application/jose+json``, ES256) over Notation's payload
``{"targetArtifact": <the image's descriptor>}``, with the signing certificate in the
``x5c`` header, in a manifest whose ``subject`` is the image.  The key and its self-signed
certificate are made once per signing profile and registry (``cryptography``) and kept
with the registry, so a signature can be verified with the certificate it carries.
Signatures themselves (images with a subject) are not signed again.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import weakref
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from ..blobstore import put_blob
from ..digests import digest_of
from ..errors import ServiceError
from ..events import ImagePushed
from ..media_types import INDEX_TYPES
from ..state import Backend, Image, Registry
from ..tokens import urlsafe_b64
from ..wildcard import matches
from . import access, images
from .caller import Caller

SIGNATURE_TYPE = "application/vnd.cncf.notary.signature"
ENVELOPE_TYPE = "application/jose+json"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
EMPTY_CONFIG = b"{}"


def put_configuration(caller: Caller, configuration: dict[str, Any]) -> dict[str, Any]:
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:PutSigningConfiguration", "*")
        registry.signing_configuration = {"rules": list(configuration.get("rules") or [])}
        return registry.signing_configuration


def _not_found(account: str) -> ServiceError:
    return ServiceError(
        "SigningConfigurationNotFoundException",
        f"Signing configuration does not exist in the registry with id '{account}'",
    )


def get_configuration(caller: Caller) -> dict[str, Any]:
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        if registry is None or registry.signing_configuration is None:
            raise _not_found(caller.account)
        return registry.signing_configuration


def delete_configuration(caller: Caller) -> dict[str, Any]:
    with caller.backend.transaction():
        registry = access.own_registry_if_any(caller)
        if registry is None or registry.signing_configuration is None:
            raise _not_found(caller.account)
        configuration = registry.signing_configuration
        registry.signing_configuration = None
        return configuration


def _profiles_for(registry: Registry, name: str) -> list[str]:
    found = []
    for rule in (registry.signing_configuration or {}).get("rules", []):
        filters = rule.get("repositoryFilters") or ()
        if filters and not any(matches(f["filter"], name) for f in filters):
            continue
        if rule["signingProfileArn"] not in found:
            found.append(rule["signingProfileArn"])
    return found


def _key_for(registry: Registry, profile: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """The profile's key and DER certificate in ``registry``, made on first use (lock held)."""
    kept = registry.signing_keys.get(profile)
    if kept is not None:
        key = serialization.load_pem_private_key(kept["key"].encode(), password=None)
        return key, base64.b64decode(kept["certificate"])  # type: ignore[return-value]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, profile[-64:]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ecr-emulator managed signing"),
        ]
    )
    now = registry.backend.now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    registry.signing_keys = {
        **registry.signing_keys,
        profile: {"key": pem, "certificate": base64.b64encode(der).decode()},
    }
    return key, der


def envelope(
    key: ec.EllipticCurvePrivateKey, certificate: bytes, image: Image, now: _dt.datetime
) -> bytes:
    """Notation's JWS envelope signing ``image``'s descriptor."""
    payload = json.dumps(
        {
            "targetArtifact": {
                "mediaType": image.media_type,
                "digest": image.digest,
                "size": len(image.manifest.encode()),
            }
        },
        separators=(",", ":"),
    ).encode()
    protected = json.dumps(
        {
            "alg": "ES256",
            "cty": PAYLOAD_TYPE,
            "crit": ["io.cncf.notary.signingScheme"],
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": now.astimezone(_dt.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        },
        separators=(",", ":"),
    ).encode()
    signing_input = f"{urlsafe_b64(protected)}.{urlsafe_b64(payload)}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS: R || S
    return json.dumps(
        {
            "payload": urlsafe_b64(payload),
            "protected": urlsafe_b64(protected),
            "header": {
                "x5c": [base64.b64encode(certificate).decode()],
                "io.cncf.notary.signingAgent": "ecr-emulator",
            },
            "signature": urlsafe_b64(signature),
        }
    ).encode()


def sign(backend: Backend, account: str, region: str, name: str, digest: str) -> None:
    """Sign one pushed image with every profile whose rule matches its repository."""
    caller = Caller(backend, account, region)
    with backend.transaction():
        registry = backend.find_registry(account, region)
        repository = registry.repositories.get(name) if registry else None
        image = repository.images.get(digest) if repository else None
        if image is None or image.subject_digest is not None or image.media_type in INDEX_TYPES:
            return
        profiles = _profiles_for(registry, name)
        if not profiles:
            return
        signatures = []
        for profile in profiles:
            key, certificate = _key_for(registry, profile)
            signed = envelope(key, certificate, image, backend.now())
            for blob in (signed, EMPTY_CONFIG):
                if not backend.blobs.exists(digest_of(blob)):
                    put_blob(backend.blobs, digest_of(blob), blob)
                repository.link_blob(digest_of(blob))
            manifest = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": SIGNATURE_TYPE,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": digest_of(EMPTY_CONFIG),
                    "size": len(EMPTY_CONFIG),
                },
                "layers": [
                    {"mediaType": ENVELOPE_TYPE, "digest": digest_of(signed), "size": len(signed)}
                ],
                "subject": {
                    "mediaType": image.media_type,
                    "digest": image.digest,
                    "size": len(image.manifest.encode()),
                },
                "annotations": {
                    "io.cncf.notary.x509chain.thumbprint#S256": json.dumps(
                        [digest_of(certificate).split(":", 1)[1]]
                    ),
                    "com.amazonaws.ecr.signing-profile": profile,
                },
            }
            signatures.append((profile, json.dumps(manifest)))
        for _profile, manifest_text in signatures:
            images.put_image(caller, None, name, manifest_text, idempotent=True)
        image.signing = {
            **(image.signing or {}),
            **{
                profile: {"signingProfileArn": profile, "status": "COMPLETE"}
                for profile in profiles
            },
        }


def statuses(
    caller: Caller, registry_id: str | None, name: str, image_id: dict[str, str]
) -> tuple[Image, list[dict[str, Any]]]:
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:DescribeImageSigningStatus")
        found = images.resolve_image_id(repository, image_id)
        if isinstance(found, images.ImageFailure):
            raise images.failure_error(repository, found)
        return found, list((found.signing or {}).values())


_SUBSCRIBED: weakref.WeakSet[Backend] = weakref.WeakSet()


def subscribe(backend: Backend) -> None:
    """Sign on push: after each change that added images, outside its lock (once per
    backend: the server and the mock both call this)."""
    if backend in _SUBSCRIBED:
        return
    _SUBSCRIBED.add(backend)

    def pushed(batch: list[object]) -> None:
        for event in batch:
            if isinstance(event, ImagePushed):
                registry = backend.find_registry(event.account, event.region)
                if registry is None or not registry.signing_configuration:
                    continue  # the common case, looked at without the lock
                sign(backend, event.account, event.region, event.repository, event.digest)

    backend.events.subscribe(pushed, batches=True)
