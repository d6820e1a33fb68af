"""``POST /_emulator/clock`` (the DESIGN contract): a test against a live server moves time —
token expiry and push times follow it — and bad requests get a 400, never a 500."""

from __future__ import annotations

import datetime as _dt

import pytest
import requests
from conftest import docker_manifest, ecr_client
from registry_client import RegistryClient


def move(server, **order) -> requests.Response:
    return requests.post(server.url + "/_emulator/clock", json=order, timeout=5)


def test_moving_the_clock_ages_tokens_and_pushes(ecr_server):
    ecr = ecr_client(endpoint_url=ecr_server.url)
    ecr.create_repository(repositoryName="clock/moves")
    registry = RegistryClient(ecr, ecr_server.url)
    assert registry.get("/v2/").status_code == 200
    answer = move(ecr_server, advance_seconds=13 * 3600)  # tokens last 12 h
    assert answer.status_code == 200
    now = _dt.datetime.fromisoformat(answer.json()["now"])
    assert now - _dt.datetime.now(_dt.timezone.utc) > _dt.timedelta(hours=12, minutes=59)
    expired = registry.get("/v2/")  # ECR's answer to an expired login
    assert expired.status_code == 403
    assert "authorization token has expired" in expired.text
    answer = move(ecr_server, now="2030-01-02T03:04:05Z")
    assert answer.json()["now"].startswith("2030-01-02T03:04:0")
    ecr.put_image(repositoryName="clock/moves", imageManifest=docker_manifest(), imageTag="t")
    (image,) = ecr.describe_images(repositoryName="clock/moves")["imageDetails"]
    assert image["imagePushedAt"].year == 2030
    (data,) = ecr.get_authorization_token()["authorizationData"]
    assert data["expiresAt"].year == 2030
    assert move(ecr_server).json()["now"].startswith("2030-01-02T03:0")  # {} only tells
    requests.post(ecr_server.url + "/_emulator/reset", timeout=5)  # also puts the clock back
    assert move(ecr_server).json()["now"].startswith(str(_dt.date.today().year))


@pytest.mark.parametrize(
    "order",
    [
        {"advance_seconds": "10"},
        {"advance_seconds": True},
        {"advance_seconds": 1e300},
        {"now": "yesterday"},
        {"now": "2030-01-01", "advance_seconds": 5},
        {"later": 5},
        [1, 2],
    ],
)
def test_bad_clock_requests_get_400(ecr_server, order):
    answer = requests.post(ecr_server.url + "/_emulator/clock", json=order, timeout=5)
    assert answer.status_code == 400, answer.text
    assert "message" in answer.json()
