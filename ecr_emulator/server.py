"""The standalone server: one port for the ECR API, ``/v2/`` and admin routes.

Requests carrying ``X-Amz-Target`` go to the API dispatcher (both ECR
services); ``/v2/...`` goes to the registry plane; ``/_emulator/...`` are the
admin routes of the DESIGN contract.  Everything shares one ``Backend``.
Each request is logged at info level in one line: method, path, status, ms.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from . import __version__, eventbridge, serving
from .clock import AdjustableClock
from .core import iam, identities, lifecycle, public, signing
from .core.blobs import DOWNLOAD_PATH
from .core.replication import replicator_for
from .core.scanning import scanner_for
from .errors import ServiceError
from .identity import DEFAULT_ACCOUNT_ID
from .protocol.dispatcher import ApiDispatcher, error_response, request_too_large
from .registry import RegistryApp
from .registry.downloads import serve_download
from .state import Backend

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class EmulatorApp:
    """The WSGI application; ``require_auth=False`` lets the registry skip docker login."""

    def __init__(self, backend: Backend, require_auth: bool = True) -> None:
        self.backend = backend
        self.events = eventbridge.log_for(backend)
        scanner_for(backend)  # scan on push from the first push on
        replicator_for(backend)  # and replication
        signing.subscribe(backend)  # and managed signing
        self.api = ApiDispatcher(backend)
        self.registry_app = RegistryApp(backend, require_auth=require_auth)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not log.isEnabledFor(logging.INFO):
            return self._route(environ, start_response)
        started = time.perf_counter()

        def start_and_log(status: str, headers: list[Any], *exc_info: Any) -> Any:
            elapsed = (time.perf_counter() - started) * 1000
            target = environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                target += "?" + environ["QUERY_STRING"]
            code = status.split(" ", 1)[0]
            log.info("%s %s %s %.1f ms", environ.get("REQUEST_METHOD"), target, code, elapsed)
            return start_response(status, headers, *exc_info)

        return self._route(environ, start_and_log)

    def _route(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/v2" or path.startswith("/v2/"):
            return self.registry_app(environ, start_response)
        request = Request(environ)
        if path.startswith(DOWNLOAD_PATH):
            token = path[len(DOWNLOAD_PATH) :]
            return serve_download(self.backend, request, token)(environ, start_response)
        if path.startswith("/_emulator/"):
            return self._admin(request)(environ, start_response)
        if request.method == "POST" or request.headers.get("X-Amz-Target"):
            # A POST without a target still gets AWS's UnknownOperationException, not a 404.
            answer = self._api(request)
            response = Response(answer.body, answer.status, answer.headers)
            if answer.status == 413:  # the body was left unread: this connection is done
                response.headers["Connection"] = "close"
            return response(environ, start_response)
        return _json(404, {"message": f"No route for {request.method} {path}"})(
            environ, start_response
        )

    def _api(self, request: Request) -> Any:
        """One API request, its body read only as far as its operation's model allows."""
        try:
            operation = self.api.operation_for(request.headers)
            limit = operation.max_body_bytes
            if (request.content_length or 0) > limit:
                raise request_too_large(limit)
            body = _read_at_most(request, limit)
        except ServiceError as error:
            return error_response(error)
        except (HTTPException, OSError, ValueError):  # a body cut short or badly chunked
            return error_response(
                ServiceError("SerializationException", "The request body could not be read.")
            )
        return self.api.handle(request.headers, body, operation, request.remote_addr)

    def _admin(self, request: Request) -> Response:
        if request.path == "/_emulator/health" and request.method == "GET":
            return _json(200, {"status": "ok", "version": __version__})
        if request.path == "/_emulator/reset" and request.method == "POST":
            self.backend.reset()
            return _json(200, {"reset": True})
        if request.path == "/_emulator/clock" and request.method == "POST":
            return self._move_clock(request)
        if request.path == "/_emulator/lifecycle/run" and request.method == "POST":
            return _json(200, lifecycle.run(self.backend))
        if request.path == "/_emulator/iam/principals" and request.method == "POST":
            return self._put_principal(request)
        if request.path == "/_emulator/public/alias" and request.method == "POST":
            return self._set_public_alias(request)
        if request.path.startswith(public.LOGO_PATH) and request.method == "GET":
            account, _, name = request.path[len(public.LOGO_PATH) :].partition("/")
            found = public.logo(self.backend, account, name)
            if found is None:
                return _json(404, {"message": "no such logo"})
            return Response(found[0], 200, content_type=found[1])
        if request.path == "/_emulator/events" and request.method == "GET":
            found = self.events.envelopes(
                request.args.get("detail-type"), request.args.get("repository")
            )
            return _json(200, {"events": found})
        return _json(404, {"message": f"No admin route for {request.method} {request.path}"})

    def _set_public_alias(self, request: Request) -> Response:
        """``{"alias": ..., "account": ...}`` (account: the default one): the alias of that
        account's ECR Public registry, which AWS assigns and this emulator lets you choose."""
        try:
            order = json.loads(_read_at_most(request, 4096) or b"{}")
            if not isinstance(order, dict) or not isinstance(order.get("alias"), str):
                raise ValueError('expected {"alias": "<alias>", "account": "<12 digits>"}')
            account = str(order.get("account") or DEFAULT_ACCOUNT_ID)
            if not iam.is_account_id(account):
                raise ValueError("account must be 12 digits")
            alias = public.set_alias(self.backend, account, order["alias"])
        except ServiceError as error:
            return _json(400, {"message": error.message})
        except ValueError as error:
            return _json(400, {"message": str(error)})
        return _json(200, {"account": account, "alias": alias})

    def _put_principal(self, request: Request) -> Response:
        """Identity mode: ``{"accessKeyId", "arn", "policies": [...]}`` adds or replaces a
        principal (``core.identities``); 400 with the reason when it cannot be used."""
        try:
            entry = json.loads(request.get_data(cache=False) or b"{}")
            if not isinstance(entry, dict):
                raise identities.IdentityError("the body is a JSON object")
            principal = identities.put_principal(
                self.backend, entry.get("accessKeyId"), entry.get("arn"), entry.get("policies", [])
            )
        except (ValueError, identities.IdentityError) as error:
            return _json(400, {"message": str(error)})
        return _json(200, {"accessKeyId": principal.access_key_id, "arn": principal.arn})

    def _move_clock(self, request: Request) -> Response:
        """``{"advance_seconds": N}`` or ``{"now": "<ISO 8601>"}`` (or ``{}``): the new now."""
        clock = self.backend.clock
        if not isinstance(clock, AdjustableClock):
            return _json(400, {"message": "this server's clock cannot be moved"})
        try:
            order = json.loads(_read_at_most(request, 4096) or b"{}")
            if not isinstance(order, dict) or set(order) - {"advance_seconds", "now"}:
                raise ValueError('expected {"advance_seconds": N} or {"now": "<ISO 8601>"}')
            if "advance_seconds" in order and "now" in order:
                raise ValueError("give advance_seconds or now, not both")
            if "advance_seconds" in order:
                seconds = order["advance_seconds"]
                if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                    raise ValueError("advance_seconds must be a number")
                if not -1e10 < seconds < 1e10:
                    raise ValueError("advance_seconds is out of range")
                clock.advance(seconds)
            elif "now" in order:
                when = _dt.datetime.fromisoformat(str(order["now"]).replace("Z", "+00:00"))
                clock.set(when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc))
        except ServiceError as error:
            return _json(error.status, {"message": error.message})
        except (ValueError, OverflowError) as error:
            return _json(400, {"message": f"invalid clock request: {error}"})
        return _json(200, {"now": clock.now().isoformat()})


def _read_at_most(request: Request, limit: int) -> bytes:
    """The request body, or ``request_too_large`` once it passes ``limit`` bytes."""
    stream = request.stream
    parts, size = [], 0
    while chunk := stream.read(min(1024 * 1024, limit + 1 - size)):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise request_too_large(limit)
    return b"".join(parts)


def _json(status: int, data: Any) -> Response:
    return Response(json.dumps(data), status, content_type="application/json")


def build_server(host: str, port: int, app: EmulatorApp, **options: Any) -> serving.Server:
    """The production server (``serving``) bound to ``host:port``; port 0 picks a free one."""
    return serving.make_server(host, port, app, **options)


class BackgroundServer:
    """A server on a thread of this process, for the pytest fixture and embedding."""

    def __init__(self, app: EmulatorApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = build_server(host, port, app, shutdown_timeout=5.0)
        self.host = host
        self.port = serving.bound_port(self._server)
        self._thread = threading.Thread(target=self._server.serve, name="ecr-emulator", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def backend(self) -> Backend:
        return self.app.backend

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._thread.join(timeout=5)
