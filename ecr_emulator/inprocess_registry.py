"""``requests`` calls to the registry, answered in-process through ``responses``.

While any ``mock_ecr`` is active, one ``responses.RequestsMock`` patches
``requests``.  A call to a registry host (``https://<account>.dkr.ecr.<region>
.amazonaws.com[.cn]/v2/...``, ``https://public.ecr.aws/v2/...``), to a layer download URL (the S3-shaped host
that GetDownloadUrlForLayer returns in-process) or to a mock's
``registry_host`` becomes a WSGI environ (werkzeug's test utilities) for that
mock's ``EmulatorApp`` — the same app the server runs — and the app's answer
streams back as the response body.  Every other URL passes through to what
``requests`` would have done without us: the network, or a ``responses`` mock
the user started before ``mock_ecr``.  (A ``responses`` mock started *inside*
``mock_ecr`` sees registry URLs first and refuses the ones it does not know.)
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests.adapters
import responses
from requests import PreparedRequest
from werkzeug.test import EnvironBuilder, run_wsgi_app

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Resolver = Callable[[str], WsgiApp | None]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_REGISTRY_URL = re.compile(
    r"^https://\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?(?::443)?/v2(?:[/?]|$)"
)
_PUBLIC_REGISTRY_URL = re.compile(
    r"^https://public\.ecr\.aws(?::443)?/(?:v2(?:[/?]|$)|_emulator/public-logos/)"
)
_DOWNLOAD_URL = re.compile(
    r"^https://prod-(?P<region>[a-z0-9-]+)-starport-layer-bucket\.s3\.(?P=region)"
    r"\.amazonaws\.com(?:\.cn)?(?::443)?/_emulator/layers/"
)


def is_aws_registry_url(url: str) -> bool:
    """A ``/v2/`` URL of an AWS-shaped registry host (ECR Public's ``public.ecr.aws`` too),
    or an in-process layer download URL."""
    return any(
        pattern.match(url) is not None
        for pattern in (_REGISTRY_URL, _PUBLIC_REGISTRY_URL, _DOWNLOAD_URL)
    )


def host_pattern(host: str) -> re.Pattern[str]:
    """Every URL (http or https) of ``host`` (``"localhost:5000"``)."""
    return re.compile(rf"^https?://{re.escape(host)}(?:[/?]|$)", re.IGNORECASE)


class _IterableReader(io.RawIOBase):
    """A read-only stream over an iterable of bytes (a WSGI body, a chunked request body)."""

    def __init__(self, chunks: Iterable[bytes | str]) -> None:
        self._source = chunks
        self._chunks: Iterator[bytes | str] = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk.encode() if isinstance(chunk, str) else chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()  # a WSGI app's iterable releases its resources (open blob files)
        super().close()


def _environ(request: PreparedRequest) -> dict[str, Any]:
    url = urlsplit(request.url or "")
    headers = {
        name: value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in request.headers.items()
    }
    body: Any = request.body  # file bodies were read by responses already
    if isinstance(body, str):
        body = body.encode()
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    streamed = body is not None and not isinstance(body, bytes)
    if streamed:  # an iterator: requests sends it with Transfer-Encoding: chunked
        headers.pop("Content-Length", None)
    builder = EnvironBuilder(
        path=url.path or "/",
        base_url=f"{url.scheme}://{url.netloc}",
        query_string=url.query,
        method=request.method,
        headers=headers,
        data=None if streamed else body,
    )
    environ = builder.get_environ()
    if streamed:
        environ["wsgi.input"] = io.BufferedReader(_IterableReader(body))
        environ["wsgi.input_terminated"] = True  # as a server does for a chunked body
        environ.pop("CONTENT_LENGTH", None)
    return environ


class RequestsInterceptor:
    """One ``RequestsMock`` for as long as any mock is active; ``resolve`` picks the app."""

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve
        self._mock: responses.RequestsMock | None = None

    @property
    def active(self) -> bool:
        return self._mock is not None

    def start(self) -> None:
        if self._mock is not None:
            return
        mock = responses.RequestsMock(
            assert_all_requests_are_fired=False,
            passthru_prefixes=(re.compile(".*", re.DOTALL),),
            # Pass through to whatever sends requests now: the network or the user's mock.
            real_adapter_send=requests.adapters.HTTPAdapter.send,
        )
        anything = re.compile(".*", re.DOTALL)
        for method in METHODS:
            mock.add(
                responses.CallbackResponse(
                    method,
                    anything,
                    callback=self._answer,
                    content_type=None,
                    match=[self._claims],
                )
            )
        mock.start()
        self._mock = mock

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop(allow_assert=False)
            self._mock = None

    def _claims(self, request: PreparedRequest) -> tuple[bool, str]:
        if self._resolve(request.url or "") is None:
            return False, "not a URL of an active mock_ecr"
        return True, ""

    def _answer(self, request: PreparedRequest) -> tuple[int, list[tuple[str, str]], Any]:
        app = self._resolve(request.url or "")
        if app is None:  # the mock that claimed the URL stopped in between
            raise requests.ConnectionError(f"no active mock_ecr answers {request.url}")
        app_iter, status, headers = run_wsgi_app(app, _environ(request))
        body = io.BufferedReader(_IterableReader(app_iter), buffer_size=64 * 1024)
        return int(status.split(" ", 1)[0]), list(headers.items()), body
