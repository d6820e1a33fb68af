"""The pytest plugin (``pytest11`` entry point): run generated test files with ``pytester``."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

SEEN_SERVERS = []


def names(client):
    return [r["repositoryName"] for r in client.describe_repositories()["repositories"]]


def test_mock_first(ecr_mock):
    client = boto3.client("ecr", region_name="us-east-1")
    client.create_repository(repositoryName="from-mock")
    assert names(client) == ["from-mock"]
    assert list(ecr_mock.backend.find_registry("123456789012", "us-east-1").repositories) == ["from-mock"]


def test_mock_second_is_fresh(ecr_mock):
    client = boto3.client("ecr", region_name="us-east-1")
    assert names(client) == []


def test_no_mock_without_the_fixture():
    client = boto3.client(
        "ecr",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 0}, connect_timeout=1),
    )
    with pytest.raises(EndpointConnectionError):
        client.describe_repositories()


@pytest.mark.parametrize("round", [1, 2])
def test_server_state_is_reset_between_tests(ecr_server, round):
    SEEN_SERVERS.append(ecr_server.url)
    client = boto3.client("ecr", region_name="us-east-1", endpoint_url=ecr_server.url)
    assert names(client) == []
    client.create_repository(repositoryName="from-server")
    created = client.describe_repositories()["repositories"][0]
    assert created["repositoryUri"] == ecr_server.url.removeprefix("http://") + "/from-server"


def test_server_is_started_once_per_session(ecr_server):
    assert SEEN_SERVERS == [ecr_server.url, ecr_server.url]


def test_mock_and_server_together(ecr_mock, ecr_server):
    # The server kept nothing from the tests above; the mock answers the in-process client.
    assert ecr_server.backend.registries == {}
    client = boto3.client("ecr", region_name="us-east-1")
    client.create_repository(repositoryName="only-in-process")
    assert names(client) == ["only-in-process"]
    assert ecr_server.backend.registries == {}


def test_a_failure_inside_the_mock_is_reported(ecr_mock):
    client = boto3.client("ecr", region_name="us-east-1")
    client.create_repository(repositoryName="once")
    client.create_repository(repositoryName="once")
"""


def test_fixtures_from_the_entry_point(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*RepositoryAlreadyExistsException*"])


def test_fixtures_are_documented(pytester: pytest.Pytester):
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["ecr_mock -- *", "*in-process*", "ecr_server -- *", "*cleared*"])


def test_plugin_is_registered_under_its_entry_point_name(pytester: pytest.Pytester):
    pytester.makepyfile(test_user="def test_uses(ecr_mock):\n    pass\n")
    result = pytester.runpytest("-p", "no:ecr_emulator", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ecr_mock' not found*"])
