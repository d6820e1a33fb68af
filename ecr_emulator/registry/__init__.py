"""The registry plane: OCI Distribution Spec v1.1 / Docker Registry HTTP API V2 at ``/v2/``.

Split by resource like CNCF distribution: ``blobs`` (blobs and uploads),
``manifests``, ``listing`` (tags and referrers).  Each handler is a thin
adapter over ``core``, the same core the ECR API uses: it reads the HTTP
request, calls one core function as the caller its password names, and
writes the answer.  The core's ECR errors become the registry's error codes
in one place (``errors.from_service_error``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from ..core import Caller, public
from ..errors import ServiceError
from ..state import PUBLIC_HOST, Backend
from . import blobs, listing, manifests
from .auth import TOKEN_PATH, authenticate, authenticate_public, ping, token
from .errors import API_VERSION_HEADER, RegistryError, from_service_error, name_unknown

log = logging.getLogger(__name__)

NAME = r"(?P<name>[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)"


@dataclass(slots=True)
class RegistryCall:
    """One /v2/ request: who is calling, which registry and repository, the raw request;
    ``path_name`` is the repository as the URL names it (what Location headers repeat)."""

    request: Request
    caller: Caller
    registry_id: str
    name: str
    params: dict[str, str]
    path_name: str = ""

    def __post_init__(self) -> None:
        self.path_name = self.path_name or self.name

    @property
    def backend(self) -> Backend:
        return self.caller.backend


Handler = Callable[[RegistryCall], Response]

ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (
        re.compile(rf"^/v2/{NAME}/blobs/uploads/?$"),
        {"POST": blobs.start_upload},
    ),
    (
        re.compile(rf"^/v2/{NAME}/blobs/uploads/(?P<upload_id>[^/]+)$"),
        {
            "GET": blobs.upload_status,
            "PATCH": blobs.upload_chunk,
            "PUT": blobs.finish_upload,
            "DELETE": blobs.cancel_upload,
        },
    ),
    (
        re.compile(rf"^/v2/{NAME}/blobs/(?P<digest>[^/]+)$"),
        {"GET": blobs.get_blob, "HEAD": blobs.get_blob, "DELETE": blobs.delete_blob},
    ),
    (
        re.compile(rf"^/v2/{NAME}/manifests/(?P<reference>[^/]+)$"),
        {
            "GET": manifests.get_manifest,
            "HEAD": manifests.get_manifest,
            "PUT": manifests.put_manifest,
            "DELETE": manifests.delete_manifest,
        },
    ),
    (re.compile(rf"^/v2/{NAME}/tags/list$"), {"GET": listing.list_tags}),
    (re.compile(rf"^/v2/{NAME}/referrers/(?P<digest>[^/]+)$"), {"GET": listing.list_referrers}),
]


class RegistryApp:
    """WSGI app for ``/v2/``; ``require_auth=False`` is the server's ``--no-auth``."""

    def __init__(self, backend: Backend, require_auth: bool = True) -> None:
        self.backend = backend
        self.require_auth = require_auth

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except RegistryError as error:
            response = error.response()
        except ServiceError as error:
            response = from_service_error(error).response()
        except HTTPException as error:  # werkzeug's: e.g. the client hung up mid-body
            code = "BLOB_UPLOAD_INVALID" if "/blobs/uploads/" in request.path else "UNSUPPORTED"
            response = RegistryError(
                code, error.description or error.name, error.code or 400
            ).response()
        except Exception as error:  # a bug of ours, or the store failing: the server's error
            log.exception("internal error on %s %s", request.method, request.path)
            response = RegistryError("UNKNOWN", f"internal error: {error!r}", 500).response()
        response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path == TOKEN_PATH:
            return token(self.backend, request)
        public_path = _public_path(request)
        if public_path is not None:
            return self._dispatch_public(request, public_path)
        if path in ("/v2", "/v2/"):  # the ping: a login that works, the anonymous token too
            if self.require_auth:
                ping(self.backend, request)
            return Response("{}", 200, content_type="application/json")
        who = authenticate(self.backend, request, self.require_auth)
        handler, name, params = _route(request, path)
        return handler(RegistryCall(request, who.caller, who.registry_id, name, params))

    def _dispatch_public(self, request: Request, path: str) -> Response:
        """A request to a public repository, ``/v2/<alias>/<repository>/...`` once the
        public prefix is taken off: anyone may pull, a push needs a login."""
        # an upload's status is a GET, but only its uploader's: no one's without a login
        writing = request.method not in ("GET", "HEAD") or "/blobs/uploads/" in path
        caller = authenticate_public(self.backend, request, self.require_auth, writing)
        handler, name, params = _route(request, path)
        alias, _, repository = name.partition("/")
        with self.backend.lock:
            registry = public.registry_for_alias(self.backend, alias) if repository else None
            owner = registry.account_id if registry is not None else None
        if owner is None:
            raise name_unknown("repository name not known to registry", name)
        url_name = name if request.host == PUBLIC_HOST else f"{PUBLIC_HOST}/{name}"
        return handler(RegistryCall(request, caller, owner, repository, params, url_name))


def _route(request: Request, path: str) -> tuple[Handler, str, dict[str, str]]:
    """The handler, repository name and URL parameters of a ``/v2/`` path."""
    for pattern, handlers in ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        handler = handlers.get(request.method)
        if handler is None:
            raise RegistryError("UNSUPPORTED", f"{request.method} is not supported on {path}", 405)
        params = match.groupdict()
        return handler, params.pop("name"), params
    raise RegistryError("NAME_INVALID", f"no registry route for {path}", 404, {"path": path})


def _public_path(request: Request) -> str | None:
    """The ``/v2/<alias>/...`` path of a request to ECR Public, or None for a private one.

    In-process, ECR Public has its own host, ``public.ecr.aws``.  A server has one host
    for everything, and docker's name grammar is ECR's, so no form of name docker
    accepts lies outside what a private repository may be called: public repositories
    are under ``<host>/public.ecr.aws/<alias>/<repository>``, the real image reference
    behind the server's host, and the private registry refuses names under that prefix
    (``core.repositories``), so the two never meet."""
    path = request.path
    if request.host == PUBLIC_HOST:
        return path if path.startswith("/v2/") and len(path) > 4 else None
    prefix = f"/v2/{PUBLIC_HOST}/"
    if path.startswith(prefix):
        return "/v2/" + path[len(prefix) :]
    return None
