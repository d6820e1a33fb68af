"""pytest fixtures, registered through the ``pytest11`` entry point.

``ecr_mock``   — a fresh in-process ECR for one test (``mock_ecr`` active).
``ecr_server`` — a live emulator on a free loopback port, started once per
session and reset before each test that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .clock import AdjustableClock
from .mock import mock_ecr
from .server import BackgroundServer, EmulatorApp
from .state import Backend


@pytest.fixture
def ecr_mock() -> Iterator[mock_ecr]:
    """An active ``mock_ecr``: every boto3 ``ecr``/``ecr-public`` client is answered in-process."""
    with mock_ecr() as mock:
        yield mock


@pytest.fixture(scope="session")
def ecr_server_session() -> Iterator[BackgroundServer]:
    """One emulator server for the whole session (use ``ecr_server`` in tests)."""
    server = BackgroundServer(EmulatorApp(Backend(clock=AdjustableClock())), port=0)
    server.backend.registry_host = f"{server.host}:{server.port}"
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ecr_server(ecr_server_session: BackgroundServer) -> BackgroundServer:
    """The session's emulator server, with all state cleared for this test.

    ``ecr_server.url`` is the ``endpoint_url`` for boto3 and ``aws --endpoint-url``.
    """
    ecr_server_session.backend.reset()
    return ecr_server_session
