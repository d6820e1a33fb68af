"""The real CLI in a subprocess: ``ecr-emulator serve`` and ``python -m ecr_emulator serve``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from conftest import docker_manifest
from support import CONSOLE_SCRIPT, PYTHON_MODULE, EmulatorProcess, serving


@pytest.fixture(scope="module")
def module_server(tmp_path_factory) -> Iterator[EmulatorProcess]:
    with serving(PYTHON_MODULE, tmp_path_factory.mktemp("server") / "log.txt") as served:
        yield served


@pytest.fixture
def served(module_server) -> EmulatorProcess:
    """The module's server, emptied through the admin route."""
    assert requests.post(module_server.url + "/_emulator/reset", timeout=5).status_code == 200
    return module_server


def check_health_and_api(server: EmulatorProcess) -> None:
    health = requests.get(server.url + "/_emulator/health", timeout=5)
    assert health.status_code == 200
    assert health.headers["Content-Type"] == "application/json"
    assert health.json()["status"] == "ok"
    assert f"listening on http://127.0.0.1:{server.port}" in server.log_text()

    client = server.client()
    created = client.create_repository(repositoryName="team-a/cli")["repository"]
    # Without --registry-host the URIs look like AWS's.
    assert created["repositoryUri"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/cli"
    (listed,) = client.describe_repositories()["repositories"]
    assert listed["repositoryArn"] == "arn:aws:ecr:us-east-1:123456789012:repository/team-a/cli"
    (token,) = client.get_authorization_token()["authorizationData"]
    assert token["proxyEndpoint"] == "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"


def test_console_script_serves_health_and_the_api(tmp_path):
    with serving(CONSOLE_SCRIPT, tmp_path / "log.txt") as server:
        check_health_and_api(server)


def test_python_module_serves_health_and_the_api(served):
    assert served.process.args[:3] == PYTHON_MODULE
    check_health_and_api(served)


def test_aws_endpoint_url_ecr_in_a_subprocess(served):
    script = (
        "import boto3, json\n"
        "client = boto3.client('ecr')\n"
        "client.create_repository(repositoryName='from-env')\n"
        "print(json.dumps([r['repositoryName'] for r in client.describe_repositories()['repositories']]))\n"
    )
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_ECR": served.url,
        "AWS_ACCESS_KEY_ID": "222222222222",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["from-env"]
    # The server really holds it, in that account and region.
    (repository,) = served.client("eu-west-1", "222222222222").describe_repositories()[
        "repositories"
    ]
    assert repository["repositoryArn"] == "arn:aws:ecr:eu-west-1:222222222222:repository/from-env"


def test_aws_endpoint_url_ecr_in_process(served, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", served.url)
    client = boto3.session.Session(region_name="us-east-1").client("ecr")
    client.create_repository(repositoryName="env-in-process")
    assert served.client().describe_repositories()["repositories"][0]["repositoryName"] == (
        "env-in-process"
    )


def test_reset_clears_every_account_and_region(served):
    clients = [served.client(), served.client("eu-west-1", "111111111111")]
    for client in clients:
        client.create_repository(repositoryName="doomed")
    clients[0].put_image(repositoryName="doomed", imageManifest=docker_manifest(), imageTag="v1")
    # Only POST resets.
    assert requests.get(served.url + "/_emulator/reset", timeout=5).status_code == 404
    assert len(clients[0].describe_repositories()["repositories"]) == 1

    answer = requests.post(served.url + "/_emulator/reset", timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    answer.json()
    for client in clients:
        assert client.describe_repositories()["repositories"] == []
        with pytest.raises(ClientError) as raised:
            client.describe_images(repositoryName="doomed")
        assert raised.value.response["Error"]["Code"] == "RepositoryNotFoundException"
    # Still serving, and the name is free again.
    clients[0].create_repository(repositoryName="doomed")


def test_unknown_admin_route_and_get_root_are_404_json(served):
    for method, path in [
        ("GET", "/_emulator/nothing"),
        ("POST", "/_emulator/health"),
        ("GET", "/"),
    ]:
        answer = requests.request(method, served.url + path, timeout=5)
        assert answer.status_code == 404, (method, path)
        assert answer.headers["Content-Type"] == "application/json"
        answer.json()


def test_bare_registry_host_points_uris_at_the_server_and_sigint_stops_it(tmp_path):
    with serving(PYTHON_MODULE, tmp_path / "log.txt", "--registry-host") as server:
        client = server.client()
        created = client.create_repository(repositoryName="team-a/push-me")["repository"]
        assert created["repositoryUri"] == f"127.0.0.1:{server.port}/team-a/push-me"
        (listed,) = client.describe_repositories()["repositories"]
        assert listed["repositoryUri"] == f"127.0.0.1:{server.port}/team-a/push-me"
        (token,) = client.get_authorization_token()["authorizationData"]
        assert token["proxyEndpoint"] == f"http://127.0.0.1:{server.port}"
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=10) == 0


def test_bare_registry_host_with_port_zero_uses_the_bound_port(tmp_path):
    with serving(PYTHON_MODULE, tmp_path / "log.txt", "--registry-host", port=0) as server:
        assert server.port != 0
        created = server.client().create_repository(repositoryName="anywhere")["repository"]
        assert created["repositoryUri"] == f"127.0.0.1:{server.port}/anywhere"


def test_explicit_registry_host_data_dir_and_no_auth(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    options = ("--registry-host", "localhost:5555", "--data-dir", str(data), "--no-auth")
    with serving(CONSOLE_SCRIPT, tmp_path / "log.txt", *options) as server:
        client = server.client()
        created = client.create_repository(repositoryName="named")["repository"]
        assert created["repositoryUri"] == "localhost:5555/named"
        (token,) = client.get_authorization_token()["authorizationData"]
        assert token["proxyEndpoint"] == "http://localhost:5555"


def test_serve_help_documents_the_contract_options():
    done = subprocess.run(
        [*CONSOLE_SCRIPT, "serve", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for option in ("--host", "--port", "--data-dir", "--no-auth", "--registry-host"):
        assert option in done.stdout


def test_every_request_is_one_log_line_with_its_status_and_time(served):
    requests.get(served.url + "/_emulator/health", timeout=5)
    served.client().describe_repositories()
    requests.get(served.url + "/v2/", timeout=5)
    lines = served.log_text().splitlines()
    assert any(re.search(r" GET /_emulator/health 200 \d+\.\d ms$", line) for line in lines)
    assert any(re.search(r" POST / 200 \d+\.\d ms$", line) for line in lines)
    assert any(re.search(r" GET /v2/ 401 \d+\.\d ms$", line) for line in lines)


def test_tls_to_the_plain_http_port_is_said_plainly(served):
    # a ClientHello: binary, its random bytes soon hold a 0x0a that ends the "request line"
    client_hello = bytes.fromhex("16030100f4010000f00303") + b"\x00" * 40 + b"\n"
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as connection:
        connection.sendall(client_hello)
        reply = connection.recv(4096)
    assert re.match(rb"HTTP/1\.[01] 400 ", reply)  # an HTTP answer: docker falls back to http
    log = served.log_text()
    assert "spoke TLS (https://) to this plain-HTTP port" in log
    assert "Bad request" not in log
