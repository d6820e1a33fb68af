"""GetAuthorizationToken and DescribeRegistry; time control with freezegun and ManualClock."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import requests
from conftest import docker_manifest, ecr_client
from freezegun import freeze_time
from registry_client import RegistryClient

from ecr_emulator import ManualClock, mock_ecr
from ecr_emulator.tokens import InvalidToken, verify_password

UTC = dt.timezone.utc
TWELVE_HOURS = dt.timedelta(hours=12)


def password_of(entry: dict) -> str:
    user, _, password = base64.b64decode(entry["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    assert password
    return password


# --- through both targets -------------------------------------------------------------------


def test_token_decodes_to_aws_user_and_expires_in_twelve_hours(ecr):
    before = dt.datetime.now(UTC)
    (entry,) = ecr.get_authorization_token()["authorizationData"]
    after = dt.datetime.now(UTC)
    password_of(entry)
    # The wire carries epoch seconds with sub-second precision; allow one second of slack.
    assert before + TWELVE_HOURS - dt.timedelta(seconds=1) <= entry["expiresAt"]
    assert entry["expiresAt"] <= after + TWELVE_HOURS + dt.timedelta(seconds=1)


def test_proxy_endpoint_points_at_aws_shaped_host_or_the_server(ecr, ecr_target):
    (entry,) = ecr.get_authorization_token()["authorizationData"]
    if ecr_target is None:
        assert entry["proxyEndpoint"] == "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
    else:  # the plugin's server makes URIs point at itself, so docker can log in to it
        assert entry["proxyEndpoint"] == ecr_target


def test_one_entry_per_registry_id(ecr, ecr_target):
    ids = ["111111111111", "222222222222", "333333333333"]
    data = ecr.get_authorization_token(registryIds=ids)["authorizationData"]
    assert len(data) == 3
    passwords = [password_of(entry) for entry in data]
    assert len(set(passwords)) == 3
    if ecr_target is None:
        assert [entry["proxyEndpoint"] for entry in data] == [
            f"https://{account}.dkr.ecr.us-east-1.amazonaws.com" for account in ids
        ]


def test_describe_registry_has_own_id_and_no_replication_rules(ecr, make_client):
    answer = ecr.describe_registry()
    assert answer["registryId"] == "123456789012"
    assert answer["replicationConfiguration"] == {"rules": []}
    other = make_client(region="eu-west-1", account="111111111111").describe_registry()
    assert other["registryId"] == "111111111111"
    assert other["replicationConfiguration"] == {"rules": []}


# --- in-process: the proxy endpoint and the clock -------------------------------------------


def test_proxy_endpoint_carries_account_and_region_in_process():
    with mock_ecr():
        client = ecr_client(region="eu-west-1", account="111111111111")
        (entry,) = client.get_authorization_token()["authorizationData"]
        assert entry["proxyEndpoint"] == "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com"
        cn = ecr_client(region="cn-north-1", account="111111111111")
        (entry,) = cn.get_authorization_token()["authorizationData"]
        assert entry["proxyEndpoint"] == "https://111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn"


def test_registry_host_option_changes_the_proxy_endpoint():
    with mock_ecr(registry_host="localhost:5000"):
        (entry,) = ecr_client().get_authorization_token()["authorizationData"]
        assert entry["proxyEndpoint"] == "http://localhost:5000"


@freeze_time("2024-05-01 12:00:00")
def test_frozen_time_drives_expiry_push_and_create_times():
    frozen = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with mock_ecr():
        client = ecr_client()
        (entry,) = client.get_authorization_token()["authorizationData"]
        assert entry["expiresAt"] == frozen + TWELVE_HOURS
        repository = client.create_repository(repositoryName="frozen")["repository"]
        assert repository["createdAt"] == frozen
        client.put_image(repositoryName="frozen", imageManifest=docker_manifest(), imageTag="v1")
        (detail,) = client.describe_images(repositoryName="frozen")["imageDetails"]
        assert detail["imagePushedAt"] == frozen


def test_freezegun_tick_expires_tokens():
    with freeze_time("2024-05-01 12:00:00") as frozen, mock_ecr() as mock:
        (entry,) = ecr_client().get_authorization_token()["authorizationData"]
        password = password_of(entry)
        frozen.tick(dt.timedelta(hours=11, minutes=59))
        assert verify_password(mock.backend, password).account == "123456789012"
        frozen.tick(dt.timedelta(minutes=1))
        with pytest.raises(InvalidToken):
            verify_password(mock.backend, password)


def test_manual_clock_sets_created_at_and_pushed_at():
    start = dt.datetime(2023, 3, 4, 5, 6, 7, tzinfo=UTC)
    clock = ManualClock(start)
    with mock_ecr(clock=clock):
        client = ecr_client()
        assert client.create_repository(repositoryName="one")["repository"]["createdAt"] == start
        clock.advance(days=2, hours=1)
        later = start + dt.timedelta(days=2, hours=1)
        assert client.create_repository(repositoryName="two")["repository"]["createdAt"] == later
        client.put_image(repositoryName="one", imageManifest=docker_manifest(), imageTag="v1")
        (detail,) = client.describe_images(repositoryName="one")["imageDetails"]
        assert detail["imagePushedAt"] == later
        (entry,) = client.get_authorization_token()["authorizationData"]
        assert entry["expiresAt"] == later + TWELVE_HOURS
        created = {
            repo["repositoryName"]: repo["createdAt"]
            for repo in client.describe_repositories()["repositories"]
        }
        assert created == {"one": start, "two": later}


def test_password_verifies_until_the_clock_passes_twelve_hours():
    clock = ManualClock(dt.datetime(2024, 1, 1, tzinfo=UTC))
    with mock_ecr(clock=clock) as mock:
        client = ecr_client(region="eu-west-1", account="111111111111")
        (entry,) = client.get_authorization_token()["authorizationData"]
        password = password_of(entry)
        grant = verify_password(mock.backend, password)
        assert (grant.account, grant.region) == ("111111111111", "eu-west-1")
        assert grant.expires_at == entry["expiresAt"]
        clock.advance(hours=11, minutes=59, seconds=59)
        assert verify_password(mock.backend, password).account == "111111111111"
        clock.advance(seconds=1)
        with pytest.raises(InvalidToken):
            verify_password(mock.backend, password)
        # A fresh token issued now is good again.
        (fresh,) = client.get_authorization_token()["authorizationData"]
        assert verify_password(mock.backend, password_of(fresh)).region == "eu-west-1"


def test_password_for_a_listed_registry_names_it_and_keeps_the_caller():
    with mock_ecr() as mock:
        data = ecr_client().get_authorization_token(registryIds=["444444444444"])
        (entry,) = data["authorizationData"]
        grant = verify_password(mock.backend, password_of(entry))
        assert (grant.account, grant.registry) == ("123456789012", "444444444444")
        assert entry["proxyEndpoint"] == "https://444444444444.dkr.ecr.us-east-1.amazonaws.com"
        assert mock.backend.registries == {}  # issuing a password creates no registry


def _tampered(password: str) -> list[str]:
    payload, _, signature = password.partition(".")
    flipped = "A" if payload[5] != "A" else "B"
    return [
        payload[:5] + flipped + payload[6:] + "." + signature,  # payload changed
        payload + "." + signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"),  # signature
        payload,  # no signature
        "",
        "not-a-token",
        password + "x",
    ]


def test_tampered_passwords_are_invalid():
    with mock_ecr() as mock:
        (entry,) = ecr_client().get_authorization_token()["authorizationData"]
        password = password_of(entry)
        for bad in _tampered(password):
            with pytest.raises(InvalidToken):
                verify_password(mock.backend, bad)


def test_password_from_another_emulator_is_invalid():
    with mock_ecr():
        (entry,) = ecr_client().get_authorization_token()["authorizationData"]
    with mock_ecr() as other, pytest.raises(InvalidToken):
        verify_password(other.backend, password_of(entry))


def test_server_password_verifies_against_the_server_backend(ecr_server):
    client = ecr_client(account="222222222222", endpoint_url=ecr_server.url)
    (entry,) = client.get_authorization_token()["authorizationData"]
    grant = verify_password(ecr_server.backend, password_of(entry))
    assert (grant.account, grant.region) == ("222222222222", "us-east-1")


def test_tokens_only_work_for_what_they_were_issued_for(ecr_server):
    """A layer download URL is no registry password, and a password is no download URL."""
    ecr = ecr_client(endpoint_url=ecr_server.url)
    ecr.create_repository(repositoryName="scoped/tokens")
    registry = RegistryClient(ecr)
    digest = registry.push_blob("scoped/tokens", b"layer bytes")
    url = ecr.get_download_url_for_layer(repositoryName="scoped/tokens", layerDigest=digest)[
        "downloadUrl"
    ]
    download_token = url.rsplit("/", 1)[1]
    assert requests.get(url, timeout=10).content == b"layer bytes"

    as_password = requests.get(ecr_server.url + "/v2/", auth=("AWS", download_token), timeout=10)
    assert as_password.status_code == 401
    assert as_password.json()["errors"][0]["code"] == "UNAUTHORIZED"

    as_download = requests.get(url.replace(download_token, registry.password), timeout=10)
    assert as_download.status_code == 403
