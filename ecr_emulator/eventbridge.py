"""What ECR would send to EventBridge, kept for tests to read and optionally POSTed to a webhook.

An extension around the core: it subscribes to the backend's events (``events.EventBus``)
and writes each as the envelope AWS documents in the user guide's "Amazon ECR events
and EventBridge" (``source`` aws.ecr, ``detail-type``, ``detail`` with the documented
kebab-case fields):

- "ECR Image Action", ``action-type`` PUSH (one per tag pushed, or one without a tag),
  DELETE (one per tag the image had, or a tag removed alone) and UPDATE_STORAGE_CLASS
  (``target-storage-class`` ARCHIVE on archive, STANDARD on restore).
- "ECR Image Scan" once a scan completes (``scan-status``, ``finding-severity-counts``).
- Lifecycle runs: AWS documents no "ECR Lifecycle Action" detail-type; an expiry is the
  "ECR Image Action" DELETE above, a transition the UPDATE_STORAGE_CLASS, and the run
  itself the CloudTrail ``PolicyExecutionEvent`` (user guide, "Logging Amazon ECR
  actions with AWS CloudTrail"), which EventBridge delivers as "AWS Service Event via
  CloudTrail".
- Policy changes (repository, lifecycle and registry policies) are CloudTrail API calls,
  delivered as "AWS API Call via CloudTrail" with ``eventName`` and ``requestParameters``.

The log keeps the last ``MAX_EVENTS`` envelopes (older ones go first), is emptied by a
reset, and is not kept across restarts (EventBridge does not replay either).  A webhook
gets each envelope as a JSON POST from a thread of its own, with retries; a push never
waits for it, and when the webhook falls ``MAX_EVENTS`` behind the oldest are dropped.
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
import logging
import queue
import threading
import time
import urllib.request
import uuid
import weakref
from typing import Any

from . import events as core_events
from .arns import PUBLIC_REGION, repository_arn
from .state import Backend

log = logging.getLogger(__name__)

MAX_EVENTS = 10_000
WEBHOOK_ATTEMPTS = 3
IMAGE_ACTION = "ECR Image Action"
IMAGE_SCAN = "ECR Image Scan"
SERVICE_EVENT = "AWS Service Event via CloudTrail"
API_CALL = "AWS API Call via CloudTrail"


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventLog:
    """The EventBridge envelopes of one backend, oldest first."""

    def __init__(self, backend: Backend, webhook: str | None = None) -> None:
        self.backend = backend
        self._envelopes: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_EVENTS)
        self._lock = threading.Lock()
        self._webhook: Webhook | None = Webhook(webhook) if webhook else None
        backend.events.subscribe(self._hear, batches=True)

    def envelopes(
        self, detail_type: str | None = None, repository: str | None = None
    ) -> list[dict[str, Any]]:
        """The kept envelopes, oldest first, of one ``detail-type`` and/or repository."""
        with self._lock:
            kept = list(self._envelopes)
        return [
            envelope
            for envelope in kept
            if (detail_type is None or envelope["detail-type"] == detail_type)
            and (repository is None or _repository_of(envelope) == repository)
        ]

    def _hear(self, batch: list[object]) -> None:
        if any(isinstance(event, core_events.StateReset) for event in batch):
            with self._lock:
                self._envelopes.clear()
            return
        # ECR Public sends no EventBridge events (the user guide's list is private ECR's)
        private = [e for e in batch if getattr(e, "region", None) != PUBLIC_REGION]
        made = list(self._translate(private))
        if not made:
            return
        with self._lock:
            self._envelopes.extend(made)
        if self._webhook is not None:
            for envelope in made:
                self._webhook.send(envelope)

    def _envelope(
        self, account: str, region: str, detail_type: str, detail: dict[str, Any], resources=()
    ) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.ecr",
            "account": account,
            "time": _iso(self.backend.now()),
            "region": region,
            "resources": list(resources),
            "detail": detail,
        }

    def _translate(self, batch: list[object]) -> Any:
        """The envelopes one change's core events make, in order."""
        tagged = {(e.repository, e.digest) for e in batch if isinstance(e, core_events.TagMoved)}
        lifecycle = [e for e in batch if isinstance(e, core_events.LifecycleAction)]
        for event in batch:
            if isinstance(event, core_events.ImagePushed):
                if (event.repository, event.digest) not in tagged:
                    yield self._image_action(event, "PUSH", event.digest, None)
            elif isinstance(event, core_events.TagMoved):
                yield self._image_action(event, "PUSH", event.digest, event.tag)
            elif isinstance(event, core_events.ImageDeleted):
                for tag in event.tags or (None,):
                    yield self._image_action(event, "DELETE", event.digest, tag)
            elif isinstance(event, core_events.TagRemoved):
                yield self._image_action(event, "DELETE", event.digest, event.tag)
            elif isinstance(event, core_events.StorageClassChanged):
                yield self._storage_class(event)
            elif isinstance(event, core_events.ImageScanned):
                yield self._scan(event)
            elif type(event) in _POLICY_CALLS:
                yield self._policy_call(event)
        if lifecycle:
            yield self._policy_execution(lifecycle)

    def _policy_call(self, event: Any) -> dict[str, Any]:
        """A policy put or deleted, as the CloudTrail API call that did it."""
        put, delete, member = _POLICY_CALLS[type(event)]
        parameters = {}
        if getattr(event, "repository", None) is not None:
            parameters["repositoryName"] = event.repository
        if event.policy_text is not None:
            parameters[member] = event.policy_text
        name = put if event.policy_text is not None else delete
        return self._api_call(event.account, event.region, name, parameters)

    def _image_action(
        self, event: core_events.Event, action: str, digest: str, tag: str | None
    ) -> dict[str, Any]:
        detail = {
            "result": "SUCCESS",
            "repository-name": event.repository,
            "image-digest": digest,
            "action-type": action,
        }
        if tag is not None:
            detail["image-tag"] = tag
        return self._envelope(event.account, event.region, IMAGE_ACTION, detail)

    def _storage_class(self, event: core_events.StorageClassChanged) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "action-type": "UPDATE_STORAGE_CLASS",
            "target-storage-class": "ARCHIVE" if event.status == "ARCHIVED" else "STANDARD",
            "image-digest": event.digest,
            "repository-name": event.repository,
            "result": "SUCCESS",
            "manifest-media-type": event.media_type,
        }
        if event.artifact_media_type:
            detail["artifact-media-type"] = event.artifact_media_type
        if event.activated_at is not None:
            detail["last-activated-at"] = _iso(event.activated_at)
        return self._envelope(event.account, event.region, IMAGE_ACTION, detail)

    def _scan(self, event: core_events.ImageScanned) -> dict[str, Any]:
        detail = {
            "scan-status": event.status,
            "repository-name": event.repository,
            "finding-severity-counts": dict(event.severity_counts),
            "image-digest": event.digest,
            "image-tags": list(event.tags),
        }
        arn = repository_arn(event.account, event.region, event.repository)
        return self._envelope(event.account, event.region, IMAGE_SCAN, detail, [arn])

    def _api_call(
        self, account: str, region: str, name: str, parameters: dict[str, Any]
    ) -> dict[str, Any]:
        detail = {
            "eventVersion": "1.08",
            "userIdentity": {"type": "Root", "accountId": account},
            "eventTime": _iso(self.backend.now()),
            "eventSource": "ecr.amazonaws.com",
            "eventName": name,
            "awsRegion": region,
            "requestParameters": parameters,
            "responseElements": None,
            "eventID": str(uuid.uuid4()),
            "eventType": "AwsApiCall",
        }
        return self._envelope(account, region, API_CALL, detail)

    def _policy_execution(self, actions: list[core_events.LifecycleAction]) -> dict[str, Any]:
        first = actions[0]
        arn = repository_arn(first.account, first.region, first.repository)
        detail = {
            "eventVersion": "1.05",
            "userIdentity": {"accountId": first.account, "invokedBy": "AWS Internal"},
            "eventTime": _iso(self.backend.now()),
            "eventSource": "ecr.amazonaws.com",
            "eventName": "PolicyExecutionEvent",
            "awsRegion": first.region,
            "sourceIPAddress": "AWS Internal",
            "eventID": str(uuid.uuid4()),
            "readOnly": True,
            "resources": [{"ARN": arn, "accountId": first.account, "type": "AWS::ECR::Repository"}],
            "eventType": "AwsServiceEvent",
            "recipientAccountId": first.account,
            "serviceEventDetails": {
                "repositoryName": first.repository,
                "lifecycleEventImageActions": [
                    {
                        "lifecycleEventImage": {
                            "digest": action.digest,
                            "tagStatus": "Tagged" if action.tags else "Untagged",
                            "tagList": list(action.tags),
                        },
                        "rulePriority": action.rule_priority,
                        "action": action.action.lower(),
                    }
                    for action in actions
                ],
            },
        }
        return self._envelope(first.account, first.region, SERVICE_EVENT, detail)


