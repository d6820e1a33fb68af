"""Pull-through cache rules through boto3, and a pull through the emulator from Debian's
``docker-registry`` (CNCF distribution) with docker: cached on the first pull, served
with the upstream stopped."""

from __future__ import annotations

import contextlib
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
    refuses the private repository and the pull finds nothing."""
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
        # with no credentials the upstream (which serves ECR Public too) still answers its
        # ping through an anonymous token, as Docker Hub does: valid, but it opens no
        # private repository (below)
        assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="anon")["isValid"]
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


# --- blobs streamed from the upstream while they are cached -------------------------------------


class _BlobUpstream:
    """A registry of one image (``lib/app:1``) run here, whose blob answers a test steers:
    ``gate`` holds the layer after its first half until set; ``bodies`` replaces what a
    digest's GET sends (a lie); ``gets`` counts the layer GETs it answered."""

    def __init__(self, layer: bytes, manifest: bytes | None = None) -> None:
        import http.server
        import threading

        from registry_client import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, digest_of

        self.layer = layer
        self.layer_digest = digest_of(layer)
        config = b'{"architecture":"amd64","os":"linux"}'
        self.manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": self.layer_digest, "size": len(layer)}
                ],
            }
        ).encode()
        if manifest is not None:
            self.manifest = manifest
        self.blobs = {self.layer_digest: layer, digest_of(config): config}
        self.bodies: dict[str, bytes] = {}
        self.gate: threading.Event | None = None
        self.cut = False  # the layer's body stops halfway, the connection closes
        self.gets = 0
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_HEAD(self):  # http.server's name
                self._answer(body=False)

            def do_GET(self):  # http.server's name
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                if self.path == "/v2/lib/app/manifests/1":
                    data, kind = upstream.manifest, OCI_MANIFEST
                elif self.path.startswith("/v2/lib/app/blobs/"):
                    digest = self.path.rsplit("/", 1)[1]
                    data, kind = upstream.blobs.get(digest), "application/octet-stream"
                    if body and digest == upstream.layer_digest:
                        upstream.gets += 1
                    data = upstream.bodies.get(digest, data)
                else:
                    data, kind = None, ""
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not body:
                    return
                half = len(data) // 2
                self.wfile.write(data[:half])
                self.wfile.flush()
                if upstream.gate is not None and data is upstream.layer:
                    upstream.gate.wait(30)
                if upstream.cut and data is upstream.layer:
                    self.close_connection = True
                    return
                self.wfile.write(data[half:])

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def _caching(tmp_path, upstream: _BlobUpstream):
    """A server (``--data-dir``) with rule ``hub`` -> ``upstream`` whose manifest
    ``hub/lib/app:1`` was pulled: its layers are not fetched yet."""
    import requests

    with serving(
        PYTHON_MODULE, tmp_path / "server.log", "--no-auth", "--data-dir", str(tmp_path / "data")
    ) as server:
        server.client().create_pull_through_cache_rule(
            ecrRepositoryPrefix="hub", upstreamRegistryUrl=upstream.url
        )
        answer = requests.get(f"{server.url}/v2/hub/lib/app/manifests/1", timeout=30)
        assert answer.status_code == 200, answer.text
        yield server


