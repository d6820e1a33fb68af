"""README.md stays true: its Python blocks run as tests, its server walkthrough runs against a
real server and Docker engine, and its operations table is the one the code generates."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import PYTHON_MODULE, aws_env, free_port, require_docker, serving

from ecr_emulator.support_table import replace_in

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), re.DOTALL | re.MULTILINE)


def test_the_operations_table_is_what_the_code_serves():
    text = README.read_text()
    assert replace_in(text) == text, "README's table is stale: run `ecr-emulator operations`"


def test_every_python_block_runs_as_a_test_file(pytester: pytest.Pytester):
    python_blocks = blocks("python")
    assert len(python_blocks) >= 2
    for number, block in enumerate(python_blocks):
        pytester.makepyfile(**{f"test_readme_block_{number}": block})
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=len(python_blocks))


def run_walkthrough(tmp_path: Path, marker: str) -> tuple[subprocess.CompletedProcess, str, int]:
    """The bash block containing ``marker``, run against a server on a free port instead of
    5000: the result, the server's log and the port."""
    require_docker()
    (walkthrough,) = [block for block in blocks("bash") if marker in block]
    port = free_port()
    script = walkthrough.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
    env = dict(aws_env(), DOCKER_CONFIG=str(tmp_path / "docker-config"))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # the venv's aws
    with serving(PYTHON_MODULE, tmp_path / "server.log", "--registry-host", port=port) as server:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        log = server.log_text()
    assert result.returncode == 0, result.stdout + result.stderr
    return result, log, port


@pytest.mark.docker
def test_the_server_walkthrough_runs_as_written(tmp_path):
    """The standalone-server block."""
    result, _, port = run_walkthrough(tmp_path, "docker push 127.0.0.1:5000/demo")
    described = json.loads(result.stdout[result.stdout.rindex('{\n    "imageDetails"') :])
    (image,) = described["imageDetails"]
    assert image["imageTags"] == ["v1"]
    subprocess.run(["docker", "rmi", f"127.0.0.1:{port}/demo/hello:v1"], capture_output=True)


@pytest.mark.docker
def test_the_ecr_public_walkthrough_runs_as_written(tmp_path):
    """The ECR Public block: push with a login, pull with none (the token flow)."""
    result, log, _ = run_walkthrough(tmp_path, "ecr-public create-repository")
    assert "GET /v2/token" in log
    pulled = [line for line in result.stdout.splitlines() if "public.ecr.aws" in line]
    assert pulled and pulled[-1].endswith("/tool:1.0")
    subprocess.run(["docker", "rmi", pulled[-1]], capture_output=True)
