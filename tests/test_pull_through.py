"""Pull-through cache rules through boto3, and a pull through the emulator from Debian's
``docker-registry`` (CNCF distribution) with docker: cached on the first pull, served
with the upstream stopped."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError
from support import (
    BUSYBOX,
    PYTHON_MODULE,
    Docker,
    free_port,
    require_docker,
    require_file,
    run_label,
    serving,
    unavailable,
)

DISTRIBUTION = "/usr/bin/docker-registry"


def test_rules_round_trip_and_errors(ecr):
    rule = ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="hub", upstreamRegistryUrl="http://127.0.0.1:9"
    )
    assert (
        rule["ecrRepositoryPrefix"] == "hub" and rule["upstreamRegistryUrl"] == "http://127.0.0.1:9"
    )
    with pytest.raises(ClientError, match="PullThroughCacheRuleAlreadyExistsException"):
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="hub", upstreamRegistryUrl="x.io")
    (described,) = ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert described["ecrRepositoryPrefix"] == "hub"
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/missing"
    with pytest.raises(ClientError, match="SecretNotFoundException"):
        ecr.update_pull_through_cache_rule(ecrRepositoryPrefix="hub", credentialArn=arn)
    checked = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="hub")
    assert checked["isValid"] is False and "could not be reached" in checked["failure"]
    ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="hub")
    for call in (
        lambda: ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="hub"),
        lambda: ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["hub"]),
        lambda: ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="hub"),
    ):
        with pytest.raises(ClientError, match="PullThroughCacheRuleNotFoundException"):
            call()


def _distribution(tmp_path):
    if shutil.which(DISTRIBUTION) is None:
        unavailable("Debian's docker-registry is not installed")
    port = free_port()
    (tmp_path / "upstream").mkdir()
    config = tmp_path / "upstream.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'upstream'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    process = subprocess.Popen(
        [DISTRIBUTION, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("docker-registry did not start")


def test_docker_pulls_through_from_a_distribution_upstream(tmp_path):
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    upstream, upstream_port = _distribution(tmp_path)
    docker = Docker(tmp_path / "docker-config", run_label())
    try:
        local = docker.build_busybox(
            tmp_path / "image", f"ecr-emulator-test/ptc:{docker.label}", "from upstream"
        )
        upstream_ref = f"127.0.0.1:{upstream_port}/library/tool:1.0"
        docker("tag", local, upstream_ref)
        docker("push", upstream_ref)
        with serving(
            PYTHON_MODULE,
            tmp_path / "server.log",
            "--registry-host",
            "--data-dir",
            str(tmp_path / "data"),
        ) as server:
            ecr = server.client()
            ecr.create_pull_through_cache_rule(
                ecrRepositoryPrefix="hub", upstreamRegistryUrl=f"http://127.0.0.1:{upstream_port}"
            )
            assert (
                ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="hub")["isValid"] is True
            )
            password = server.password()
            docker("login", "--username", "AWS", "--password-stdin", server.host, input=password)
            cached = f"{server.host}/hub/library/tool:1.0"
            docker("pull", cached)
            assert (
                docker("run", "--rm", "--network", "none", cached).stdout.strip() == "from upstream"
            )
            (repository,) = ecr.describe_repositories(repositoryNames=["hub/library/tool"])[
                "repositories"
            ]
            assert repository["repositoryName"] == "hub/library/tool"
            upstream.terminate()
            upstream.wait(timeout=10)
            docker("rmi", cached)
            docker("pull", cached)  # the upstream is gone: served from the cache
            assert (
                docker("run", "--rm", "--network", "none", cached).stdout.strip() == "from upstream"
            )
            missing = docker("pull", f"{server.host}/hub/library/none:1.0", check=False)
            assert missing.returncode != 0
            docker("logout", server.host, check=False)
            assert "Traceback" not in server.log_text()
    finally:
        if upstream.poll() is None:
            upstream.kill()
        docker.remove_test_images()


def test_basic_auth_upstream_with_credentials_from_the_secrets_file(tmp_path, ecr_server):
    """The upstream is another emulator (HTTP Basic, AWS and a registry password); the rule's
    credentialArn names the secret in ``--pull-through-secrets``; without it the upstream
    refuses and the pull finds nothing."""
    import boto3
    from registry_client import RegistryClient

    upstream = boto3.client("ecr", region_name="us-east-1", endpoint_url=ecr_server.url)
    upstream.create_repository(repositoryName="team/tool")
    registry = RegistryClient(upstream, ecr_server.url)
    manifest, answer = registry.push_image("team/tool", "2.0", layers=(b"upstream layer",))
    assert answer.status_code == 201
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/upstream"
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({arn: {"username": "AWS", "accessToken": registry.password}}))
    with serving(
        PYTHON_MODULE, tmp_path / "server.log", "--pull-through-secrets", str(secrets), "--no-auth"
    ) as server:
        ecr = server.client()
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="anon", upstreamRegistryUrl=ecr_server.url
        )
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="authed", upstreamRegistryUrl=ecr_server.url, credentialArn=arn
        )
        assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="authed")["isValid"] is True
        refused = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="anon")
        assert refused["isValid"] is False and "401" in refused["failure"]
        import requests

        headers = {"Accept": manifest["mediaType"]}
        missing = requests.get(
            f"{server.url}/v2/anon/team/tool/manifests/2.0", headers=headers, timeout=30
        )
        assert missing.status_code == 404
        pulled = requests.get(
            f"{server.url}/v2/authed/team/tool/manifests/2.0", headers=headers, timeout=30
        )
        assert pulled.status_code == 200
        assert json.loads(pulled.content) == manifest
        layer = manifest["layers"][0]["digest"]
        blob = requests.get(f"{server.url}/v2/authed/team/tool/blobs/{layer}", timeout=30)
        assert blob.content == b"upstream layer"


def test_bearer_token_upstream(tmp_path):
    """An upstream that answers 401 with ``WWW-Authenticate: Bearer realm=...`` (Docker Hub's
    scheme): the token comes from its realm, asked with the secret's credentials."""
    import base64
    import hashlib
    import http.server
    import threading

    import requests

    layer = b"bearer layer"
    config = b'{"architecture":"amd64","os":"linux"}'

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    content = {
        "/v2/lib/app/manifests/3.0": manifest,
        f"/v2/lib/app/blobs/{digest(layer)}": layer,
        f"/v2/lib/app/blobs/{digest(config)}": config,
    }
    expected_basic = "Basic " + base64.b64encode(b"robot:s3cret").decode()
    seen_scopes = []

    class Upstream(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # http.server's name
            path = self.path.split("?")[0]
            if path == "/token":
                if self.headers.get("Authorization") != expected_basic:
                    self.send_response(401)
                    self.end_headers()
                    return
                seen_scopes.append(self.path)
                body = json.dumps({"token": "T0KEN"}).encode()
            elif self.headers.get("Authorization") != "Bearer T0KEN":
                port = self.server.server_address[1]
                self.send_response(401)
                self.send_header(
                    "WWW-Authenticate",
                    f'Bearer realm="http://127.0.0.1:{port}/token",service="test",'
                    'scope="repository:lib/app:pull"',
                )
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            elif path == "/v2/":
                body = b"{}"
            elif path in content:
                body = content[path]
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            if "manifests" in path:
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub"
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({arn: {"username": "robot", "accessToken": "s3cret"}}))
    try:
        with serving(
            PYTHON_MODULE,
            tmp_path / "server.log",
            "--pull-through-secrets",
            str(secrets),
            "--no-auth",
        ) as server:
            ecr = server.client()
            url = f"http://127.0.0.1:{upstream.server_address[1]}"
            ecr.create_pull_through_cache_rule(
                ecrRepositoryPrefix="hub", upstreamRegistryUrl=url, credentialArn=arn
            )
            assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="hub")["isValid"]
            pulled = requests.get(f"{server.url}/v2/hub/lib/app/manifests/3.0", timeout=30)
            assert pulled.status_code == 200 and pulled.content == manifest
            blob = requests.get(f"{server.url}/v2/hub/lib/app/blobs/{digest(layer)}", timeout=30)
            assert blob.content == layer
            assert any("scope=repository" in s for s in seen_scopes)
    finally:
        upstream.shutdown()


