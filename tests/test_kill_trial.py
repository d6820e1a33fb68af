"""kill -9 at random moments during mixed work, then a restart: nothing acknowledged is
lost, nothing half-done shows, and every tag the server lists pulls with docker.

Two workers change one repository at once: one pushes busybox images with docker (each
with a layer of its own, so blobs are uploaded, linked and, once unreferenced, freed), the
other moves tags with PutImage (also manifests never pushed before) and deletes them with
BatchDeleteImage.  A per-tag lock keeps two changes of one tag from racing, so each
acknowledged change sets what that tag must show after the restart; a change in flight at
the kill may land or not (the tag is "uncertain" until the server is asked again).
``KILLS`` rounds, each killed after a random 0.3-2.5 s.  The counts are printed and
written to ``kill-trial.json`` in the test's directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from registry_client import RegistryClient
from support import (
    BUSYBOX,
    PYTHON_MODULE,
    Docker,
    EmulatorProcess,
    aws_cli,
    aws_env,
    free_port,
    require_docker,
    require_file,
    run,
    run_label,
)

pytestmark = pytest.mark.docker

KILLS = 20
REPOSITORY = "trial/kill"
DOCKER_TAGS = [f"d{n}" for n in range(3)]
API_TAGS = [f"a{n}" for n in range(4)]
PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")
GONE = "gone"


class Model:
    """What each tag must show after a restart: a digest, GONE, or unknown (in flight)."""

    def __init__(self) -> None:
        self.expected: dict[str, str] = {}
        self.uncertain: set[str] = set()
        self.locks = {tag: threading.Lock() for tag in DOCKER_TAGS + API_TAGS}
        self.counts = {
            "acknowledged": 0,
            "refused": 0,
            "in flight at a kill": 0,
            "answers cut short by a kill": 0,
        }
        self.history: dict[str, list[str]] = {tag: [] for tag in self.locks}

    def change(self, tag: str, attempt: Callable[[], str | None], what: str = "") -> None:
        """Run ``attempt`` (returns the tag's new digest, GONE, or None when the server
        answered that nothing changed); a connection error leaves the tag uncertain."""
        with self.locks[tag]:
            started = time.strftime("%H:%M:%S") + f"{time.time() % 1:.3f}"[1:]
            try:
                outcome = attempt()
            except (BotoCoreError, requests.ConnectionError, OSError, ServerGone) as error:
                self.history[tag].append(f"{started} {what} in flight: {type(error).__name__}")
                self.uncertain.add(tag)
                cut = isinstance(error, CutShort)
                self.counts["answers cut short by a kill" if cut else "in flight at a kill"] += 1
                raise ServerGone() from None
            self.history[tag].append(f"{started} {what} -> {outcome}")
            if outcome is None:
                self.counts["refused"] += 1
                return
            self.expected[tag] = outcome
            self.uncertain.discard(tag)
            self.counts["acknowledged"] += 1


class ServerGone(Exception):
    pass


class CutShort(ServerGone):
    """A 200 whose body the kill cut off."""


def answered(answer: dict, member: str) -> dict:
    """``answer`` if its body arrived: a kill between the status line and the body leaves
    botocore a 200 with nothing in it (it gives up reading and returns what it has), so
    the change happened but what it did is unknown until the server is asked again."""
    if member not in answer:
        raise CutShort()
    return answer


def build_images(docker: Docker, base: Path, count: int) -> list[str]:
    """Busybox images with a layer of random bytes each."""
    tags = []
    for number in range(count):
        context = base / f"image{number}"
        context.mkdir(parents=True)
        (context / "busybox").write_bytes(BUSYBOX.read_bytes())
        (context / "unique").write_bytes(os.urandom(64 * 1024))
        (context / "Dockerfile").write_text(
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY unique /unique\n"
            'CMD ["/bin/busybox", "true"]\n'
        )
        tag = f"ecr-emulator-test/trial:{docker.label}-{number}"
        docker("build", "--label", f"ecr-emulator-test={docker.label}", "-t", tag, context)
        tags.append(tag)
    return tags


def docker_worker(docker: Docker, host: str, images: list[str], model: Model, stop) -> None:
    rng = random.Random()
    while not stop.is_set():
        tag = rng.choice(DOCKER_TAGS)
        remote = f"{host}/{REPOSITORY}:{tag}"

        def push(remote: str = remote) -> str | None:
            docker("tag", rng.choice(images), remote)
            process = subprocess.Popen(
                ["docker", "--config", docker.config_dir, "push", remote],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            while process.poll() is None:
                if stop.is_set():
                    process.kill()
                    process.wait()
                    raise ServerGone()
                time.sleep(0.02)
            output = process.stdout.read()
            if process.returncode != 0:
                raise ServerGone()  # the server went away mid-push
            return PUSHED_DIGEST.search(output)[1]

        try:
            model.change(tag, push, "docker push")
        except ServerGone:
            return


def api_worker(server: EmulatorProcess, manifests: list[str], model: Model, stop) -> None:
    rng = random.Random()
    client = _no_retry_client(server)
    serial = 0
    while not stop.is_set():
        serial += 1
        if rng.random() < 0.6:
            tag = rng.choice(API_TAGS)
            # a known manifest, or the same with trailing spaces: a new image of known blobs
            manifest = rng.choice(manifests) + " " * rng.choice([0, 0, serial % 50])

            def put(tag=tag, manifest=manifest) -> str | None:
                try:
                    answered(
                        client.put_image(
                            repositoryName=REPOSITORY, imageManifest=manifest, imageTag=tag
                        ),
                        "image",
                    )
                except ClientError:
                    return None
                return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()

            attempt = put
        else:
            tag = rng.choice(API_TAGS + DOCKER_TAGS)

            def delete(tag=tag) -> str | None:
                answer = answered(
                    client.batch_delete_image(
                        repositoryName=REPOSITORY, imageIds=[{"imageTag": tag}]
                    ),
                    "imageIds",
                )
                return GONE if answer["imageIds"] else None

            attempt = delete
        try:
            model.change(tag, attempt, attempt.__name__)
        except ServerGone:
            return
        except ClientError:
            continue


def reporting(worker: Callable[..., None], errors: list[str]) -> Callable[..., None]:
    """``worker`` with whatever it raises put in ``errors`` (a thread's exception is only
    printed)."""

    def run(*args: object) -> None:
        try:
            worker(*args)
        except BaseException as error:
            errors.append(f"{worker.__name__}: {error!r}")
            raise

    return run


def _no_retry_client(server: EmulatorProcess):
    import boto3

    return boto3.client(
        "ecr",
        region_name="us-east-1",
        endpoint_url=server.url,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


def start(base: Path, port: int, round_number: int) -> EmulatorProcess:
    log = base / f"server-{round_number}.log"
    return EmulatorProcess(
        PYTHON_MODULE, log, "--data-dir", str(base / "data"), "--strict", port=port
    )


def verify(server: EmulatorProcess, docker: Docker, model: Model, stats: dict) -> None:
    client = _no_retry_client(server)
    registry = RegistryClient(client, server.url)
    shown: dict[str, str] = {}
    for page in client.get_paginator("list_images").paginate(repositoryName=REPOSITORY):
        for image in page["imageIds"]:
            if "imageTag" in image:
                shown[image["imageTag"]] = image["imageDigest"]
    for tag, expected in model.expected.items():
        if tag in model.uncertain:
            continue
        if shown.get(tag, GONE) != expected:
            history = "\n".join(model.history[tag])
            pytest.fail(f"{tag}: shows {shown.get(tag, GONE)}, expected {expected}:\n{history}")
        stats["acknowledged changes checked"] += 1
    for tag, digest in shown.items():  # every listed tag pulls: manifest and every blob
        manifest = registry.get(
            f"/v2/{REPOSITORY}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        assert manifest.status_code == 200, (tag, manifest.text)
        assert "sha256:" + hashlib.sha256(manifest.content).hexdigest() == digest
        body = manifest.json()
        for blob in [body["config"], *body["layers"]]:
            answer = registry.get(f"/v2/{REPOSITORY}/blobs/{blob['digest']}")
            assert answer.status_code == 200, (tag, blob)
            assert "sha256:" + hashlib.sha256(answer.content).hexdigest() == blob["digest"]
        pulled = docker("pull", f"{server.host}/{REPOSITORY}:{tag}")
        assert digest in pulled.stdout, pulled.stdout
        stats["tags pulled with docker"] += 1
    for tag in list(model.uncertain):  # settled now: what the server shows
        model.expected[tag] = shown.get(tag, GONE)
        model.history[tag].append(f"settled: {model.expected[tag]}")
        model.uncertain.discard(tag)


def test_kill_9_at_random_moments(tmp_path):
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    docker = Docker(tmp_path / "docker-config", run_label())
    port = free_port()
    stats = {
        "kills": 0,
        "acknowledged changes checked": 0,
        "tags pulled with docker": 0,
    }
    model = Model()
    images = build_images(docker, tmp_path / "images", 4)
    server = start(tmp_path, port, 0)
    try:
        password = run(
            [*aws_cli(), "ecr", "get-login-password", "--endpoint-url", server.url],
            env=aws_env(),
        ).stdout.strip()
        docker("login", "--username", "AWS", "--password-stdin", server.host, input=password)
        server.client().create_repository(repositoryName=REPOSITORY)
        manifests = []
        for number, image in enumerate(images[:2]):  # pushed once: API workers reuse them
            remote = f"{server.host}/{REPOSITORY}:base{number}"
            docker("tag", image, remote)
            digest = PUSHED_DIGEST.search(docker("push", remote).stdout)[1]
            found = server.client().batch_get_image(
                repositoryName=REPOSITORY, imageIds=[{"imageDigest": digest}]
            )
            manifests.append(found["images"][0]["imageManifest"])
        rng = random.Random(os.environ.get("KILL_TRIAL_SEED"))
        errors: list[str] = []
        for round_number in range(1, KILLS + 1):
            stop = threading.Event()
            workers = [
                threading.Thread(
                    target=reporting(docker_worker, errors),
                    args=(docker, server.host, images, model, stop),
                ),
                threading.Thread(
                    target=reporting(api_worker, errors), args=(server, manifests, model, stop)
                ),
            ]
            for worker in workers:
                worker.start()
            time.sleep(rng.uniform(0.3, 2.5))
            server.process.kill()  # kill -9, wherever it was
            server.process.wait()
            stats["kills"] += 1
            stop.set()
            for worker in workers:
                worker.join(timeout=60)
                assert not worker.is_alive()
            assert not errors, errors  # a worker that died unexpectedly leaves the model wrong
            server = start(tmp_path, port, round_number)
            verify(server, docker, model, stats)
    finally:
        server.stop()
        docker.remove_test_images()
        docker("logout", server.host, check=False)
    for log in sorted(tmp_path.glob("server-*.log")):
        text = log.read_text()
        assert "Traceback" not in text, log
        assert not re.search(r" 5\d\d [\d.]+ ms$", text, re.MULTILINE), log
    stats.update(model.counts)
    (tmp_path / "kill-trial.json").write_text(json.dumps(stats, indent=2))
    print("kill trial:", json.dumps(stats))
    assert stats["kills"] == KILLS
    assert model.counts["acknowledged"] > KILLS  # real work was done between the kills
