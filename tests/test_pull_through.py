"""Pull-through cache rules through boto3, and a pull through the emulator from Debian's
``docker-registry`` (CNCF distribution) with docker: cached on the first pull, served
with the upstream stopped."""

from __future__ import annotations

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
