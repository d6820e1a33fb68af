"""``mock_ecr``: answer every botocore ``ecr`` / ``ecr-public`` call in-process.

A ``before-send`` handler is added to botocore's built-in handlers when this
module is imported, so every session made afterwards carries it, and it is
also added to sessions that already exist (boto3's default session).  The
handler does nothing unless a mock is active; inside one, it hands the signed
request to the same ``ApiDispatcher`` the HTTP server uses and returns its
answer as the HTTP response, so botocore still parses the wire format.

``requests`` calls to the registry (``/v2/``, layer download URLs, a mock's
``registry_host``) are answered by the mock's ``EmulatorApp`` through
``inprocess_registry``, patched in while any mock is active.
"""

from __future__ import annotations

import functools
import inspect
import io
import os
import threading
import unittest
from collections.abc import Callable
from typing import Any, TypeVar

import botocore.handlers
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from .clock import Clock
from .inprocess_registry import RequestsInterceptor, WsgiApp, host_pattern, is_aws_registry_url
from .protocol.dispatcher import ApiDispatcher
from .state import Backend

T = TypeVar("T")
MOCKED_SERVICES = frozenset({"ecr", "ecr-public"})
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

_DISPATCH_HEADERS = ("X-Amz-Target", "Authorization")

_active: list[mock_ecr] = []
_active_lock = threading.Lock()


class _RawBody(io.BytesIO):
    """What botocore reads a response body from (``raw.stream()``)."""

    def stream(self, **_kwargs: Any) -> Any:
        yield self.getvalue()


def _answer_in_process(
    request: AWSPreparedRequest, event_name: str = "", **_: Any
) -> AWSResponse | None:
    if not _active:
        return None
    service = event_name.split(".")[1] if event_name.count(".") >= 1 else ""
    if service not in MOCKED_SERVICES:
        return None
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    elif hasattr(body, "read"):
        body = body.read()
    headers = {  # all the dispatcher reads; botocore may hold them as bytes
        name: value.decode("latin-1") if isinstance(value, bytes) else value
        for name in _DISPATCH_HEADERS
        if (value := request.headers.get(name)) is not None
    }
    answer = _active[-1].dispatcher.handle(headers, body or b"")
    return AWSResponse(request.url, answer.status, answer.headers, _RawBody(answer.body))


def _install() -> None:
    handler = ("before-send", _answer_in_process)
    if handler not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(handler)
    try:  # boto3's default session may predate this import
        import boto3

        if boto3.DEFAULT_SESSION is not None:
            events = boto3.DEFAULT_SESSION._session.get_component("event_emitter")
            events.register("before-send", _answer_in_process, unique_id="ecr-emulator")
    except ImportError:
        pass


_install()


def _app_for(url: str) -> WsgiApp | None:
    """The app of the innermost active mock that answers ``url`` (a registry URL)."""
    for mock in reversed(_active.copy()):  # other threads may start and stop mocks
        if mock.answers(url):
            return mock.app
    return None


_requests_interceptor = RequestsInterceptor(_app_for)


class mock_ecr:
    """Run code against a fresh in-process ECR.

    Use as ``@mock_ecr`` or ``@mock_ecr(...)`` on a function or a class (every
    ``test*`` method gets its own fresh state; on a ``unittest.TestCase`` that state
    also covers ``setUp`` and ``tearDown``), or as ``with mock_ecr() as ecr:``.
    ``ecr.backend`` is the state, for tests that look inside or move a
    ``ManualClock``.  Options: ``clock``, ``strict`` (PutImage requires the
    manifest's blobs and child images), ``registry_host`` (URIs point there, and
    ``requests`` calls to that host are answered in-process too).
    """

    def __new__(cls, func: Callable[..., Any] | type | None = None, **options: Any) -> Any:
        if func is None:
            return super().__new__(cls)
        return _decorate(func, options)

    def __init__(
        self,
        func: None = None,
        *,
        clock: Clock | None = None,
        strict: bool = False,
        registry_host: str | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "clock": clock,
            "strict": strict,
            "registry_host": registry_host,
        }
        self._saved_env: dict[str, str | None] = {}
        self.backend = Backend(clock=clock, strict_manifests=strict, registry_host=registry_host)
        self.dispatcher = ApiDispatcher(self.backend)
        self._registry_url = host_pattern(registry_host) if registry_host else None
        self._app: WsgiApp | None = None

    @property
    def app(self) -> WsgiApp:
        """The server's WSGI app on this mock's state, answering ``requests`` in-process."""
        with _active_lock:
            if self._app is None:
                from .server import EmulatorApp  # imported late: server imports the package

                self._app = EmulatorApp(self.backend)
            return self._app

    def answers(self, url: str) -> bool:
        """Whether ``requests`` calls to ``url`` are this mock's to answer."""
        if self._registry_url is not None and self._registry_url.match(url):
            return True
        return is_aws_registry_url(url)

    def __call__(self, func: Callable[..., T] | type) -> Any:
        """``@mock_ecr(...)``: decorate with this instance's options."""
        return _decorate(func, self._options)

    def start(self) -> mock_ecr:
        """Answer ECR calls from now on (state is kept if this mock was stopped before)."""
        for key, value in _FAKE_CREDENTIALS.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ.setdefault(key, value)
        with _active_lock:
            _active.append(self)
            _requests_interceptor.start()
        return self

    def stop(self) -> None:
        with _active_lock:
            if self in _active:
                _active.remove(self)
            if not _active:
                _requests_interceptor.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
        self._saved_env.clear()

    def __enter__(self) -> mock_ecr:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _decorate(target: Callable[..., Any] | type, options: dict[str, Any]) -> Any:
    if inspect.isclass(target) and issubclass(target, unittest.TestCase):
        _decorate_test_case(target, options)
        return target
    if inspect.isclass(target):
        for name in dir(target):  # inherited test methods too, wrapped on this class only
            member = inspect.getattr_static(target, name)
            if name.startswith("test") and inspect.isfunction(member):
                setattr(target, name, _decorate(member, options))
        return target

    if inspect.iscoroutinefunction(target):  # the mock must span the awaited body

        @functools.wraps(target)
        async def await_in_mock(*args: Any, **kwargs: Any) -> Any:
            with mock_ecr(**options):
                return await target(*args, **kwargs)

        return await_in_mock

    @functools.wraps(target)
    def run_in_mock(*args: Any, **kwargs: Any) -> Any:
        with mock_ecr(**options):
            return target(*args, **kwargs)

    return run_in_mock


def _decorate_test_case(case: type[unittest.TestCase], options: dict[str, Any]) -> None:
    """unittest calls setUp, the test and tearDown from ``run``: one fresh mock spans all three."""
    original_run = case.run

    @functools.wraps(original_run)
    def run(self: unittest.TestCase, result: Any = None) -> Any:
        with mock_ecr(**options):
            return original_run(self, result)

    case.run = run  # type: ignore[method-assign]
