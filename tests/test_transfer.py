"""``ecr-emulator import`` / ``export``: OCI layouts and docker archives in and out, against a
running server and a data directory, digests kept byte for byte."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from registry_client import OCI_MANIFEST, RegistryClient
from support import (
    BUSYBOX,
    PYTHON_MODULE,
    ROOT,
    Docker,
    OciLayout,
    aws_env,
    registry_for_tools,
    require_docker,
    require_file,
    run_label,
    serving,
)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYTHON_MODULE, *map(str, args)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env=aws_env(),
    )  # fmt: skip


def layout_files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and path.parts[-3:-1] == ("blobs", "sha256")
    }


@pytest.fixture
def layout(tmp_path) -> tuple[Path, str]:
    require_file(BUSYBOX, "busybox-static")
    built = OciLayout(tmp_path / "layout")
    image = built.image("imported", tag="v1")
    return built.path, image.digest


def test_an_oci_layout_round_trips_through_a_server(tmp_path, layout):
    source, digest = layout
    with serving(PYTHON_MODULE, tmp_path / "log.txt") as server:
        done = cli("import", source, "--repository", "moved/in", "--tag", "v1",
                   "--endpoint-url", server.url)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert digest in done.stdout
        ecr = server.client()
        (image,) = ecr.describe_images(repositoryName="moved/in")["imageDetails"]
        assert (image["imageDigest"], image["imageTags"]) == (digest, ["v1"])

        out = tmp_path / "out"
        done = cli("export", out, "--repository", "moved/in", "--tag", "v1",
                   "--endpoint-url", server.url)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert layout_files(out) == layout_files(source)  # every blob, byte for byte
        index = json.loads((out / "index.json").read_text())
        assert index["manifests"][0]["digest"] == digest

        archive = tmp_path / "out.tar"
        assert cli("export", archive, "--repository", "moved/in", "--tag", "v1",
                   "--endpoint-url", server.url).returncode == 0  # fmt: skip
        done = cli("import", archive, "--repository", "moved/again", "--tag", "copy",
                   "--endpoint-url", server.url)  # fmt: skip
        assert done.returncode == 0, done.stderr
        (copy,) = ecr.describe_images(repositoryName="moved/again")["imageDetails"]
        assert copy["imageDigest"] == digest
        registry = RegistryClient(ecr, server.url)
        manifest = registry.get("/v2/moved/again/manifests/copy", headers={"Accept": OCI_MANIFEST})
        for blob in [manifest.json()["config"], *manifest.json()["layers"]]:
            assert registry.get(f"/v2/moved/again/blobs/{blob['digest']}").status_code == 200


def test_import_and_export_with_a_data_directory(tmp_path, layout):
    source, digest = layout
    data = tmp_path / "data"
    done = cli("import", source, "--repository", "offline/in", "--tag", "v1", "--data-dir", data)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    done = cli("export", out, "--repository", "offline/in", "--tag", digest, "--data-dir", data)
    assert done.returncode == 0, done.stderr
    assert layout_files(out) == layout_files(source)
    with serving(PYTHON_MODULE, tmp_path / "log.txt", "--data-dir", str(data)) as server:
        (image,) = server.client().describe_images(repositoryName="offline/in")["imageDetails"]
        assert (image["imageDigest"], image["imageTags"]) == (digest, ["v1"])


def test_import_refuses_what_is_not_an_image(tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    done = cli("import", junk, "--repository", "junk/in", "--data-dir", tmp_path / "data")
    assert done.returncode == 1
    assert "not an OCI image layout" in done.stderr
    done = cli("export", tmp_path / "o", "--repository", "none/here", "--data-dir", tmp_path / "x")
    assert done.returncode == 1 and "holds no metadata.sqlite3" in done.stderr


@pytest.mark.docker
def test_docker_save_in_and_docker_load_out(tmp_path):
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    docker = Docker(tmp_path / "docker-config", run_label())
    local = docker.build_busybox(
        tmp_path / "image", f"ecr-emulator-test/saved:{docker.label}", "saved"
    )
    saved = tmp_path / "saved.tar"
    docker("save", "-o", saved, local)
    loaded_tag = f"ecr-emulator-test/loaded:{docker.label}"
    (tmp_path / "server").mkdir()
    with registry_for_tools(tmp_path / "server") as server:
        try:
            done = cli("import", saved, "--repository", "saved/image", "--tag", "v1",
                       "--endpoint-url", server.url)  # fmt: skip
            assert done.returncode == 0, done.stderr
            password = server.password()
            docker("login", "--username", "AWS", "--password-stdin", server.host, input=password)
            remote = f"{server.host}/saved/image:v1"
            docker("pull", remote)
            assert docker("run", "--rm", "--network", "none", remote).stdout.strip() == "saved"

            archive = tmp_path / "exported.tar"
            done = cli("export", archive, "--format", "docker-archive", "--repository",
                       "saved/image", "--tag", "v1", "--endpoint-url", server.url)  # fmt: skip
            assert done.returncode == 0, done.stderr
            with tarfile.open(archive) as tar:
                assert {"manifest.json", "index.json", "oci-layout"} <= set(tar.getnames())
            docker("rmi", remote)
            docker("load", "-i", archive)
            docker("tag", "saved/image:v1", loaded_tag)
            ran = docker("run", "--rm", "--network", "none", loaded_tag)
            assert ran.stdout.strip() == "saved"
        finally:
            docker("rmi", "-f", remote, loaded_tag, "saved/image:v1", check=False)
            docker.remove_test_images()
