"""The single source of time for the emulator.

Token expiry, ``imagePushedAt``, ``createdAt`` and lifecycle ages all read the
clock held by the backend, so a test can freeze or move time in one place.
``SystemClock`` asks ``datetime.now`` on every call, which is what lets
freezegun work in-process without any hook of ours.
"""

from __future__ import annotations

import datetime as _dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> _dt.datetime:
        """The current time, timezone-aware in UTC."""
        ...


class SystemClock:
    """Wall-clock time (patched transparently by freezegun)."""

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.timezone.utc)


class ManualClock:
    """A clock that only moves when told to, for tests that do not use freezegun."""

    def __init__(self, start: _dt.datetime | None = None) -> None:
        self._now = start or _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)

    def now(self) -> _dt.datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        """Move forward by a ``timedelta(**delta)``, e.g. ``advance(hours=13)``."""
        self._now += _dt.timedelta(**delta)

    def set(self, when: _dt.datetime) -> None:
        self._now = when


class AdjustableClock:
    """Wall-clock time moved by an offset: what the server runs on, so a test against a
    live server can age images or expire tokens (``POST /_emulator/clock``) while time
    keeps flowing."""

    def __init__(self) -> None:
        self.offset = _dt.timedelta()

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += _dt.timedelta(seconds=seconds)

    def set(self, when: _dt.datetime) -> None:
        self.offset = when - _dt.datetime.now(_dt.timezone.utc)

    def reset(self) -> None:
        """Back to wall-clock time (``POST /_emulator/reset``)."""
        self.offset = _dt.timedelta()
