"""A 1 GiB blob pushed and pulled with curl: the emulator against Debian's docker-registry.

Both servers run here as subprocesses on free loopback ports, each storing on
disk in one temporary directory: ``ecr-emulator serve --no-auth --data-dir``
and CNCF distribution 2.8 (``/usr/bin/docker-registry``, filesystem storage).
For each, push = ``curl`` POST ``/v2/<repo>/blobs/uploads/`` then a monolithic
``curl -T`` PUT of the whole file to the Location with ``?digest=``; pull =
``curl -o /dev/null`` GET ``/v2/<repo>/blobs/<digest>``.  Rounds alternate
between the two servers, with ``sync`` before each push; the table shows the best
wall-clock time of ``--rounds``.  The emulator's peak RSS is its process tree's
VmHWM.  Targets: push ≤ 0.5x distribution's, pull ≤ 1.0x, emulator peak RSS
≤ 150 MB; the exit status is 1 when one is missed.  See benchmarks/README.md.

    python benchmarks/blob_transfer.py [--rounds 3] [--size-mib 1024] [--blob FILE]
                                       [--only emulator|distribution]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3

REPOSITORY = "bench/blob"
HOST = "127.0.0.1"
DISTRIBUTION = "/usr/bin/docker-registry"
PUSH_TARGET = 0.5
PULL_TARGET = 1.0
RSS_TARGET_MB = 150.0

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


@dataclass
class Result:
    system: str
    push: list[float] = field(default_factory=list)
    pull: list[float] = field(default_factory=list)
    peak_rss_mb: float | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def make_blob(path: Path, size: int) -> None:
    chunk = 16 * 1024 * 1024
    with open(path, "wb") as target:
        left = size
        while left:
            step = min(chunk, left)
            target.write(os.urandom(step))
            left -= step


def sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(4 * 1024 * 1024):
            hasher.update(block)
    return "sha256:" + hasher.hexdigest()


def wait_for(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
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
        for pid in _tree(self.pid):
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


def curl(*args: str) -> str:
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "--noproxy", "*", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def push(base: str, blob: Path, digest: str) -> float:
    start = time.perf_counter()
    headers = curl(
        "-X", "POST", "-D", "-", "-o", os.devnull, f"{base}/v2/{REPOSITORY}/blobs/uploads/"
    )
    location = next(
        line.split(":", 1)[1].strip()
        for line in headers.splitlines()
        if line.lower().startswith("location:")
    )
    location = urllib.parse.urljoin(base + "/", location)
    separator = "&" if "?" in location else "?"
    code = curl(
        "-T",
        str(blob),
        "-H",
        "Content-Type: application/octet-stream",
        "-o",
        os.devnull,
        "-w",
        "%{http_code}",
        f"{location}{separator}digest={digest}",
    )
    elapsed = time.perf_counter() - start
    if code != "201":
        raise RuntimeError(f"push to {base} answered {code}")
    return elapsed


def pull(base: str, digest: str, size: int) -> float:
    start = time.perf_counter()
    got = curl("-o", os.devnull, "-w", "%{size_download}", f"{base}/v2/{REPOSITORY}/blobs/{digest}")
    elapsed = time.perf_counter() - start
    if int(float(got)) != size:
        raise RuntimeError(f"pull from {base} got {got} bytes, expected {size}")
    return elapsed


def one_round(result: Result, base: str, blob: Path, digest: str) -> None:
    os.sync()  # each push starts with no dirty page cache left by the one before
    result.push.append(push(base, blob, digest))
    result.pull.append(pull(base, digest, blob.stat().st_size))


def start_emulator(work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    data_dir = work / "emulator-data"
    data_dir.mkdir()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecr_emulator",
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--no-auth",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://{HOST}:{port}"
    wait_for(f"{base}/_emulator/health", process)
    boto3.client(
        "ecr",
        endpoint_url=base,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_repository(repositoryName=REPOSITORY)
    return process, base


def start_distribution(work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    root = work / "distribution-data"
    root.mkdir()
    config = work / "config.yml"
    config.write_text(DISTRIBUTION_CONFIG.format(root=root, host=HOST, port=port))
    process = subprocess.Popen(
        [DISTRIBUTION, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://{HOST}:{port}"
    wait_for(f"{base}/v2/", process)
    return process, base


def ratio(mine: list[float], theirs: list[float]) -> str:
    return f"{min(mine) / min(theirs):.2f}x" if mine and theirs else "-"


def best(times: list[float]) -> str:
    return f"{min(times):.2f}" if times else "-"


def report(emulator: Result, distribution: Result, size: int, rounds: int) -> bool:
    """Print the table; True when every target is met (False when one could not be checked)."""
    print(f"\n{size / 2**20:.0f} MiB blob, best of {rounds}, curl over {HOST}\n")
    header = ("system", "push s", "pull s", "push ratio", "pull ratio", "peak RSS MB")
    rows = [
        (
            emulator.system,
            best(emulator.push),
            best(emulator.pull),
            ratio(emulator.push, distribution.push),
            ratio(emulator.pull, distribution.pull),
            "-" if emulator.peak_rss_mb is None else f"{emulator.peak_rss_mb:.0f}",
        ),
        (
            distribution.system,
            best(distribution.push),
            best(distribution.pull),
            "1.00x",
            "1.00x",
            "-",
        ),
    ]
    rows = [row for row, result in zip(rows, (emulator, distribution), strict=True) if result.push]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * width for width in widths), *rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
    print()
    for result in (emulator, distribution):
        if result.push:
            print(
                f"{result.system} rounds: push {' '.join(f'{t:.2f}' for t in result.push)} s;"
                f" pull {' '.join(f'{t:.2f}' for t in result.pull)} s"
            )
    if not (emulator.push and distribution.push):
        return False
    checks = {
        f"push <= {PUSH_TARGET}x distribution's": min(emulator.push)
        <= PUSH_TARGET * min(distribution.push),
        f"pull <= {PULL_TARGET}x distribution's": min(emulator.pull)
        <= PULL_TARGET * min(distribution.pull),
        f"emulator peak RSS <= {RSS_TARGET_MB:.0f} MB": (emulator.peak_rss_mb or 0.0)
        <= RSS_TARGET_MB,
    }
    print()
    for name, met in checks.items():
        print(f"{'met   ' if met else 'MISSED'}  {name}")
    return all(checks.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="blob size (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="push+pull rounds (default 3)")
    parser.add_argument(
        "--blob", type=Path, help="reuse this file as the blob (else a random one in a temp dir)"
    )
    parser.add_argument(
        "--only", choices=("emulator", "distribution"), help="benchmark one system only"
    )
    args = parser.parse_args()
    for variable in ("http_proxy", "https_proxy", "all_proxy"):  # loopback only, no proxy
        os.environ.pop(variable, None)
        os.environ.pop(variable.upper(), None)
    if shutil.which("curl") is None:
        parser.error("curl is needed")
    if args.only != "emulator" and not os.access(DISTRIBUTION, os.X_OK):
        parser.error(f"{DISTRIBUTION} is needed (Debian package docker-registry)")

    work = Path(tempfile.mkdtemp(prefix="ecr-emulator-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        blob = args.blob
        if blob is None:
            blob = work / "blob.bin"
            print(f"writing {args.size_mib} MiB of random bytes to {blob}", flush=True)
            make_blob(blob, args.size_mib * 2**20)
        digest = sha256_of(blob)
        emulator, distribution = Result("ecr-emulator"), Result("distribution 2.8")
        with contextlib.ExitStack() as stack:
            servers: list[tuple[Result, str]] = []
            watch = None
            if args.only != "distribution":
                process, base = start_emulator(work)
                processes.append(process)
                watch = stack.enter_context(RssWatch(process.pid))
                servers.append((emulator, base))
                print(f"emulator at {base}", flush=True)
            if args.only != "emulator":
                process, base = start_distribution(work)
                processes.append(process)
                servers.append((distribution, base))
                print(f"distribution at {base}", flush=True)
            for number in range(args.rounds):  # interleaved, so both see the same machine
                for result, base in servers:
                    one_round(result, base, blob, digest)
                print(f"round {number + 1} of {args.rounds} done", flush=True)
        if watch is not None:
            emulator.peak_rss_mb = watch.peak_mb
        met = report(emulator, distribution, blob.stat().st_size, args.rounds)
        return 0 if met or args.only else 1
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
