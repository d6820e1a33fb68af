"""``ecr-emulator check --data-dir DIR [--repair]`` on a data directory damaged on purpose."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from conftest import ecr_client
from registry_client import RegistryClient, digest_of
from support import PYTHON_MODULE, ROOT, serving

from ecr_emulator import persistence
from ecr_emulator.blobstore import FilesystemBlobStore
from ecr_emulator.server import BackgroundServer, EmulatorApp
from ecr_emulator.state import Backend


def check(data, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecr_emulator", "check", "--data-dir", str(data), *options],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_check_finds_and_repairs_what_cannot_be_served(tmp_path):
    data = tmp_path / "data"
    backend = Backend(blobs=FilesystemBlobStore(data))
    persistence.attach(backend, data)
    server = BackgroundServer(EmulatorApp(backend)).start()
    try:
        ecr = ecr_client(endpoint_url=server.url)
        ecr.create_repository(repositoryName="check/me")
        registry = RegistryClient(ecr, server.url)
        for tag, layer in (("good", b"good layer"), ("corrupt", b"to corrupt"),
                           ("lost", b"to lose"), ("twice", b"claimed twice")):  # fmt: skip
            assert registry.push_image("check/me", tag, layers=(layer,))[1].status_code == 201
    finally:
        server.stop()
    persistence.close(backend)
    assert check(data).stdout.strip().endswith("no problems found")
    store = FilesystemBlobStore(data)
    store.path_of(digest_of(b"to corrupt")).write_bytes(b"flipped bits")
    store.path_of(digest_of(b"to lose")).unlink()
    orphan = store.path_of(digest_of(b"orphan"))
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")
    with sqlite3.connect(data / persistence.DATABASE) as db:  # "good" claims "twice" too
        key, body = db.execute(
            "SELECT key, body FROM records WHERE kind = 'image' AND body LIKE '%\"good\"%'"
        ).fetchone()
        fields = json.loads(body)
        fields["tags"] = {"$tuple": ["good", "twice"]}
        fields["pushed_at"] = {"$datetime": "2000-01-01T00:00:00+00:00"}
        db.execute("UPDATE records SET body = ? WHERE key = ?", (json.dumps(fields), key))

    found = check(data)
    assert found.returncode == 1, found.stdout
    text = found.stdout
    assert f"blob {digest_of(b'to corrupt')} hashes to" in text
    assert "a held blob has lost its bytes" in text and digest_of(b"to lose") in text
    assert "(tags corrupt) cannot be served" in text
    assert "(tags lost) cannot be served" in text
    assert "check/me:twice is claimed by" in text
    assert f"blob {digest_of(b'orphan')} is held by no repository" in text

    repaired = check(data, "--repair")
    assert repaired.returncode == 0, repaired.stdout
    assert check(data).stdout.strip().endswith("no problems found")
    with serving(PYTHON_MODULE, tmp_path / "log.txt", "--data-dir", str(data)) as served:
        client = served.client()
        tags = {
            tag
            for image in client.describe_images(repositoryName="check/me")["imageDetails"]
            for tag in image.get("imageTags", [])
        }
        assert tags == {"good", "twice"}
        registry = RegistryClient(client, served.url)
        for tag in tags:
            manifest = registry.get(
                f"/v2/check/me/manifests/{tag}",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            ).json()
            for blob in [manifest["config"], *manifest["layers"]]:
                assert registry.get(f"/v2/check/me/blobs/{blob['digest']}").status_code == 200


def test_check_refuses_a_directory_without_metadata(tmp_path):
    answer = check(tmp_path)
    assert answer.returncode == 2
    assert answer.stderr.startswith("ecr-emulator check:")
    assert "holds no metadata.sqlite3" in answer.stderr
