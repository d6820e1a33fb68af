"""ecr-emulator: a local Amazon ECR for tests — in-process, as a server, or in docker-compose."""

from .clock import ManualClock, SystemClock
from .identity import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from .mock import mock_ecr
from .state import Backend

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_REGION",
    "Backend",
    "ManualClock",
    "SystemClock",
    "__version__",
    "mock_ecr",
]
