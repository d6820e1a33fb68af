"""containerd's ``ctr`` against the server: it asks the token endpoint with OAuth2's password
grant (a POSTed form), not docker's Basic GET, so a private pull with ``--user`` and an
anonymous public pull both go through the registry token flow."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support import (
    BUSYBOX,
    PYTHON_MODULE,
    Docker,
    require_docker,
    require_file,
    require_tool,
    run_label,
    serving,
)
from test_ecr_public import public_client

SOCKETS = (Path("/run/docker/containerd/containerd.sock"), Path("/run/containerd/containerd.sock"))


def test_ctr_pulls_private_with_a_login_and_public_without(tmp_path):
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    ctr = require_tool("ctr")
    socket = next((path for path in SOCKETS if path.exists()), SOCKETS[0])
    require_file(socket, "containerd (dockerd's own, or the system's)")
    namespace = f"ecr-emulator-{run_label()}"
    docker = Docker(tmp_path / "docker-config", run_label())
    with serving(
        PYTHON_MODULE, tmp_path / "server.log", "--registry-host", "--public-alias", "ctr-team"
    ) as server:
        images = [ctr, "-a", str(socket), "-n", namespace, "images"]

        def pull(reference: str, *user: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*images, "pull", "--plain-http", *user, reference],
                capture_output=True,
                text=True,
                timeout=120,
            )

        try:
            private = server.client()
            private.create_repository(repositoryName="ctr/private")
            public_client(server.url).create_repository(repositoryName="ctr-public")
            password = server.password()
            docker("login", "--username", "AWS", "--password-stdin", server.host, input=password)
            private_ref = f"{server.host}/ctr/private:1"
            public_ref = f"{server.host}/public.ecr.aws/ctr-team/ctr-public:1"
            local = docker.build_busybox(tmp_path / "image", private_ref, "pulled by ctr")
            docker("tag", local, public_ref)
            docker("push", private_ref)
            docker("push", public_ref)

            pulled = pull(private_ref, "--user", f"AWS:{password}")
            assert pulled.returncode == 0, pulled.stderr
            anonymous = pull(public_ref)
            assert anonymous.returncode == 0, anonymous.stderr
            refused = pull(private_ref)
            assert refused.returncode != 0 and "403" in refused.stderr
            wrong = pull(private_ref, "--user", "AWS:not-a-password")
            assert wrong.returncode != 0 and "401" in wrong.stderr
            assert "POST /v2/token" in server.log_text()  # the OAuth2 form, not a Basic GET
            assert "Traceback" not in server.log_text()
        finally:
            listed = subprocess.run([*images, "ls", "-q"], capture_output=True, text=True)
            for reference in listed.stdout.split():
                subprocess.run([*images, "rm", reference], capture_output=True)
            docker.remove_test_images()
