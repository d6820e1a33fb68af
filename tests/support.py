"""Helpers for the tests that run the real ``ecr-emulator serve`` in a subprocess
(test_server) and drive it with container tools (docker, skopeo, compose).

A missing tool skips those tests, unless ``ECR_EMULATOR_REQUIRE_DOCKER=1``
(set by ``.ci/run``) turns the skip into a failure.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.request import urlopen

import pytest
from conftest import TEST_CREDENTIALS, ecr_client
from registry_client import OCI_INDEX, OCI_MANIFEST, digest_of, image_manifest, login

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_TOOLS = os.environ.get("ECR_EMULATOR_REQUIRE_DOCKER") == "1"
BUSYBOX = Path("/bin/busybox")
PYTHON_BASE_IMAGE = os.environ.get("ECR_EMULATOR_TEST_BASE_IMAGE", "local/python3-base:bookworm")

# The console script pip installed next to this interpreter (a pyenv shim would add ~0.3 s).
_BESIDE = Path(sys.executable).with_name("ecr-emulator")
CONSOLE_SCRIPT = [
    str(_BESIDE) if _BESIDE.exists() else shutil.which("ecr-emulator") or "ecr-emulator"
]
PYTHON_MODULE = [sys.executable, "-m", "ecr_emulator"]
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


# --- skip or fail ---------------------------------------------------------------------------


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when CI demands the container tools."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{reason} (ECR_EMULATOR_REQUIRE_DOCKER=1)", pytrace=False)
    pytest.skip(reason)


@cache
def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.strip()[:300]}"
    return None


def require_docker() -> None:
    problem = _docker_problem()
    if problem:
        unavailable(problem)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    return path


def require_file(path: Path, package: str) -> None:
    if not path.exists():
        unavailable(f"{path} is missing (Debian package {package})")


# --- processes ------------------------------------------------------------------------------


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    check: bool = True,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; with ``check`` a failure is an assertion error showing its output."""
    result = subprocess.run(
        [str(part) for part in command],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmulatorProcess:
    """``command serve --host 127.0.0.1 --port P *options`` in a subprocess, healthy once built.

    ``port`` is a free loopback port unless given; with 0 the server picks one and its
    "listening on" line says which.  Its output goes to ``log_path``.
    """

    def __init__(
        self, command: Sequence[str], log_path: Path, *options: str, port: int | None = None
    ) -> None:
        self.port = free_port() if port is None else port
        self.log_path = log_path
        argv = [*command, "serve", "--host", "127.0.0.1", "--port", str(self.port), *options]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            if self.port == 0:
                self.port = int(self._wait_for(lambda: LISTENING.search(self.log_text()))[1])
            self._wait_for(self._healthy)
        except BaseException:
            self.stop()
            raise

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _healthy(self) -> bool:
        try:
            with urlopen(f"{self.url}/_emulator/health", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    def _wait_for(self, condition: Callable[[], object], timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log_text()}")
            found = condition()
            if found:
                return found
            time.sleep(0.05)
        pytest.fail(f"server not ready after {timeout} s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self, key: str) -> int:
        """A number from the server's /proc status: ``Threads``, ``VmRSS`` (kB)..."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def client(self, region: str = "us-east-1", account: str | None = None):
        """A boto3 ECR client of this server (see ``conftest.ecr_client``)."""
        return ecr_client(region, account, endpoint_url=self.url)

    def password(self) -> str:
        """A registry password from GetAuthorizationToken (boto3)."""
        _, user, password = login(self.client())
        assert user == "AWS"
        return password

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def serving(
    command: Sequence[str], log_path: Path, *options: str, port: int | None = None
) -> Iterator[EmulatorProcess]:
    """An ``EmulatorProcess`` for the ``with`` block, always stopped after it."""
    server = EmulatorProcess(command, log_path, *options, port=port)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def registry_for_tools(base: Path) -> Iterator[EmulatorProcess]:
    """The emulator that container tools push to: URIs naming it (bare ``--registry-host``),
    blobs in ``base/data`` and every request logged (DEBUG) to ``base/server.log``."""
    options = ("--data-dir", str(base / "data"), "--log-level", "DEBUG", "--registry-host")
    with serving(PYTHON_MODULE, base / "server.log", *options) as server:
        yield server


def aws_env() -> dict[str, str]:
    """Environment for the aws CLI and boto3 in subprocesses: test credentials, no config files."""
    env = dict(os.environ)
    env.update(
        TEST_CREDENTIALS,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return env


def aws_cli() -> list[str]:
    """The real aws CLI (the test extra installs awscli into this interpreter)."""
    try:
        import awscli  # noqa: F401
    except ImportError:
        path = shutil.which("aws")
        if path is None:
            pytest.fail("the aws CLI is missing: pip install -e '.[test]'")
        return [path]
    return [sys.executable, "-m", "awscli"]


# --- docker ---------------------------------------------------------------------------------


class Docker:
    """The docker CLI with its own config directory, so logins never touch ``~/.docker``."""

    def __init__(self, config_dir: Path, label: str) -> None:
        config_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir = config_dir
        self.label = label

    def __call__(
        self, *args: str | os.PathLike[str], check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        return run(
            ["docker", "--config", self.config_dir, *args],
            check=check,
            input=input,
            env=env,
            timeout=300,
        )

    def with_config(self, config_dir: Path) -> Docker:
        return Docker(config_dir, self.label)

    def build_busybox(self, context: Path, tag: str, message: str) -> str:
        """A ``FROM scratch`` image holding static busybox whose default command echoes."""
        context.mkdir(parents=True, exist_ok=True)
        shutil.copy(BUSYBOX, context / "busybox")
        (context / "Dockerfile").write_text(
            f'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "echo", "{message}"]\n'
        )
        self(
            "build", "--force-rm", "--label", f"ecr-emulator-test={self.label}", "-t", tag, context
        )
        return tag

    def image_exists(self, reference: str) -> bool:
        return self("image", "inspect", reference, check=False).returncode == 0

    def remove_test_images(self) -> None:
        """Remove every image this test run built or pulled (they all carry its label)."""
        ids = self("image", "ls", "-q", "--filter", f"label=ecr-emulator-test={self.label}").stdout
        unique = sorted(set(ids.split()))
        if unique:
            self("rmi", "-f", *unique, check=False)


def run_label() -> str:
    return uuid.uuid4().hex[:12]


# --- OCI image layouts built by hand (no docker engine needed) ------------------------------


def _tar_gz(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """A deterministic gzipped tar of ``files``; returns (compressed, uncompressed)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            archive.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), uncompressed


@dataclass
class LayoutImage:
    """One image written into an OCI layout: its manifest and blob descriptors."""

    manifest: bytes
    digest: str
    config_digest: str
    layer_digest: str
    layer_size: int

    @property
    def descriptor(self) -> dict:
        return {"mediaType": OCI_MANIFEST, "digest": self.digest, "size": len(self.manifest)}


class OciLayout:
    """Writes an OCI image layout directory (``oci:`` for skopeo) with busybox images."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        self.index: dict = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        self._save_index()

    def _blob(self, data: bytes) -> str:
        digest = digest_of(data)
        (self.path / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
        return digest

    def _save_index(self) -> None:
        (self.path / "index.json").write_text(json.dumps(self.index))

    def _tag(self, descriptor: dict, tag: str) -> None:
        entry = dict(descriptor, annotations={"org.opencontainers.image.ref.name": tag})
        self.index["manifests"].append(entry)
        self._save_index()

    def image(self, message: str, architecture: str = "amd64", tag: str | None = None):
        """A busybox image printing ``message``; tagged in the layout when ``tag`` is given."""
        script = f"#!/bin/busybox sh\n/bin/busybox echo {message}\n".encode()
        layer, uncompressed = _tar_gz({"bin/busybox": BUSYBOX.read_bytes(), "hello": script})
        layer_digest = self._blob(layer)
        config = json.dumps(
            {
                "architecture": architecture,
                "os": "linux",
                "config": {"Cmd": ["/bin/busybox", "sh", "/hello"]},
                "rootfs": {"type": "layers", "diff_ids": [digest_of(uncompressed)]},
            }
        ).encode()
        config_digest = self._blob(config)
        manifest = json.dumps(
            image_manifest([(layer_digest, len(layer))], (config_digest, len(config)))
        ).encode()
        image = LayoutImage(manifest, self._blob(manifest), config_digest, layer_digest, len(layer))
        if tag:
            self._tag(image.descriptor, tag)
        return image

    def index_of(self, tag: str, images: dict[str, LayoutImage]) -> str:
        """An OCI image index over ``{architecture: image}``, tagged ``tag``; returns its digest."""
        document = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    dict(image.descriptor, platform={"architecture": arch, "os": "linux"})
                    for arch, image in images.items()
                ],
            }
        ).encode()
        digest = self._blob(document)
        self._tag({"mediaType": OCI_INDEX, "digest": digest, "size": len(document)}, tag)
        return digest


# --- compose: base image, offline wheels, build context ------------------------------------


def ensure_python_base_image(tag: str = PYTHON_BASE_IMAGE) -> str:
    """The local Python base image (debootstrap + docker import), built once per machine."""
    if run(["docker", "image", "inspect", tag], check=False).returncode == 0:
        return tag
    if os.geteuid() != 0:
        unavailable(f"building {tag} needs root (debootstrap)")
    require_tool("debootstrap")
    run(["bash", ROOT / "scripts" / "build-python-base.sh", tag], timeout=900)
    return tag


def image_python(tag: str) -> tuple[str, str]:
    """(``"3.11"``, glibc version) of the python3 inside ``tag``."""
    probe = "import platform, sys; print('%d.%d' % sys.version_info[:2], platform.libc_ver()[1])"
    out = run(["docker", "run", "--rm", "--network", "none", tag, "python3", "-c", probe]).stdout
    version, glibc = out.split()
    return version, glibc


def project_requirements() -> list[str]:
    """Runtime dependencies plus build requirements of this project, from pyproject.toml."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [*project["build-system"]["requires"], *project["project"]["dependencies"]]


def download_wheels(target: Path, python_version: str, glibc: str, machine: str) -> None:
    """``pip download`` on the host every wheel the image needs, so its build runs offline."""
    major, minor = (int(part) for part in glibc.split(".")[:2])
    # pip takes platform tags literally: list every manylinux tag this glibc can run.
    platforms = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 4, -1)]
    platforms += [f"manylinux{legacy}_{machine}" for legacy in ("2014", "2010", "1")]
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            *(option for platform in platforms for option in ("--platform", platform)),
            "--dest",
            target,
            *project_requirements(),
        ],
        timeout=600,
    )


def build_context(target: Path) -> Path:
    """A docker build context for the emulator: the files the Dockerfile needs, no repo clutter."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(
        ROOT / "ecr_emulator",
        target / "ecr_emulator",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return target
