"""What the core announces after each committed change, and who hears it.

The core collects events while it holds the lock and hands them to the
``EventBus`` once the lock is released, so a subscriber (lifecycle, scanning,
replication, persistence, a dashboard) may be slow or call back into the core
without ever holding up another request.  Subscribers run in the thread that
made the change, in subscription order; one that raises is logged and skipped,
never fails the request that caused the event.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a repository of ``account`` in ``region``."""

    account: str
    region: str
    repository: str


@dataclass(frozen=True, slots=True)
class RepositoryCreated(Event):
    pass


@dataclass(frozen=True, slots=True)
class RepositoryDeleted(Event):
    pass


@dataclass(frozen=True, slots=True)
class RepositoryChanged(Event):
    """A setting changed: ``setting`` names it (``imageTagMutability``, ``scanOnPush``...)."""

    setting: str


@dataclass(frozen=True, slots=True)
class PolicyChanged(Event):
    """The repository policy was set (``policy_text``) or deleted (None)."""

    policy_text: str | None


@dataclass(frozen=True, slots=True)
class ResourceTagsChanged(Event):
    pass


@dataclass(frozen=True, slots=True)
class ImagePushed(Event):
    """A manifest became a new image of the repository (not a re-push of one it has)."""

    digest: str
    media_type: str


@dataclass(frozen=True, slots=True)
class ImageDeleted(Event):
    digest: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TagMoved(Event):
    """``tag`` now names ``digest``; ``previous`` is the image it named before, if any."""

    tag: str
    digest: str
    previous: str | None


@dataclass(frozen=True, slots=True)
class TagRemoved(Event):
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class LifecycleAction(Event):
    """A lifecycle policy acted on an image: ``action`` EXPIRE (it is gone) or TRANSITION
    (it is archived), by the rule of ``rule_priority``."""

    digest: str
    tags: tuple[str, ...]
    action: str
    rule_priority: int


@dataclass(frozen=True, slots=True)
class StorageClassChanged(Event):
    """An image was archived (``status`` ARCHIVED), its restore began (ACTIVATING, active
    again at ``activated_at``) or a push restored it at once (ACTIVE)."""

    digest: str
    status: str
    media_type: str
    artifact_media_type: str | None
    activated_at: _dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ImageScanned(Event):
    """A scan of an image finished: ``status`` COMPLETE or FAILED, and the number of
    findings per severity (only the severities found)."""

    digest: str
    tags: tuple[str, ...]
    status: str
    severity_counts: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class LifecyclePolicyChanged(Event):
    """The lifecycle policy was put (``policy_text``) or deleted (None)."""

    policy_text: str | None


@dataclass(frozen=True, slots=True)
class RegistryPolicyChanged:
    """The registry policy of ``account`` in ``region`` was put (``policy_text``) or deleted."""

    account: str
    region: str
    policy_text: str | None


@dataclass(frozen=True, slots=True)
class ImagePulled(Event):
    digest: str


@dataclass(frozen=True, slots=True)
class LayerUploaded(Event):
    """A blob upload finished and the blob is now linked into the repository."""

    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class BlobFreed:
    """No repository references ``digest`` any more; its bytes were deleted."""

    digest: str


@dataclass(frozen=True, slots=True)
class LayerMounted(Event):
    """A blob of ``source`` (a repository of the same registry) is now linked here too."""

    digest: str
    source: str


@dataclass(frozen=True, slots=True)
class LayerUnlinked(Event):
    """The repository stopped serving a blob (a registry blob DELETE)."""

    digest: str


@dataclass(frozen=True, slots=True)
class StateReset:
    """Every registry, upload and blob was forgotten (``POST /_emulator/reset``)."""


Subscriber = Callable[[object], None]


class EventBus:
    """Subscribers of one backend's events: each event alone, or each change's events
    together (``batches``: a subscriber that must see a push's image and its tags at once)."""

    def __init__(self) -> None:
        self._subscribers: tuple[tuple[Callable[[Any], None], bool], ...] = ()
        self._lock = threading.Lock()

    def subscribe(
        self, subscriber: Callable[[Any], None], *, batches: bool = False
    ) -> Callable[[], None]:
        """Call ``subscriber(event)`` for every event from now on (with ``batches``,
        ``subscriber(events)`` once per change); returns the unsubscribe."""
        entry = (subscriber, batches)
        with self._lock:
            self._subscribers = (*self._subscribers, entry)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not entry)

        return unsubscribe

    def publish(self, events: Iterable[object]) -> None:
        subscribers = self._subscribers
        if not subscribers:
            return
        events = list(events)
        for subscriber, batches in subscribers:
            for delivery in [events] if batches else events:
                try:
                    subscriber(delivery)
                except Exception:
                    log.exception("event subscriber %r failed on %r", subscriber, delivery)