def test_a_hostile_upstream_earns_a_404_not_a_500(tmp_path):
    """An upstream answering a manifest bigger than ECR stores, JSON nested 100,000 deep, or
    a list: the pull finds nothing, the server stays healthy."""
    import http.server
    import threading

    import requests

    bodies = {
        "/v2/lib/huge/manifests/1": b"{" + b" " * (5 * 2**20) + b"}",
        "/v2/lib/deep/manifests/1": b"[" * 100_000,
        "/v2/lib/list/manifests/1": b"[]",
    }

    class Hostile(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # http.server's name
            body = bodies.get(self.path, b"{}")
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        with serving(PYTHON_MODULE, tmp_path / "server.log", "--no-auth") as server:
            server.client().create_pull_through_cache_rule(
                ecrRepositoryPrefix="bad",
                upstreamRegistryUrl=f"http://127.0.0.1:{upstream.server_address[1]}",
            )
            for name in ("huge", "deep", "list"):
                answer = requests.get(f"{server.url}/v2/bad/lib/{name}/manifests/1", timeout=30)
                assert answer.status_code == 404, (name, answer.text)
            assert requests.get(f"{server.url}/_emulator/health", timeout=5).status_code == 200
            assert "Traceback" not in server.log_text()
    finally:
        upstream.shutdown()