# a policy change -> (the call that puts it, the call that deletes it, its text member)
_POLICY_CALLS: dict[type, tuple[str, str, str]] = {
    core_events.PolicyChanged: ("SetRepositoryPolicy", "DeleteRepositoryPolicy", "policyText"),
    core_events.LifecyclePolicyChanged: (
        "PutLifecyclePolicy",
        "DeleteLifecyclePolicy",
        "lifecyclePolicyText",
    ),
    core_events.RegistryPolicyChanged: ("PutRegistryPolicy", "DeleteRegistryPolicy", "policyText"),
}


def _repository_of(envelope: dict[str, Any]) -> str | None:
    detail = envelope["detail"]
    if "repository-name" in detail:
        return detail["repository-name"]
    parameters = detail.get("requestParameters") or {}
    if "repositoryName" in parameters:
        return parameters["repositoryName"]
    return (detail.get("serviceEventDetails") or {}).get("repositoryName")


class Webhook:
    """POSTs envelopes to a URL from a daemon thread: retried, bounded, never blocking."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=MAX_EVENTS)
        self.dropped = 0
        threading.Thread(target=self._deliver, name="ecr-emulator-webhook", daemon=True).start()

    def send(self, envelope: dict[str, Any]) -> None:
        while True:
            try:
                self._queue.put_nowait(envelope)
                return
            except queue.Full:  # the webhook is far behind: the oldest event goes
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _deliver(self) -> None:
        while True:
            envelope = self._queue.get()
            body = json.dumps(envelope).encode()
            for attempt in range(WEBHOOK_ATTEMPTS):
                request = urllib.request.Request(
                    self.url, data=body, headers={"Content-Type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(request, timeout=5) as answer:
                        if answer.status < 300:
                            break
                except Exception as error:  # refused, timed out, or not HTTP at all
                    log.info("events webhook %s: %s (attempt %d)", self.url, error, attempt + 1)
                time.sleep(0.5 * 2**attempt)
            else:
                log.warning("events webhook %s: gave up on event %s", self.url, envelope["id"])


_LOGS: weakref.WeakKeyDictionary[Backend, EventLog] = weakref.WeakKeyDictionary()
_LOGS_LOCK = threading.Lock()


def log_for(backend: Backend, webhook: str | None = None) -> EventLog:
    """The event log of ``backend``, started on first use (the server and the mock share
    this, so a backend is listened to once)."""
    with _LOGS_LOCK:
        found = _LOGS.get(backend)
        if found is None:
            found = _LOGS[backend] = EventLog(backend, webhook)
        return found
