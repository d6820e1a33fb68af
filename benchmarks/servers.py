"""Shared by the benchmarks: free ports, servers started as subprocesses, peak memory.

Each benchmark starts what it compares (``ecr-emulator serve``, Debian's
``docker-registry``, ``moto_server``) on free loopback ports and stops it in
every case, so a run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
DISTRIBUTION = "/usr/bin/docker-registry"

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {host}:{port}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until ``url`` answers anything at all (an HTTP error is an answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_emulator(
    work: Path, *extra: str, data_dir: bool = True, src: str | None = None
) -> tuple[subprocess.Popen, str]:
    """``ecr-emulator serve`` on a free port (``src``: run another checkout)."""
    port = free_port()
    command = [sys.executable, "-m", "ecr_emulator", "serve", "--host", HOST, "--port", str(port)]
    if data_dir:
        path = work / f"emulator-data-{port}"
        path.mkdir()
        command += ["--data-dir", str(path)]
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    log = (work / f"emulator-{port}.log").open("w")
    process = subprocess.Popen(
        [*command, "--log-level", "WARNING", *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=src or None,
    )
    base = f"http://{HOST}:{port}"
    wait_for(f"{base}/_emulator/health", process)
    return process, base


def start_distribution(work: Path, proxy_for: str | None = None) -> tuple[subprocess.Popen, str]:
    """CNCF distribution 2.8 with filesystem storage under ``work``; with ``proxy_for``, a
    pull-through cache of that registry (distribution's ``proxy.remoteurl``)."""
    port = free_port()
    root = work / f"distribution-data-{port}"
    root.mkdir()
    config = work / f"distribution-{port}.yml"
    text = DISTRIBUTION_CONFIG.format(root=root, host=HOST, port=port)
    if proxy_for:
        text += f"proxy:\n  remoteurl: {proxy_for}\n"
    config.write_text(text)
    process = subprocess.Popen(
        [DISTRIBUTION, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://{HOST}:{port}"
    wait_for(f"{base}/v2/", process)
    return process, base


def ecr_client(base: str):
    """A boto3 ECR client for a server at ``base`` with the test credentials."""
    import boto3

    return boto3.client(
        "ecr",
        endpoint_url=base,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def start_moto(work: Path) -> tuple[subprocess.Popen, str]:
    """``moto_server`` (PyPI ``moto[server]``) on a free port."""
    port = free_port()
    log = (work / f"moto-{port}.log").open("w")
    command = [sys.executable, "-m", "moto.server", "--host", HOST, "--port", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    wait_for(f"{base}/moto-api/", process)
    return process, base


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server may fork workers)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    queue.extend(int(child) for child in children.read().split())
    return found


class RssWatch:
    """Peak resident memory of a process tree: the sum of each process's VmHWM, polled."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def sample(self) -> None:
        for pid in process_tree(self.pid):
            self.peaks[pid] = max(self.peaks.get(pid, 0), _status_kb(pid, "VmHWM"))

    def _poll(self) -> None:
        while not self._done.wait(0.05):
            self.sample()

    def __enter__(self) -> RssWatch:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.sample()

    @property
    def peak_mb(self) -> float:
        return sum(self.peaks.values()) / 1024


def no_proxy() -> None:
    """Loopback only: a proxy in the environment must not sit between client and server."""
    for variable in ("http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(variable, None)
        os.environ.pop(variable.upper(), None)


def curl(*args: str) -> str:
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "--noproxy", "*", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def push_blob(base: str, repository: str, path: Path, digest: str) -> None:
    """POST an upload, then PUT the whole file to its Location with ``?digest=`` (curl)."""
    headers = curl(
        "-X", "POST", "-D", "-", "-o", os.devnull, f"{base}/v2/{repository}/blobs/uploads/"
    )  # fmt: skip
    location = next(
        line.split(":", 1)[1].strip()
        for line in headers.splitlines()
        if line.lower().startswith("location:")
    )
    location = urllib.parse.urljoin(base + "/", location)
    separator = "&" if "?" in location else "?"
    code = curl(
        "-T", str(path), "-H", "Content-Type: application/octet-stream", "-o", os.devnull,
        "-w", "%{http_code}", f"{location}{separator}digest={digest}",
    )  # fmt: skip
    if code != "201":
        raise RuntimeError(f"push to {base} answered {code}")


def pull_blob(base: str, repository: str, digest: str, size: int) -> None:
    """GET the blob into /dev/null (curl), checking its size."""
    url = f"{base}/v2/{repository}/blobs/{digest}"
    got = curl("-o", os.devnull, "-w", "%{size_download}", url)
    if int(float(got)) != size:
        raise RuntimeError(f"pull from {base} got {got} bytes, expected {size}")


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * width for width in widths), *rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
