"""EventBridge-shaped events: what ECR would send for pushes, deletes, archives, lifecycle runs
and policy changes, read from the mock (``mock.events()``), from the server
(``GET /_emulator/events``) and from a webhook."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import time
from typing import ClassVar

import pytest
import requests
from conftest import docker_manifest, ecr_client
from registry_client import RegistryClient
from support import PYTHON_MODULE, serving

from ecr_emulator import eventbridge, mock_ecr
from ecr_emulator.clock import ManualClock
from ecr_emulator.core import Caller, images

REPO = "events/app"
ACCOUNT = "123456789012"


def actions(found: list[dict]) -> list[tuple]:
    """(detail-type, action-type or eventName, tag) of each envelope, in order."""
    out = []
    for envelope in found:
        detail = envelope["detail"]
        what = detail.get("action-type") or detail.get("eventName") or detail.get("scan-status")
        out.append((envelope["detail-type"], what, detail.get("image-tag")))
    return out


def test_envelopes_follow_what_ecr_documents():
    clock = ManualClock(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    with mock_ecr(clock=clock) as mock:
        client = ecr_client()
        client.create_repository(repositoryName=REPO)
        manifest = docker_manifest("one")
        digest = client.put_image(repositoryName=REPO, imageManifest=manifest, imageTag="v1")[
            "image"
        ]["imageId"]["imageDigest"]
        client.put_image(repositoryName=REPO, imageManifest=manifest, imageTag="latest")
        client.put_image(repositoryName=REPO, imageManifest=docker_manifest("untagged"))
        client.batch_delete_image(repositoryName=REPO, imageIds=[{"imageTag": "latest"}])
        client.update_image_storage_class(
            repositoryName=REPO, imageId={"imageTag": "v1"}, targetStorageClass="ARCHIVE"
        )
        client.update_image_storage_class(
            repositoryName=REPO, imageId={"imageTag": "v1"}, targetStorageClass="STANDARD"
        )
        client.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])

        found = mock.events()
        assert actions(found) == [
            ("ECR Image Action", "PUSH", "v1"),
            ("ECR Image Action", "PUSH", "latest"),
            ("ECR Image Action", "PUSH", None),
            ("ECR Image Action", "DELETE", "latest"),
            ("ECR Image Action", "UPDATE_STORAGE_CLASS", None),
            ("ECR Image Action", "UPDATE_STORAGE_CLASS", None),
            ("ECR Image Action", "DELETE", "v1"),
        ]
        first = found[0]
        assert set(first) == {
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        }
        assert (first["version"], first["source"], first["account"], first["region"]) == (
            "0",
            "aws.ecr",
            ACCOUNT,
            "us-east-1",
        )
        assert first["time"] == "2026-01-01T00:00:00Z"  # the emulator's clock
        assert first["detail"] == {
            "result": "SUCCESS",
            "repository-name": REPO,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": "v1",
        }
        archived, restored = found[4]["detail"], found[5]["detail"]
        assert archived["target-storage-class"] == "ARCHIVE"
        assert archived["manifest-media-type"] == (
            "application/vnd.docker.distribution.manifest.v2+json"
        )
        assert restored["target-storage-class"] == "STANDARD"
        assert restored["last-activated-at"] == "2026-01-01T00:01:00Z"
        assert len({envelope["id"] for envelope in found}) == len(found)


def test_lifecycle_runs_and_policy_changes():
    clock = ManualClock(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    with mock_ecr(clock=clock) as mock:
        client = ecr_client()
        client.create_repository(repositoryName=REPO)
        client.create_repository(repositoryName="events/other")
        for n in range(3):
            client.put_image(repositoryName=REPO, imageManifest=docker_manifest(f"i{n}"))
            clock.advance(days=1)
        policy = {
            "rules": [
                {
                    "rulePriority": 1,
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "imageCountMoreThan",
                        "countNumber": 1,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
        client.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=json.dumps(policy))
        client.set_repository_policy(
            repositoryName="events/other",
            policyText=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
                    ],
                }
            ),
        )
        client.delete_lifecycle_policy(repositoryName=REPO)
        client.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=json.dumps(policy))
        before = len(mock.events())
        taken = mock.run_lifecycle()
        assert len(taken) == 2
        after = mock.events()[before:]
        assert actions(after) == [
            ("ECR Image Action", "DELETE", None),
            ("ECR Image Action", "DELETE", None),
            ("AWS Service Event via CloudTrail", "PolicyExecutionEvent", None),
        ]
        execution = after[-1]["detail"]["serviceEventDetails"]
        assert execution["repositoryName"] == REPO
        assert [
            a["lifecycleEventImage"]["digest"] for a in execution["lifecycleEventImageActions"]
        ] == [t["imageDigest"] for t in taken]
        calls = mock.events(detail_type="AWS API Call via CloudTrail")
        assert [c["detail"]["eventName"] for c in calls] == [
            "PutLifecyclePolicy",
            "SetRepositoryPolicy",
            "DeleteLifecyclePolicy",
            "PutLifecyclePolicy",
        ]
        assert calls[1]["detail"]["requestParameters"]["repositoryName"] == "events/other"
        # filters: by detail-type and by repository
        assert all(e["detail-type"] == "ECR Image Action" for e in mock.events("ECR Image Action"))
        other = mock.events(repository="events/other")
        assert [e["detail"]["eventName"] for e in other] == ["SetRepositoryPolicy"]


def test_the_log_is_bounded_and_emptied_by_a_reset():
    with mock_ecr() as mock:
        ecr_client().create_repository(repositoryName=REPO)
        caller = Caller(mock.backend, ACCOUNT, "us-east-1")
        manifest = docker_manifest("many")
        with mock.backend.transaction():  # one change, many events: still bounded
            for n in range(eventbridge.MAX_EVENTS + 50):
                images.put_image(caller, None, REPO, manifest, tags=[f"t{n}"], idempotent=True)
        kept = mock.events()
        assert len(kept) == eventbridge.MAX_EVENTS
        assert kept[-1]["detail"]["image-tag"] == f"t{eventbridge.MAX_EVENTS + 49}"
        mock.backend.reset()
        assert mock.events() == []


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    fail_first = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_server_route_and_webhook(tmp_path):
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    _Receiver.received = []
    _Receiver.fail_first = 1  # the first delivery is retried
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    try:
        with serving(PYTHON_MODULE, tmp_path / "server.log", "--events-webhook", url) as server:
            client = server.client()
            client.create_repository(repositoryName=REPO)
            registry = RegistryClient(client, server.url)
            registry.push_image(REPO, "pushed")
            client.put_image(
                repositoryName=REPO, imageManifest=docker_manifest("api"), imageTag="a"
            )
            answer = requests.get(f"{server.url}/_emulator/events", timeout=10)
            assert answer.status_code == 200
            found = answer.json()["events"]
            assert actions(found) == [
                ("ECR Image Action", "PUSH", "pushed"),
                ("ECR Image Action", "PUSH", "a"),
            ]
            filtered = requests.get(
                f"{server.url}/_emulator/events",
                params={"detail-type": "ECR Image Scan", "repository": REPO},
                timeout=10,
            ).json()
            assert filtered == {"events": []}
            deadline = time.monotonic() + 20
            while len(_Receiver.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert [e["id"] for e in _Receiver.received] == [e["id"] for e in found]
    finally:
        receiver.shutdown()


def test_a_dead_webhook_never_holds_up_a_push(tmp_path):
    with serving(
        PYTHON_MODULE, tmp_path / "server.log", "--events-webhook", "http://127.0.0.1:9/nothing"
    ) as server:
        client = server.client()
        client.create_repository(repositoryName=REPO)
        started = time.monotonic()
        for n in range(20):
            client.put_image(
                repositoryName=REPO, imageManifest=docker_manifest(f"d{n}"), imageTag=f"t{n}"
            )
        assert time.monotonic() - started < 5
        assert (
            len(requests.get(f"{server.url}/_emulator/events", timeout=10).json()["events"]) == 20
        )


@pytest.mark.parametrize("route", ["/_emulator/events"])
def test_events_route_only_answers_get(ecr_server, route):
    assert requests.post(f"{ecr_server.url}{route}", timeout=10).status_code == 404


def test_a_webhook_that_answers_garbage_still_gets_every_event():
    """The delivery thread survives a reply that is not HTTP (retrying it) and delivers
    the rest."""
    import socket

    received: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:
        first = True
        while len(received) < 3:
            connection, _ = server.accept()
            with connection:
                data = connection.recv(65536)
                if first:
                    first = False
                    connection.sendall(b"garbage\r\n\r\n")
                    continue
                received.append(data)
                connection.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    listener = threading.Thread(target=answer, daemon=True)
    listener.start()
    with mock_ecr(events_webhook=f"http://127.0.0.1:{port}/hook"):
        client = ecr_client()
        client.create_repository(repositoryName=REPO)
        for n in range(3):
            client.put_image(
                repositoryName=REPO, imageManifest=docker_manifest(f"w{n}"), imageTag=f"t{n}"
            )
        listener.join(timeout=30)
    server.close()
    assert len(received) == 3
