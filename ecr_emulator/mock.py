"""``mock_ecr``: answer every botocore ``ecr`` / ``ecr-public`` call in-process.

Nothing is patched on import.  When the first mock starts, botocore's
``Endpoint._send`` (the one step every client takes to put a request on the
wire, after signing and after any ``before-send`` hook) is wrapped, so every
client is answered, including clients made before the mock started; when the
last mock stops, it is put back.  The wrapper hands an ECR request (known by
its ``X-Amz-Target``) to the same ``ApiDispatcher`` the HTTP server uses and
returns its answer as the HTTP response, so botocore still parses the wire
format; anything else goes out as before.

Each thread sees its own innermost mock, so two threads each inside their own
``mock_ecr`` never see each other's state; a thread with no mock of its own
(a worker a test started) sees the mock started last.

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

import botocore.endpoint
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from .clock import Clock
from .core import identities, signing
from .core.replication import replicator_for
from .core.scanning import scanner_for
from .eventbridge import log_for
from .inprocess_registry import RequestsInterceptor, WsgiApp, host_pattern, is_aws_registry_url
from .protocol.dispatcher import ApiDispatcher
from .service_models import service_model
from .state import Backend

T = TypeVar("T")
MOCKED_SERVICES = ("ecr", "ecr-public")
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

_DISPATCH_HEADERS = ("X-Amz-Target", "Authorization")

_active: list[mock_ecr] = []  # every active mock, oldest first
_active_lock = threading.Lock()
_thread = threading.local()  # .stack: this thread's active mocks, innermost last
_original_send: Any = None


class _RawBody(io.BytesIO):
    """What botocore reads a response body from (``raw.stream()``)."""

    def stream(self, **_kwargs: Any) -> Any:
        yield self.getvalue()


def current_mock() -> mock_ecr | None:
    """This thread's innermost active mock, else the one started last by any thread."""
    stack = getattr(_thread, "stack", None)
    if stack:
        return stack[-1]
    active = _active
    return active[-1] if active else None


@functools.cache
def _target_prefixes() -> tuple[str, ...]:
    return tuple(service_model(name).metadata["targetPrefix"] + "." for name in MOCKED_SERVICES)


def _answer_in_process(request: AWSPreparedRequest) -> AWSResponse | None:
    mock = current_mock()
    if mock is None:
        return None
    target = request.headers.get("X-Amz-Target")
    if isinstance(target, bytes):
        target = target.decode("latin-1")
    if not target or not target.startswith(_target_prefixes()):
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
    answer = mock.dispatcher.handle(headers, body or b"")
    return AWSResponse(request.url, answer.status, answer.headers, _RawBody(answer.body))


def _send_or_answer(endpoint: Any, request: AWSPreparedRequest) -> Any:
    answer = _answer_in_process(request)
    if answer is not None:
        return answer
    return _original_send(endpoint, request)


def _patch_botocore() -> None:
    """Route every client's requests through ``_send_or_answer`` (``_active_lock`` held)."""
    global _original_send
    if _original_send is None:
        _original_send = botocore.endpoint.Endpoint._send
        botocore.endpoint.Endpoint._send = _send_or_answer  # type: ignore[method-assign]


def _unpatch_botocore() -> None:
    global _original_send
    if _original_send is not None:
        botocore.endpoint.Endpoint._send = _original_send  # type: ignore[method-assign]
        _original_send = None


def _app_for(url: str) -> WsgiApp | None:
    """The app of the mock that answers ``url`` (a registry URL): this thread's innermost
    first, then the others, newest first."""
    stack = list(getattr(_thread, "stack", ()))
    for mock in [*reversed(stack), *reversed(_active.copy())]:
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
    ``requests`` calls to that host are answered in-process too), ``seed`` (fixtures),
    ``vuln_db`` (a directory of OSV advisories that scans match; default: a sample),
    ``enforce_iam`` and ``principals`` (the identity mode: ``core.identities``),
    ``events_webhook`` (a URL every EventBridge-shaped event is POSTed to).
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
        seed: str | os.PathLike[str] | dict[str, Any] | None = None,
        vuln_db: str | os.PathLike[str] | None = None,
        enforce_iam: bool = False,
        principals: list[dict[str, Any]] | None = None,
        events_webhook: str | None = None,
        secrets: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "clock": clock,
            "strict": strict,
            "registry_host": registry_host,
        }
        self._saved_env: dict[str, str | None] = {}
        self.backend = Backend(
            clock=clock,
            strict_manifests=strict,
            registry_host=registry_host,
            enforce_iam=enforce_iam,
        )
        self.backend.secrets = dict(secrets or {})  # pull-through credentials, by secret ARN
        for entry in principals or ():
            self.add_principal(entry["accessKeyId"], entry["arn"], entry.get("policies", ()))
        self.dispatcher = ApiDispatcher(self.backend)
        log_for(self.backend, events_webhook)  # from the start: events() sees everything
        # scans run before the call that starts them returns; advisories from vuln_db (a
        # directory of OSV JSON files) or the sample feed
        scanner_for(self.backend, vuln_db, synchronous=True)
        replicator_for(self.backend, synchronous=True)  # replicas exist when a push returns
        signing.subscribe(self.backend)
        if seed is not None:  # fixtures: see ecr_emulator.seed
            from . import seed as fixtures

            fixtures.apply(self.backend, seed)
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

    def add_principal(
        self, access_key_id: str, arn: str, policies: list[Any] | tuple[Any, ...] = ()
    ) -> None:
        """Identity mode (``enforce_iam=True``): requests signed with ``access_key_id`` act as
        ``arn`` with these identity policies (``ecr_emulator.core.identities``)."""
        identities.put_principal(self.backend, access_key_id, arn, policies)

    def events(
        self, detail_type: str | None = None, repository: str | None = None
    ) -> list[dict[str, Any]]:
        """The EventBridge events ECR would have sent, oldest first (the server's
        ``GET /_emulator/events``), of one ``detail-type`` and/or repository."""
        return log_for(self.backend).envelopes(detail_type, repository)

    def run_lifecycle(self) -> list[dict[str, Any]]:
        """Apply every repository's lifecycle policy now (the server's
        ``POST /_emulator/lifecycle/run``): the actions taken, in order."""
        from .core import lifecycle

        return lifecycle.run(self.backend)

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
            _patch_botocore()
            _requests_interceptor.start()
        stack = getattr(_thread, "stack", None)
        if stack is None:
            stack = _thread.stack = []
        stack.append(self)
        return self

    def stop(self) -> None:
        stack = getattr(_thread, "stack", [])
        if self in stack:
            stack.remove(self)
        with _active_lock:
            if self in _active:
                _active.remove(self)
            if not _active:
                _requests_interceptor.stop()
                _unpatch_botocore()
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