def test_a_layer_reaches_the_client_before_the_upstream_has_sent_all_of_it(tmp_path):
    """The first GET of a layer streams: the client reads the first half while the upstream
    still holds back the second.  Once all of it has arrived it is verified and kept: the
    next pull is served with the upstream gone."""
    import threading

    import requests

    layer = bytes(range(256)) * 16384  # 4 MiB
    upstream = _BlobUpstream(layer)
    upstream.gate = threading.Event()
    try:
        with _caching(tmp_path, upstream) as server:
            url = f"{server.url}/v2/hub/lib/app/blobs/{upstream.layer_digest}"
            head = requests.head(url, timeout=30)  # asked of the upstream, nothing fetched
            assert head.status_code == 200
            assert head.headers["Content-Length"] == str(len(layer))
            assert head.headers["Docker-Content-Digest"] == upstream.layer_digest
            with requests.get(url, stream=True, timeout=30) as answer:
                assert answer.status_code == 200
                assert answer.headers["Content-Length"] == str(len(layer))
                first = answer.raw.read(len(layer) // 2)
                assert first == layer[: len(layer) // 2]
                assert not upstream.gate.is_set()  # the rest is still at the upstream
                upstream.gate.set()
                rest = answer.raw.read()
            assert first + rest == layer
            upstream.stop()
            again = requests.get(url, timeout=30)
            assert again.status_code == 200 and again.content == layer
            assert upstream.gets == 1
            assert not list((tmp_path / "data" / "blobs" / "uploads").glob("ptc-*"))
            assert "Traceback" not in server.log_text()
    finally:
        upstream.gate.set()
        upstream.stop()


def test_bytes_that_do_not_hash_to_the_digest_are_never_kept(tmp_path):
    """An upstream that answers a layer's GET with other bytes: the client gets what came
    (and its own digest check refuses it), the emulator keeps nothing, and the next pull
    asks the upstream again, which now answers right."""
    import requests

    layer = b"the real layer" * 100_000
    upstream = _BlobUpstream(layer)
    upstream.bodies[upstream.layer_digest] = b"a forged layer" * 100_000
    try:
        with _caching(tmp_path, upstream) as server:
            url = f"{server.url}/v2/hub/lib/app/blobs/{upstream.layer_digest}"
            forged = requests.get(url, timeout=30)
            assert forged.content != layer
            del upstream.bodies[upstream.layer_digest]
            time.sleep(0.2)  # the forged copy is verified (and dropped) after it was sent
            right = requests.get(url, timeout=30)
            assert right.status_code == 200 and right.content == layer
            assert upstream.gets == 2
            upstream.stop()
            assert requests.get(url, timeout=30).content == layer
            assert "Traceback" not in server.log_text()
    finally:
        upstream.stop()


def test_a_client_that_leaves_midway_leaves_nothing_behind(tmp_path):
    """The download stops with its client: no upload file stays, nothing is kept, and the
    next pull fetches the layer whole."""
    import socket
    import threading

    import requests

    layer = bytes(range(256)) * 65536  # 16 MiB
    upstream = _BlobUpstream(layer)
    upstream.gate = threading.Event()
    try:
        with _caching(tmp_path, upstream) as server:
            path = f"/v2/hub/lib/app/blobs/{upstream.layer_digest}"
            host, port = server.host.split(":")
            with socket.create_connection((host, int(port)), timeout=30) as client:
                client.sendall(f"GET {path} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
                assert client.recv(65536)  # the answer has begun
            upstream.gate.set()
            uploads = tmp_path / "data" / "blobs" / "uploads"
            deadline = time.monotonic() + 10
            while list(uploads.glob("ptc-*")) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not list(uploads.glob("ptc-*"))
            whole = requests.get(server.url + path, timeout=30)
            assert whole.content == layer
            assert upstream.gets == 2
            assert "Traceback" not in server.log_text()
    finally:
        upstream.gate.set()
        upstream.stop()


def test_a_range_of_a_layer_not_cached_yet_is_served_once_it_is(tmp_path):
    import requests

    layer = bytes(range(256)) * 4096
    upstream = _BlobUpstream(layer)
    try:
        with _caching(tmp_path, upstream) as server:
            url = f"{server.url}/v2/hub/lib/app/blobs/{upstream.layer_digest}"
            part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=30)
            assert part.status_code == 206 and part.content == layer[1000:2000]
            upstream.stop()
            assert requests.get(url, timeout=30).content == layer
    finally:
        upstream.stop()


def test_an_upstream_manifest_cannot_reach_another_accounts_blob(tmp_path):
    """Account B's upstream names, in a manifest, a blob only account A pushed and the
    upstream does not have.  Naming it is not having it: B's pull of it is BLOB_UNKNOWN,
    although those bytes sit in the emulator's store."""
    import requests
    from registry_client import RegistryClient

    secret = b"account A's private layer"
    upstream = _BlobUpstream(secret)
    del upstream.blobs[upstream.layer_digest]  # the upstream only names it
    try:
        with serving(PYTHON_MODULE, tmp_path / "server.log") as server:
            owner = server.client(account="111111111111")
            owner.create_repository(repositoryName="private/app")
            pushed = RegistryClient(owner, server.url).push_blob("private/app", secret)
            assert pushed == upstream.layer_digest
            other = server.client(account="222222222222")
            other.create_pull_through_cache_rule(
                ecrRepositoryPrefix="hub", upstreamRegistryUrl=upstream.url
            )
            registry = RegistryClient(other, server.url)
            assert registry.get("/v2/hub/lib/app/manifests/1").status_code == 200
            stolen = registry.get(f"/v2/hub/lib/app/blobs/{upstream.layer_digest}")
            assert stolen.status_code == 404
            assert stolen.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
            assert (
                registry.head(f"/v2/hub/lib/app/blobs/{upstream.layer_digest}").status_code == 404
            )
            assert requests.get(f"{server.url}/_emulator/health", timeout=5).status_code == 200
    finally:
        upstream.stop()


def test_a_scan_of_an_image_naming_another_accounts_layers_reads_none_of_them(tmp_path):
    """The manifest B's upstream serves names the layers of A's vulnerable image, which the
    upstream does not have: B's scan of it finds nothing, so the findings cannot tell B
    what A's layers install."""
    from registry_client import RegistryClient
    from support import _tar_gz
    from test_scanning import FEED, IMAGE_FILES, REPO, UPPER_LAYER

    feed = tmp_path / "feed"
    feed.mkdir()
    for document in FEED:
        (feed / f"{document['id']}.json").write_text(json.dumps(document))
    with serving(PYTHON_MODULE, tmp_path / "server.log", "--vuln-db", str(feed)) as server:
        owner = server.client(account="111111111111")
        owner.create_repository(repositoryName=REPO)
        layers = (_tar_gz(IMAGE_FILES)[0], _tar_gz(UPPER_LAYER)[0])
        _, pushed = RegistryClient(owner, server.url).push_image(REPO, "v1", layers=layers)
        digest = pushed.headers["Docker-Content-Digest"]
        owner.start_image_scan(repositoryName=REPO, imageId={"imageDigest": digest})
        owner.get_waiter("image_scan_complete").wait(
            repositoryName=REPO, imageId={"imageDigest": digest}, WaiterConfig={"Delay": 1}
        )
        findings = owner.describe_image_scan_findings(
            repositoryName=REPO, imageId={"imageDigest": digest}
        )["imageScanFindings"]["findings"]
        assert findings  # A's own scan sees its packages
        (image,) = owner.batch_get_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])[
            "images"
        ]
        upstream = _BlobUpstream(b"unused", manifest=image["imageManifest"].encode())
        try:
            other = server.client(account="222222222222")
            other.create_pull_through_cache_rule(
                ecrRepositoryPrefix="hub", upstreamRegistryUrl=upstream.url
            )
            registry = RegistryClient(other, server.url)
            pulled = registry.get(
                "/v2/hub/lib/app/manifests/1", headers={"Accept": image["imageManifestMediaType"]}
            )
            assert pulled.status_code == 200
            other.start_image_scan(repositoryName="hub/lib/app", imageId={"imageTag": "1"})
            other.get_waiter("image_scan_complete").wait(
                repositoryName="hub/lib/app", imageId={"imageTag": "1"}, WaiterConfig={"Delay": 1}
            )
            seen = other.describe_image_scan_findings(
                repositoryName="hub/lib/app", imageId={"imageTag": "1"}
            )["imageScanFindings"]
            assert seen.get("findings", []) == []
        finally:
            upstream.stop()


