"""The docker-compose example, run for real: the emulator image built from the Dockerfile and a
client service that pushes and pulls through it (examples/docker-compose.yml).

No image registry is reachable here, so the Python base image comes from debootstrap
(scripts/build-python-base.sh, built once per machine) and the emulator's dependencies are
downloaded as wheels on the host and installed offline (`network: none`) in the build.
This is the slow test of the suite: about 3 minutes on a fresh machine (2 of them for the
base image), about 1 minute once the base image exists.
"""

from __future__ import annotations

import base64
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import ecr_client
from support import (
    BUSYBOX,
    ROOT,
    Docker,
    build_context,
    download_wheels,
    ensure_python_base_image,
    free_port,
    image_python,
    require_docker,
    require_file,
    require_tool,
    run,
    run_label,
)

pytestmark = pytest.mark.docker

COMPOSE_FILE = ROOT / "examples" / "docker-compose.yml"


class Compose:
    """docker-compose v1 on the example file plus an override, as its own project."""

    def __init__(self, override: Path, env: dict[str, str], project: str) -> None:
        self.override = override
        self.env = env
        self.project = project

    def __call__(self, *args: str, check: bool = True, timeout: float = 300):
        command = ["docker-compose", "-p", self.project, "-f", COMPOSE_FILE, "-f", self.override]
        return run([*command, *args], env=self.env, check=check, timeout=timeout)


def dangling_images() -> list[str]:
    return run(
        ["docker", "image", "ls", "-q", "--no-trunc", "--filter", "dangling=true"]
    ).stdout.split()


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> Iterator[Compose]:
    require_docker()
    require_tool("docker-compose")
    base_image = ensure_python_base_image()
    python_version, glibc = image_python(base_image)

    work = tmp_path_factory.mktemp("compose")
    context = build_context(work / "context")
    download_wheels(context / "wheels", python_version, glibc, platform.machine())
    label = run_label()
    override = work / "override.yml"
    # The build context with the wheels replaces the repository root; no network in the build.
    override.write_text(
        f"services:\n  ecr:\n    build:\n      context: {context}\n      network: none\n"
    )
    image = f"ecr-emulator:compose-test-{label}"
    env = dict(
        os.environ,
        PYTHON_BASE_IMAGE=base_image,
        ECR_EMULATOR_IMAGE=image,
        ECR_EMULATOR_PORT=str(free_port()),
    )
    project = Compose(override, env, f"ecremulator{label}")
    dangling_before = set(dangling_images())
    try:
        yield project
    finally:
        project("down", "--volumes", "--remove-orphans", check=False)
        run(["docker", "rmi", image], check=False)
        # The multi-stage build leaves its build stage behind as a dangling image.
        left = set(dangling_images()) - dangling_before
        if left:
            run(["docker", "rmi", *sorted(left)], check=False)


def test_compose_example_pushes_and_pulls_through_the_emulator(compose):
    built = compose("build", timeout=600)
    assert "Successfully tagged" in built.stdout + built.stderr
    image = compose.env["ECR_EMULATOR_IMAGE"]
    config = run(["docker", "image", "inspect", "--format", "{{json .Config.Cmd}}", image]).stdout
    assert "--registry-host" in config  # the Dockerfile's default command

    up = compose(
        "--ansi",
        "never",
        "up",
        "--no-build",
        "--abort-on-container-exit",
        "--exit-code-from",
        "client",
        check=False,
    )
    output = up.stdout + up.stderr
    assert up.returncode == 0, output
    client_lines = [
        line.split("|", 1)[1].strip()
        for line in output.splitlines()
        if "client_1" in line and "|" in line
    ]
    assert client_lines[0].startswith("pushed ecr:5000/compose-demo/hello:v1 sha256:"), output
    assert "pulled hello.txt: hello from the compose client" in client_lines
    assert client_lines[-1] == "compose example: OK"
    assert "ecr-emulator listening on http://0.0.0.0:5000" in output


def test_a_restart_of_the_service_keeps_the_pushed_image(compose, tmp_path):
    """The named volume keeps the data directory: an image docker pushed through the published
    port is still listed after `docker-compose restart ecr`, and docker pulls and runs it."""
    require_file(BUSYBOX, "busybox-static")
    port = compose.env["ECR_EMULATOR_PORT"]
    url = f"http://127.0.0.1:{port}"
    compose("up", "-d", "--no-build", "ecr")
    wait_healthy(compose, url)
    client = ecr_client(endpoint_url=url)
    client.create_repository(repositoryName="compose-demo/kept")
    docker = Docker(tmp_path / "docker-config", run_label())
    (data,) = client.get_authorization_token()["authorizationData"]
    password = base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]
    docker("login", "--username", "AWS", "--password-stdin", f"127.0.0.1:{port}", input=password)
    reference = f"127.0.0.1:{port}/compose-demo/kept:v1"
    local = docker.build_busybox(
        tmp_path / "image", f"ecr-emulator-test/kept:{docker.label}", "kept"
    )
    docker("tag", local, reference)
    try:
        docker("push", reference)
        compose("restart", "ecr", timeout=120)
        wait_healthy(compose, url)
        logs = compose("logs", "ecr").stdout
        assert " repositories, 1 images, " in logs.rsplit("loaded /var/lib/ecr-emulator", 1)[1]
        (image,) = client.describe_images(repositoryName="compose-demo/kept")["imageDetails"]
        assert image["imageTags"] == ["v1"]
        docker("rmi", reference, local)
        pulled = docker("pull", reference)  # the same login: the token secret was kept too
        assert image["imageDigest"] in pulled.stdout
        ran = docker("run", "--rm", "--network", "none", reference)
        assert ran.stdout.strip() == "kept"
    finally:
        docker.remove_test_images()
        docker("rmi", reference, check=False)


def wait_healthy(compose: Compose, url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/_emulator/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, compose("logs", "ecr", check=False).stdout
        time.sleep(0.5)
