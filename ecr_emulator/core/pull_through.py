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
...}}``, the keys AWS's secrets for pull-through caching hold).  The manifest comes on
the pull's manifest GET; each blob on its own first GET, streamed to that client while it
is stored (``UpstreamBlob``), never whole in memory, and linked only once verified.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import uuid
from typing import Any

import requests
import urllib3

from ..digests import digest_of
from ..errors import ServiceError, invalid_parameter
from ..media_types import INDEX_TYPES
from ..state import Backend, Registry
from . import access, blobs, creation_templates, images, prefixed, repositories
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
    with caller.backend.transaction():
        registry = access.own_registry(caller, None, "ecr:DeletePullThroughCacheRule", "*")
        registry.pull_through_rules, rule = prefixed.removed(
            registry.pull_through_rules, prefix, lambda p: _not_found(p, registry.account_id)
        )
        return rule


def describe_rules(
    caller: Caller, prefixes: list[str] | None, next_token: str | None, max_results: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    return prefixed.page(
        caller,
        "pull_through_rules",
        prefixes,
        next_token,
        max_results,
        lambda p: _not_found(p, caller.account),
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
        return self.request("GET", path, **options)

    def head(self, path: str, **options: Any) -> requests.Response:
        return self.request("HEAD", path, **options)

    def request(self, method: str, path: str, **options: Any) -> requests.Response:
        headers = dict(options.pop("headers", {}))
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        url = self.base + path
        answer = self.session.request(method, url, headers=headers, timeout=TIMEOUT, **options)
        if answer.status_code != 401:
            return answer
        challenge = answer.headers.get("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic" and self.credentials:
            answer.close()
            return self.session.request(
                method, url, headers=headers, auth=self.credentials, timeout=TIMEOUT, **options
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
                    answer.close()
                    return self.session.request(
                        method, url, headers=headers, timeout=TIMEOUT, **options
                    )
        return answer


def _source(registry: Registry, name: str) -> tuple[dict[str, Any], str] | None:
    """The rule covering repository ``name`` and the upstream repository it stands for."""
    if not registry.pull_through_rules:
        return None
    rule = prefixed.covering(registry.pull_through_rules, name)
    if rule is None:
        return None
    remainder = (
        name
        if rule["ecrRepositoryPrefix"] == prefixed.ROOT
        else name[len(rule["ecrRepositoryPrefix"]) + 1 :]
    )
    prefix = rule.get("upstreamRepositoryPrefix")
    if prefix and prefix != prefixed.ROOT:
        return rule, f"{prefixed.normal(prefix)}/{remainder}"
    return rule, remainder


def _upstream(backend: Backend, rule: dict[str, Any]) -> Upstream:
    return Upstream(rule["upstreamRegistryUrl"], _secret(backend, rule.get("credentialArn")))


def sync(caller: Caller, registry_id: str | None, name: str, reference: str) -> None:
    """Before a registry GET of a manifest: fetch it from the upstream when a rule covers
    the repository and the image is not here, or is named by a tag (which may have
    moved).  Only manifests come now; each blob comes on its own first GET
    (``from_upstream``), streamed to that client while it is stored.  Network work
    outside the lock; nothing changes if the upstream fails."""
    account = registry_id or caller.account
    backend = caller.backend
    registry = backend.find_registry(account, caller.region)
    if account != caller.account or registry is None:
        return
    source = _source(registry, name)
    if source is None:
        return
    rule, upstream_name = source
    repository = registry.repositories.get(name)
    by_digest = ":" in reference
    if by_digest and repository is not None and reference in repository.images:
        return
    try:
        fetched = _fetch(_upstream(backend, rule), upstream_name, reference)
    except (requests.RequestException, ServiceError, ValueError, RecursionError) as error:
        log.info("pull through %s from %s failed: %s", name, rule["upstreamRegistryUrl"], error)
        return
    if fetched is None:
        return
    manifest, media_type, children = fetched
    owner = Caller(backend, account, caller.region)
    with backend.transaction():
        if registry.repositories.get(name) is None:
            template = creation_templates.template_for(registry, name, "PULL_THROUGH_CACHE")
            if template is not None:
                creation_templates.create_from_template(owner, registry, name, template)
            else:
                repositories.create(owner, account, name)
        for child, child_type in children:
            images.put_image(
                owner, account, name, child, media_type=child_type, strict=False, idempotent=True
            )
        images.put_image(
            owner,
            account,
            name,
            manifest,
            media_type=media_type,
            tags=[] if by_digest else [reference],
            strict=False,
            idempotent=True,
        )


def _fetch(
    upstream: Upstream, name: str, reference: str
) -> tuple[bytes, str, list[tuple[bytes, str]]] | None:
    """The manifest and, for an index, its children; None when the upstream has no such
    image."""
    manifest, media_type = _manifest(upstream, name, reference)
    if manifest is None:
        return None
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
    return manifest, media_type, children


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


# --- blobs ------------------------------------------------------------------------------------


def from_upstream(
    caller: Caller, registry_id: str | None, name: str, digest: str, action: str, *, head: bool
) -> UpstreamBlob | None:
    """A blob that an image cached from an upstream names but this repository does not
    hold yet, opened at the upstream; None when no rule covers the repository, no image
    of it names ``digest``, or the upstream does not serve it.

    Only the upstream's own bytes, hashed to ``digest``, ever link a blob here: a blob
    that some other repository already stored is fetched again all the same, or a
    manifest naming another account's digest would reach its bytes."""
    backend = caller.backend
    with backend.lock:
        repository = access.repository(caller, registry_id, name, action)
        if repository.holds_blob(digest) or digest not in repository.blob_refs:
            return None
        source = _source(repository.registry, name)
        scope = repository.scope
    if source is None:
        return None
    rule, upstream_name = source
    path = f"/v2/{upstream_name}/blobs/{digest}"
    try:
        upstream = _upstream(backend, rule)
        answer = (upstream.head if head else upstream.get)(path, stream=True)
    except (requests.RequestException, ServiceError) as error:
        log.info("pull through %s from %s failed: %s", digest, rule["upstreamRegistryUrl"], error)
        return None
    if answer.status_code != 200:
        answer.close()
        return None
    length = answer.headers.get("Content-Length", "")
    size = int(length) if length.isdigit() and len(length) < 20 else None
    if head:
        answer.close()
        return UpstreamBlob(backend, scope, digest, None, size)
    answer.raw.decode_content = False
    return UpstreamBlob(backend, scope, digest, answer, size)


class UpstreamBlob:
    """A blob on its way from the upstream to one client and into the store (CNCF
    distribution's proxy does the same).

    The server reads it like a file (``readinto``): each read comes from the upstream
    straight into the server's own send buffer, and a copy goes to a thread that
    writes it into a blob writer.  The client is kept waiting neither for the disk
    (at most ``_PENDING`` chunks wait for the writer, so a layer never sits in
    memory) nor for sha256: once every byte has arrived, the writer hashes the bytes
    it wrote, and only bytes that hash to ``digest`` are published and linked into
    the repository.  A request for the blob meanwhile waits for that (``settle``).
    A client that goes away before the end takes the download with it.
    """

    def __init__(
        self,
        backend: Backend,
        scope: tuple[str, str, str],
        digest: str,
        answer: requests.Response | None,
        size: int | None,
    ) -> None:
        self.backend = backend
        self.scope = scope
        self.digest = digest
        self.size = size
        self._answer = answer
        self._received = 0
        self._complete = False
        self._pending: queue.Queue[tuple[memoryview, int] | None] = queue.Queue()
        self._free: queue.Queue[memoryview] = queue.Queue()
        self._writer_thread: threading.Thread | None = None
        self._pieces = 0  # buffers made for the writer so far
        self.stored = threading.Event()
        self.held = False
        self._key = (id(backend), *scope, digest)

    # --- read by the server, as a file -------------------------------------------------------

    def readinto(self, buffer: memoryview) -> int:
        """The upstream's next bytes, also queued for the store; 0 at the end."""
        if self._answer is None or self._complete:
            return 0
        if self._writer_thread is None:
            self._start_writer()
        want = min(len(buffer), (self.size or MAX_LAYER_BYTES) - self._received)
        try:
            # read1: what has come, up to ``want`` (one receive), so the client is never
            # kept waiting for a whole buffer of a layer the upstream sends slowly
            chunk = self._answer.raw.read1(want) if want > 0 else b""
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            log.info("pull through of %s broke off: %s", self.digest, error)
            self.close()  # cut short: the writer discards, the client sees the body end early
            return 0
        count = len(chunk)
        buffer[:count] = chunk
        if not count:  # the end; with no length given, complete unless the cap cut it
            self._complete = self._received == self.size if self.size is not None else want > 0
            self.close()
            return 0
        self._received += count
        copied = 0
        while copied < count:  # into the writer's buffers, waiting while it is behind
            piece = self._piece()
            step = min(len(piece), count - copied)
            piece[:step] = buffer[copied : copied + step]
            self._pending.put((piece, step))
            copied += step
        if self.size is not None and self._received == self.size:
            self._complete = True
            self.close()
        return count

    def read(self, size: int = -1) -> bytes:
        """For servers that iterate a file rather than ``readinto`` it."""
        buffer = bytearray(size if 0 < size <= _PIECE else _PIECE)
        count = self.readinto(memoryview(buffer))
        return bytes(buffer[:count])

    def close(self) -> None:
        """The response is done: the writer finishes (complete) or discards (cut short)."""
        if self._answer is not None:
            self._answer.close()
            self._answer = None
            if self._writer_thread is not None:
                self._pending.put(None)
            else:
                self.stored.set()

    def store(self) -> bool:
        """Fetch and store the whole blob with no client; whether it is held here now."""
        buffer = memoryview(bytearray(_PIECE))
        try:
            while self.readinto(buffer):
                pass
        except queue.Empty:  # the writer stalled (a full disk): give up on this one
            log.info("pull through of %s: the store did not keep up", self.digest)
        self.close()
        self.stored.wait()
        return self.held

    # --- the writer ----------------------------------------------------------------------------

    def _piece(self) -> memoryview:
        """A free buffer for the writer: a new one while fewer than ``_PENDING`` exist (a
        small layer needs one), else the next the writer gives back."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if self._pieces < _PENDING:
                self._pieces += 1
                return memoryview(bytearray(min(_PIECE, self.size or _PIECE)))
        return self._free.get(timeout=2 * TIMEOUT)

    def _start_writer(self) -> None:
        self._writer_thread = threading.Thread(
            target=self._write, name="ecr-emulator-pull-through", daemon=True
        )
        with _LOCK:
            _STORING[self._key] = self
        self._writer_thread.start()

    def _write(self) -> None:
        writer = self.backend.blobs.new_writer(f"ptc-{uuid.uuid4()}")
        try:
            writer.write(_Pieces(self._pending, self._free), hash_now=False)  # type: ignore[arg-type]
            if not self._complete:
                raise ValueError("the download was cut short")
            writer.verify(self.digest)
            writer.publish(self.digest)
        except Exception as error:
            writer.discard()
            log.info("pull through of %s did not store it: %s", self.digest, error)
        else:
            self.held = self._link()
        finally:
            with _LOCK:
                if _STORING.get(self._key) is self:
                    del _STORING[self._key]
            self.stored.set()

    def _link(self) -> bool:
        """The stored blob joins the repository, if it is still there and still names it;
        else its bytes go again unless another repository holds them."""
        account, region, name = self.scope
        with self.backend.transaction() as events:
            registry = self.backend.find_registry(account, region)
            repository = registry.repositories.get(name) if registry is not None else None
            if repository is not None and self.digest in repository.blob_refs:
                repository.link_blob(self.digest)
                return True
            if not self.backend.blob_holders.get(self.digest):
                blobs.free(self.backend, [self.digest], events)
            return False


_PIECE = 1024 * 1024
_PENDING = 16  # MiB of a download that may wait for the disk
# the most a layer of unknown length is read to: ECR's own largest layer ("Layer size",
# 52,000 MiB, in the user guide's service quotas)
MAX_LAYER_BYTES = 52_000 * 1024 * 1024
_LOCK = threading.Lock()
_STORING: dict[tuple[int, str, str, str, str], UpstreamBlob] = {}  # by backend, repository, digest


def settle(caller: Caller, registry_id: str | None, name: str, digest: str) -> bool:
    """Wait for a download of ``digest`` into this repository that is under way; whether
    there was one (so the blob may be here now).  A second client of a layer on its way
    (parallel ``docker pull``s of images that share it) waits for it rather than fetching
    it again, for as long as it keeps moving: one that stalls for ``TIMEOUT`` seconds is
    left to itself, and the caller fetches its own copy."""
    key = (id(caller.backend), registry_id or caller.account, caller.region, name, digest)
    with _LOCK:
        storing = _STORING.get(key)
    if storing is None:
        return False
    moved, received = time.monotonic(), storing._received
    while not storing.stored.wait(timeout=1.0):
        if storing._received != received or storing._complete:
            moved, received = time.monotonic(), storing._received
        elif time.monotonic() - moved > TIMEOUT:
            return False
    return True


class _Pieces:
    """The writer's side of the hand-over: the queued pieces, read as a stream."""

    def __init__(self, pending: queue.Queue[Any], free: queue.Queue[memoryview]) -> None:
        self._pending = pending
        self._free = free

    def readinto(self, buffer: memoryview) -> int:
        item = self._pending.get()
        if item is None:
            return 0
        piece, count = item
        buffer[:count] = piece[:count]
        self._free.put(piece)
        return count

    def read(self, size: int = -1) -> bytes:
        """The next piece (at most ``_PIECE`` bytes, as much as a blob writer asks for)."""
        item = self._pending.get()
        if item is None:
            return b""
        piece, count = item
        data = bytes(piece[:count])
        self._free.put(piece)
        return data


def _check_url(url: str) -> None:
    if not url or any(c.isspace() for c in url):
        raise invalid_parameter("upstreamRegistryUrl", "Invalid upstream registry URL")