def test_an_upstream_that_stops_halfway_earns_no_500_and_leaves_nothing(tmp_path):
    """The upstream sends half of what its Content-Length says and hangs up: a GET's body
    ends early (the client sees it cut short), a Range GET is BLOB_UNKNOWN, nothing is
    kept, and the log has no traceback; once the upstream is whole, the layer comes."""
    import requests

    layer = bytes(range(256)) * 8192  # 2 MiB
    upstream = _BlobUpstream(layer)
    upstream.cut = True
    try:
        with _caching(tmp_path, upstream) as server:
            url = f"{server.url}/v2/hub/lib/app/blobs/{upstream.layer_digest}"
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                requests.get(url, timeout=30).content  # noqa: B018 (read it all)
            ranged = requests.get(url, headers={"Range": "bytes=0-9"}, timeout=30)
            assert ranged.status_code == 404
            assert ranged.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
            upstream.cut = False
            assert requests.get(url, timeout=30).content == layer
            assert not list((tmp_path / "data" / "blobs" / "uploads").glob("ptc-*"))
            assert "Traceback" not in server.log_text()
    finally:
        upstream.stop()


def test_a_second_client_of_a_layer_on_its_way_waits_for_it(tmp_path):
    """Two pulls of one layer at once (parallel ``docker pull``s of images that share it):
    the second waits for the first's download instead of fetching the layer again."""
    import threading

    import requests

    layer = bytes(range(256)) * 16384  # 4 MiB
    upstream = _BlobUpstream(layer)
    upstream.gate = threading.Event()
    try:
        with _caching(tmp_path, upstream) as server:
            url = f"{server.url}/v2/hub/lib/app/blobs/{upstream.layer_digest}"
            with requests.get(url, stream=True, timeout=30) as first:
                head = first.raw.read(len(layer) // 2)  # the first is under way
                second: dict[str, bytes] = {}
                waiter = threading.Thread(
                    target=lambda: second.update(body=requests.get(url, timeout=60).content)
                )
                waiter.start()
                waiter.join(timeout=1.0)
                assert waiter.is_alive()  # waiting for the first, not fetching
                upstream.gate.set()
                assert head + first.raw.read() == layer
            waiter.join(timeout=30)
            assert second["body"] == layer
            assert upstream.gets == 1
    finally:
        upstream.gate.set()
        upstream.stop()
