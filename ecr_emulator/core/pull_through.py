"""Pull-through cache rules: a pull of ``<prefix>/<repository>:<tag>`` that the registry does
not have fetches the image from the upstream registry the rule names, over the OCI
distribution API, keeps it and serves it from then on.

As the user guide's "Sync an upstream registry with an Amazon ECR private registry" says:
the repository is created on the first pull (through a creation template that applies
to PULL_THROUGH_CACHE when there is one); a pull by tag asks the upstream again, so a
moved tag follows it, and an upstream that cannot be reached leaves the cached image
served.  Upstream authentication: anonymous, HTTP Basic, and the Bearer token flow
(``WWW-Authenticate: Bearer realm=...`` -> the token endpoint), with credentials from a
rule's ``credentialArn``, looked up in a local secrets file standing in for Secrets
Manager (``serve --pull-through-secrets FILE``: ``{"<arn>": {"username": ..., "accessToken":
...}}``, the keys AWS's secrets for pull-through caching hold).  Blobs stream from the
upstream into the blob store (verified), never whole in memory.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

import requests

from ..digests import digest_of
from ..errors import ServiceError, invalid_parameter
from ..media_types import INDEX_TYPES
from ..pagination import paginate_list
from ..state import Backend
from . import access, creation_templates, images, prefixed, repositories
from .caller import Caller

log = logging.getLogger(__name__)

MAX_RULES = 50  # "Pull through cache rules per registry" (service quotas)
TIMEOUT = 30
MAX_CHILDREN = 256  # the images of an upstream index fetched on one pull
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def _url(url: str) -> str:
    """An upstream URL as requests takes it (AWS's are bare hosts: https)."""
    return url.rstrip("/") if "://" in url else f"https://{url.rstrip('/')}"


def _not_found(prefix: str, account: str) -> ServiceError:
    return ServiceError(
        "PullThroughCacheRuleNotFoundException",
        f"The pull through cache rule with prefix '{prefix}' does not exist in the registry "
        f"with id '{account}'",
    )


def _secret(backend: Backend, arn: str | None) -> tuple[str, str] | None:
    if arn is None:
        return None
    secret = backend.secrets.get(arn)
    if secret is None:
        raise ServiceError(
            "SecretNotFoundException",
            f"The secret '{arn}' could not be found in Secrets Manager",
        )
    try:
        return str(secret["username"]), str(secret["accessToken"])
    except (KeyError, TypeError):
        raise ServiceError(
            "UnableToDecryptSecretValueException",
            f"The secret '{arn}' does not hold a username and an accessToken",
        ) from None


# --- rules ------------------------------------------------------------------------------------


def create_rule(caller: Caller, prefix: str, settings: dict[str, Any]) -> dict[str, Any]:
    _check_url(settings.get("upstreamRegistryUrl") or "")
    _secret(caller.backend, settings.get("credentialArn"))
    key = prefixed.normal(prefix)
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:CreatePullThroughCacheRule", "*")
        if key in registry.pull_through_rules:
            raise ServiceError(
                "PullThroughCacheRuleAlreadyExistsException",
                f"A pull through cache rule with the prefix '{prefix}' already exists",
            )
        if len(registry.pull_through_rules) >= MAX_RULES:
            raise ServiceError(
                "LimitExceededException",
                f"A registry can have at most {MAX_RULES} pull through cache rules",
            )
        rule = {
            "ecrRepositoryPrefix": key,
            **{name: value for name, value in settings.items() if value is not None},
            "registryId": registry.account_id,
            "createdAt": caller.backend.now(),
            "updatedAt": caller.backend.now(),
        }
        registry.pull_through_rules = {**registry.pull_through_rules, key: rule}
        return rule


def update_rule(caller: Caller, prefix: str, settings: dict[str, Any]) -> dict[str, Any]:
    _secret(caller.backend, settings.get("credentialArn"))
    key = prefixed.normal(prefix)
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:UpdatePullThroughCacheRule", "*")
        old = registry.pull_through_rules.get(key)
        if old is None:
            raise _not_found(prefix, registry.account_id)
        rule = {
            **old,
            **{name: value for name, value in settings.items() if value is not None},
            "updatedAt": caller.backend.now(),
        }
        registry.pull_through_rules = {**registry.pull_through_rules, key: rule}
        return rule


def delete_rule(caller: Caller, prefix: str) -> dict[str, Any]:
    key = prefixed.normal(prefix)
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:DeletePullThroughCacheRule", "*")
        if key not in registry.pull_through_rules:
            raise _not_found(prefix, registry.account_id)
        left = dict(registry.pull_through_rules)
        rule = left.pop(key)
        registry.pull_through_rules = left
        return rule


def describe_rules(
    caller: Caller, prefixes: list[str] | None, next_token: str | None, max_results: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        rules = registry.pull_through_rules if registry is not None else {}
        found = prefixed.listed(rules, prefixes, lambda p: _not_found(p, caller.account))
    return paginate_list(
        caller.backend,
        found,
        next_token,
        max_results,
        scope=f"ptc:{caller.account}:{caller.region}",
    )


def validate_rule(caller: Caller, prefix: str) -> tuple[dict[str, Any], bool, str | None]:
    """ValidatePullThroughCacheRule: really asks the upstream (its ``/v2/``)."""
    key = prefixed.normal(prefix)
    with caller.backend.lock:
        registry = access.own_registry_if_any(caller)
        rule = registry.pull_through_rules.get(key) if registry is not None else None
        if rule is None:
            raise _not_found(prefix, caller.account)
    try:
        upstream = Upstream(
            rule["upstreamRegistryUrl"], _secret(caller.backend, rule.get("credentialArn"))
        )
        answer = upstream.get("/v2/")
    except ServiceError as error:
        return rule, False, error.message
    except requests.RequestException as error:
        return rule, False, f"The upstream registry could not be reached: {error}"
    if answer.status_code != 200:
        return rule, False, f"The upstream registry answered {answer.status_code}"
    return rule, True, None


# --- the upstream -----------------------------------------------------------------------------


class Upstream:
    """An OCI distribution registry: anonymous, Basic, or the Bearer token flow."""

    def __init__(self, url: str, credentials: tuple[str, str] | None) -> None:
        self.base = _url(url)
        self.credentials = credentials
        self.session = requests.Session()
        self._token: str | None = None

    def get(self, path: str, **options: Any) -> requests.Response:
        headers = dict(options.pop("headers", {}))
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        answer = self.session.get(self.base + path, headers=headers, timeout=TIMEOUT, **options)
        if answer.status_code != 401:
            return answer
        challenge = answer.headers.get("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic" and self.credentials:
            return self.session.get(
                self.base + path, headers=headers, auth=self.credentials, timeout=TIMEOUT, **options
            )
        if scheme == "bearer":
            fields = dict(_CHALLENGE.findall(challenge))
            realm = fields.pop("realm", None)
            if realm:
                token = self.session.get(
                    realm, params=fields, auth=self.credentials, timeout=TIMEOUT
                )
                if token.status_code == 200:
                    body = token.json()
                    self._token = body.get("token") or body.get("access_token")
                    headers["Authorization"] = f"Bearer {self._token}"
                    return self.session.get(
                        self.base + path, headers=headers, timeout=TIMEOUT, **options
                    )
        return answer


def sync(caller: Caller, registry_id: str | None, name: str, reference: str) -> None:
    """Before a registry GET of a manifest: fetch it from the upstream when a rule covers
    the repository and the image is not here, or is named by a tag (which may have
    moved).  Network work outside the lock; nothing changes if the upstream fails."""
    account = registry_id or caller.account
    backend = caller.backend
    registry = backend.find_registry(account, caller.region)
    if account != caller.account or registry is None or not registry.pull_through_rules:
        return
    rule = prefixed.covering(registry.pull_through_rules, name)
    if rule is None:
        return
    repository = registry.repositories.get(name)
    by_digest = ":" in reference
    if by_digest and repository is not None and reference in repository.images:
        return
    remainder = (
        name
        if rule["ecrRepositoryPrefix"] == prefixed.ROOT
        else name[len(rule["ecrRepositoryPrefix"]) + 1 :]
    )
    prefix = rule.get("upstreamRepositoryPrefix")
    upstream_name = (
        f"{prefixed.normal(prefix)}/{remainder}"
        if prefix and prefix != prefixed.ROOT
        else remainder
    )
    try:
        upstream = Upstream(
            rule["upstreamRegistryUrl"], _secret(backend, rule.get("credentialArn"))
        )
        fetched = _fetch(backend, upstream, upstream_name, reference)
    except (requests.RequestException, ServiceError, ValueError, RecursionError) as error:
        log.info("pull through %s from %s failed: %s", name, rule["upstreamRegistryUrl"], error)
        return
    if fetched is None:
        return
    with backend.transaction():
        repository = registry.repositories.get(name)
        if repository is None:
            template = creation_templates.template_for(registry, name, "PULL_THROUGH_CACHE")
            owner = Caller(backend, account, caller.region)
            if template is not None:
                repository = creation_templates.create_from_template(
                    owner, registry, name, template
                )
            else:
                repository = repositories.create(owner, account, name)
        for digest in fetched["blobs"]:
            repository.link_blob(digest)
        owner = Caller(backend, account, caller.region)
        for manifest, media_type in fetched["children"]:
            images.put_image(owner, account, name, manifest, media_type=media_type, idempotent=True)
        images.put_image(
            owner,
            account,
            name,
            fetched["manifest"],
            media_type=fetched["media_type"],
            tags=[] if by_digest else [reference],
            idempotent=True,
        )


def _fetch(
    backend: Backend, upstream: Upstream, name: str, reference: str
) -> dict[str, Any] | None:
    """The manifest (and an index's children) with every blob stored locally; None when the
    upstream has no such image."""
    manifest, media_type = _manifest(upstream, name, reference)
    if manifest is None:
        return None
    blobs: list[str] = []
    children: list[tuple[bytes, str]] = []
    document = json.loads(manifest)
    if not isinstance(document, dict):
        raise ValueError("the upstream's manifest is not a JSON object")
    if media_type in INDEX_TYPES:
        for child in (document.get("manifests") or ())[:MAX_CHILDREN]:
            child_manifest, child_type = _manifest(upstream, name, child["digest"])
            if child_manifest is None:
                raise ValueError(f"the upstream index lists {child['digest']}, which it lacks")
            children.append((child_manifest, child_type))
            blobs.extend(_blobs(backend, upstream, name, json.loads(child_manifest)))
    else:
        blobs.extend(_blobs(backend, upstream, name, document))
    return {"manifest": manifest, "media_type": media_type, "children": children, "blobs": blobs}


def _manifest(upstream: Upstream, name: str, reference: str) -> tuple[bytes | None, str]:
    """An upstream manifest, read no further than the largest one ECR stores."""
    answer = upstream.get(
        f"/v2/{name}/manifests/{reference}", headers={"Accept": ACCEPT}, stream=True
    )
    with answer:
        if answer.status_code != 200:
            return None, ""
        body = answer.raw.read(images.MAX_MANIFEST_BYTES + 1, decode_content=True)
    if len(body) > images.MAX_MANIFEST_BYTES:
        raise ValueError("the upstream's manifest is larger than ECR stores")
    if ":" in reference and digest_of(body) != reference:
        raise ValueError(f"the upstream's manifest does not hash to {reference}")
    return body, answer.headers.get("Content-Type", "").split(";")[0].strip()


def _blobs(backend: Backend, upstream: Upstream, name: str, document: dict[str, Any]) -> list[str]:
    """The digests of a manifest's config and layers, each stored (streamed, verified)."""
    wanted = [document.get("config") or {}, *(document.get("layers") or ())]
    digests = []
    for descriptor in wanted:
        digest = descriptor.get("digest")
        if not isinstance(digest, str):
            continue
        digests.append(digest)
        if backend.blobs.exists(digest):
            continue
        answer = upstream.get(f"/v2/{name}/blobs/{digest}", stream=True)
        if answer.status_code != 200:
            raise ValueError(f"the upstream lacks blob {digest}")
        writer = backend.blobs.new_writer(f"ptc-{uuid.uuid4()}")
        try:
            with answer:
                answer.raw.decode_content = False
                writer.write(answer.raw)
            writer.verify(digest)
            writer.publish(digest)
        except BaseException:
            writer.discard()
            raise
    return digests


def _check_url(url: str) -> None:
    if not url or any(c.isspace() for c in url):
        raise invalid_parameter("upstreamRegistryUrl", "Invalid upstream registry URL")
