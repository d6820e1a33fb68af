"""Image scanning: findings read from the image's own layers and matched against an OSV feed,
through boto3 in-process, and end to end with docker, the aws CLI and a server given
``--vuln-db``; scan on push, the 24-hour limit, ENHANCED findings in Amazon Inspector's
shape, and the events of a push-scan-expire sequence."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from conftest import docker_manifest, ecr_client
from registry_client import RegistryClient
from support import (
    BUSYBOX,
    PYTHON_MODULE,
    Docker,
    _tar_gz,
    aws_cli,
    aws_env,
    require_docker,
    require_file,
    run,
    run_label,
    serving,
)

from ecr_emulator import mock_ecr
from ecr_emulator.clock import ManualClock
from ecr_emulator.scanning import advisories

REPO = "scanned/app"

OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
DPKG_STATUS = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u1

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2

Package: libc-bin
Status: deinstall ok config-files
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u1
"""
APK_INSTALLED = b"""C:Q1abc=
P:openssl
V:3.1.3-r0
A:x86_64
o:openssl

C:Q1def=
P:musl
V:1.2.4-r2
A:x86_64
o:musl
"""
REQUESTS_METADATA = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\n"
URLLIB3_METADATA = b"Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.5\n"
SIX_METADATA = b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n"
LODASH = json.dumps({"name": "lodash", "version": "4.17.20"}).encode()

IMAGE_FILES = {
    "etc/os-release": OS_RELEASE,
    "var/lib/dpkg/status": DPKG_STATUS,
    "lib/apk/db/installed": APK_INSTALLED,
    "usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA": REQUESTS_METADATA,
    "usr/lib/python3/dist-packages/urllib3-1.26.5.dist-info/METADATA": URLLIB3_METADATA,
    "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA": SIX_METADATA,
    "app/node_modules/lodash/package.json": LODASH,
}
# the second layer deletes six (a whiteout), as a later RUN pip uninstall would
UPPER_LAYER = {"usr/lib/python3/dist-packages/.wh.six-1.16.0.dist-info": b""}


def osv(
    identifier, ecosystem, name, events, severity=None, database_severity=None, kind="ECOSYSTEM"
):
    document = {
        "schema_version": "1.6.0",
        "id": identifier,
        "aliases": [identifier.replace("TEST-", "CVE-")],
        "summary": f"{name}: a test advisory",
        "details": f"{name} is vulnerable in this test feed.",
        "modified": "2026-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": kind, "events": events}],
            }
        ],
        "references": [{"type": "WEB", "url": f"https://example.test/{identifier}"}],
    }
    if severity:
        document["severity"] = [{"type": "CVSS_V3", "score": severity}]
    if database_severity:
        document["database_specific"] = {"severity": database_severity}
    return document


FEED = [
    # what the image has and is affected by
    osv(
        "TEST-2023-0001",
        "Debian:12",
        "glibc",
        [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}],
        "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
    ),
    osv(
        "TEST-2023-0002",
        "PyPI",
        "Requests",
        [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}],
        database_severity="MODERATE",
    ),
    osv(
        "TEST-2021-0003",
        "npm",
        "lodash",
        [{"introduced": "0"}, {"fixed": "4.17.21"}],
        kind="SEMVER",
        database_severity="CRITICAL",
    ),
    osv(
        "TEST-2023-0004",
        "Alpine:v3.18",
        "openssl",
        [{"introduced": "0"}, {"fixed": "3.1.4-r0"}],
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
    ),
    # decoys: another release, versions outside the range, a package the upper layer deleted
    osv(
        "TEST-2020-0101", "Debian:11", "glibc", [{"introduced": "0"}, {"fixed": "2.31-13+deb11u9"}]
    ),
    osv("TEST-2018-0102", "PyPI", "requests", [{"introduced": "0"}, {"fixed": "2.20.0"}]),
    osv(
        "TEST-2022-0103", "Debian:12", "bash", [{"introduced": "0"}, {"last_affected": "5.2.15-2"}]
    ),
    osv("TEST-2022-0104", "npm", "lodash", [{"introduced": "4.17.21"}], kind="SEMVER"),
    osv("TEST-2020-0105", "PyPI", "six", [{"introduced": "0"}]),
    osv("TEST-2020-0106", "Alpine:v3.18", "musl", [{"introduced": "0"}, {"fixed": "1.2.4-r1"}]),
]
EXPECTED = {
    ("CVE-2023-0001", "libc6", "HIGH"),  # 7.8 from its CVSS vector
    ("CVE-2023-0002", "requests", "MEDIUM"),  # GitHub's MODERATE
    ("CVE-2021-0003", "lodash", "CRITICAL"),
    ("CVE-2023-0004", "openssl", "HIGH"),  # 7.5
}


@pytest.fixture
def feed(tmp_path) -> Path:
    directory = tmp_path / "feed"
    directory.mkdir()
    for document in FEED:
        (directory / f"{document['id']}.json").write_text(json.dumps(document))
    (directory / "broken.json").write_text("{not json")  # skipped, with a warning
    return directory


def push_test_image(client, repository: str = REPO, tag: str = "v1") -> str:
    registry = RegistryClient(client)
    lower, _ = _tar_gz(IMAGE_FILES)
    upper, _ = _tar_gz(UPPER_LAYER)
    _manifest, answer = registry.push_image(repository, tag, layers=(lower, upper))
    assert answer.status_code == 201
    return answer.headers["Docker-Content-Digest"]


def found(client, **image):
    answer = client.describe_image_scan_findings(repositoryName=REPO, imageId=image)
    attributes = lambda f: {a["key"]: a["value"] for a in f["attributes"]}  # noqa: E731
    return answer, {
        (f["name"], attributes(f)["package_name"], f["severity"])
        for f in answer["imageScanFindings"]["findings"]
    }


def test_a_scan_reports_the_feed_advisories_of_what_the_layers_install(feed):
    clock = ManualClock(dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
    with mock_ecr(clock=clock, vuln_db=feed) as mock:
        client = ecr_client()
        client.create_repository(repositoryName=REPO)
        digest = push_test_image(client)
        with pytest.raises(ClientError, match="ScanNotFoundException"):
            client.describe_image_scan_findings(repositoryName=REPO, imageId={"imageTag": "v1"})

        started = client.start_image_scan(repositoryName=REPO, imageId={"imageTag": "v1"})
        assert started["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
        client.get_waiter("image_scan_complete").wait(
            repositoryName=REPO, imageId={"imageTag": "v1"}, WaiterConfig={"Delay": 1}
        )
        answer, findings = found(client, imageTag="v1")
        assert findings == EXPECTED
        assert answer["imageScanStatus"] == {
            "status": "COMPLETE",
            "description": "The scan was completed successfully.",
        }
        scanned = answer["imageScanFindings"]
        assert scanned["findingSeverityCounts"] == {"CRITICAL": 1, "HIGH": 2, "MEDIUM": 1}
        assert scanned["findings"][0]["severity"] == "CRITICAL"  # worst first
        glibc = next(f for f in scanned["findings"] if f["name"] == "CVE-2023-0001")
        assert {"key": "package_version", "value": "2.36-9+deb12u1"} in glibc["attributes"]
        assert {"key": "CVSS3_SCORE", "value": "7.8"} in glibc["attributes"]
        assert glibc["uri"] == "https://example.test/TEST-2023-0001"

        (detail,) = client.describe_images(repositoryName=REPO)["imageDetails"]
        assert detail["imageScanStatus"]["status"] == "COMPLETE"
        assert (
            detail["imageScanFindingsSummary"]["findingSeverityCounts"]
            == (scanned["findingSeverityCounts"])
        )
        # pages
        first = client.describe_image_scan_findings(
            repositoryName=REPO, imageId={"imageDigest": digest}, maxResults=3
        )
        second = client.describe_image_scan_findings(
            repositoryName=REPO, imageId={"imageDigest": digest}, nextToken=first["nextToken"]
        )
        assert len(first["imageScanFindings"]["findings"]) == 3
        assert len(second["imageScanFindings"]["findings"]) == 1 and "nextToken" not in second

        # a basic scan once per 24 hours
        with pytest.raises(ClientError) as raised:
            client.start_image_scan(repositoryName=REPO, imageId={"imageDigest": digest})
        assert raised.value.response["Error"]["Code"] == "LimitExceededException"
        clock.advance(hours=25)
        client.start_image_scan(repositoryName=REPO, imageId={"imageDigest": digest})

        scans = mock.events("ECR Image Scan")
        assert len(scans) == 2
        assert scans[0]["detail"] == {
            "scan-status": "COMPLETE",
            "repository-name": REPO,
            "finding-severity-counts": {"CRITICAL": 1, "HIGH": 2, "MEDIUM": 1},
            "image-digest": digest,
            "image-tags": ["v1"],
        }
        assert scans[0]["resources"] == [f"arn:aws:ecr:us-east-1:123456789012:repository/{REPO}"]


def test_images_without_layers_indexes_and_archived_images(feed):
    with mock_ecr(vuln_db=feed):
        client = ecr_client()
        client.create_repository(repositoryName=REPO)
        bare = client.put_image(
            repositoryName=REPO, imageManifest=docker_manifest("bare"), imageTag="bare"
        )
        digest = bare["image"]["imageId"]["imageDigest"]
        assert (
            client.start_image_scan(repositoryName=REPO, imageId={"imageTag": "bare"})[
                "imageScanStatus"
            ]["status"]
            == "COMPLETE"
        )  # in-process, the scan is done before the answer
        answer, findings = found(client, imageTag="bare")
        assert findings == set() and answer["imageScanFindings"]["findingSeverityCounts"] == {}

        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {
                        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                        "digest": digest,
                        "size": 100,
                    }
                ],
            }
        )
        client.put_image(repositoryName=REPO, imageManifest=index, imageTag="multi")
        with pytest.raises(ClientError, match="UnsupportedImageTypeException"):
            client.start_image_scan(repositoryName=REPO, imageId={"imageTag": "multi"})
        client.put_image(repositoryName=REPO, imageManifest=docker_manifest("old"), imageTag="old")
        client.update_image_storage_class(
            repositoryName=REPO, imageId={"imageTag": "old"}, targetStorageClass="ARCHIVE"
        )
        with pytest.raises(ClientError, match="ImageArchivedException"):
            client.start_image_scan(repositoryName=REPO, imageId={"imageTag": "old"})
        with pytest.raises(ClientError, match="ImageNotFoundException"):
            client.start_image_scan(repositoryName=REPO, imageId={"imageTag": "none"})


def test_scanning_configuration_and_scan_on_push(feed):
    with mock_ecr(vuln_db=feed) as mock:
        client = ecr_client()
        for name in (REPO, "other/app", "pushed/app"):
            client.create_repository(repositoryName=name)
        assert client.get_registry_scanning_configuration()["scanningConfiguration"] == {
            "scanType": "BASIC",
            "rules": [],
        }
        with pytest.raises(ClientError, match="InvalidParameterException"):
            client.put_registry_scanning_configuration(
                scanType="BASIC",
                rules=[
                    {
                        "scanFrequency": "CONTINUOUS_SCAN",
                        "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
                    }
                ],
            )
        rule = {
            "scanFrequency": "SCAN_ON_PUSH",
            "repositoryFilters": [{"filter": "scanned/*", "filterType": "WILDCARD"}],
        }
        client.put_registry_scanning_configuration(scanType="BASIC", rules=[rule])
        client.put_image_scanning_configuration(
            repositoryName="pushed/app", imageScanningConfiguration={"scanOnPush": True}
        )
        configurations = client.batch_get_repository_scanning_configuration(
            repositoryNames=[REPO, "other/app", "pushed/app", "missing/app"]
        )
        by_name = {c["repositoryName"]: c for c in configurations["scanningConfigurations"]}
        assert by_name[REPO]["scanFrequency"] == "SCAN_ON_PUSH" and by_name[REPO]["scanOnPush"]
        assert by_name[REPO]["appliedScanFilters"] == rule["repositoryFilters"]
        assert by_name["other/app"]["scanFrequency"] == "MANUAL"
        assert by_name["pushed/app"]["scanOnPush"] is True
        assert configurations["failures"] == [
            {
                "repositoryName": "missing/app",
                "failureCode": "REPOSITORY_NOT_FOUND",
                "failureReason": "REPOSITORY_NOT_FOUND",
            }
        ]

        push_test_image(client, REPO)
        push_test_image(client, "other/app")
        push_test_image(client, "pushed/app")
        scanned = {e["detail"]["repository-name"] for e in mock.events("ECR Image Scan")}
        assert scanned == {REPO, "pushed/app"}  # not other/app: no rule, no scanOnPush
        assert found(client, imageTag="v1")[1] == EXPECTED

        # ENHANCED: findings in Amazon Inspector's shape
        client.put_registry_scanning_configuration(
            scanType="ENHANCED",
            rules=[{**rule, "scanFrequency": "CONTINUOUS_SCAN"}],
        )
        client.put_image(repositoryName=REPO, imageManifest=docker_manifest("later"), imageTag="x")
        registry = RegistryClient(client)
        lower, _ = _tar_gz(IMAGE_FILES)
        registry.push_image(REPO, "enhanced", layers=(lower,))
        answer = client.describe_image_scan_findings(
            repositoryName=REPO, imageId={"imageTag": "enhanced"}
        )
        enhanced = answer["imageScanFindings"]["enhancedFindings"]
        assert "findings" not in answer["imageScanFindings"]
        names = {
            (f["packageVulnerabilityDetails"]["vulnerabilityId"], f["severity"]) for f in enhanced
        }
        # six is no longer deleted by a second layer: its advisory is found too
        assert names == {(n, s) for n, _, s in EXPECTED} | {("CVE-2020-0105", "UNDEFINED")}
        lodash = next(f for f in enhanced if f["title"].endswith("lodash"))
        package = lodash["packageVulnerabilityDetails"]["vulnerablePackages"][0]
        assert package == {
            "name": "lodash",
            "version": "4.17.20",
            "packageManager": "NODEPKG",
            "filePath": "app/node_modules/lodash/package.json",
            "sourceLayerHash": package["sourceLayerHash"],
            "fixedInVersion": "4.17.21",
        }
        assert lodash["type"] == "PACKAGE_VULNERABILITY" and lodash["fixAvailable"] == "YES"
        assert lodash["findingArn"].startswith("arn:aws:inspector2:us-east-1:123456789012:finding/")
        resource = lodash["resources"][0]
        assert resource["type"] == "AWS_ECR_CONTAINER_IMAGE"
        assert resource["details"]["awsEcrContainerImage"]["repositoryName"] == REPO
        glibc = next(
            f for f in enhanced if "glibc" in f["description"] or f["title"].endswith("libc6")
        )
        assert glibc["score"] == 7.8
        assert glibc["scoreDetails"]["cvss"]["scoringVector"].startswith("CVSS:3.1/AV:L")


def test_the_sample_feed_and_cvss_scores():
    feed = advisories.Feed()
    assert feed.count >= 4
    assert {m.advisory.name for m in feed.matches("npm", None, "lodash", "4.17.20")} == {
        "CVE-2021-23337"
    }
    assert not list(feed.matches("npm", None, "lodash", "4.17.21"))
    # scores from FIRST's CVSS v3.1 calculator
    for vector, score in [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N", 6.1),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
    ]:
        assert advisories.cvss3_base_score(vector) == score, vector


def test_docker_pushed_image_scanned_on_push_with_the_aws_cli(tmp_path, feed):
    """End to end: a FROM scratch image built by docker with a dpkg status file, an apk
    database and a Python dist-info; scan on push on a server given ``--vuln-db``; the aws
    CLI waits for the scan and reads the findings; then the events of push, scan and a
    lifecycle expiry, in order."""
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    context = tmp_path / "image"
    for path, data in IMAGE_FILES.items():
        target = context / "rootfs" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    shutil.copy(BUSYBOX, context / "rootfs" / "busybox")
    (context / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCMD ["/busybox", "true"]\n')
    docker = Docker(tmp_path / "docker-config", run_label())
    local = f"ecr-emulator-test/scan:{docker.label}"
    docker("build", "--label", f"ecr-emulator-test={docker.label}", "-t", local, context)
    options = ("--vuln-db", str(feed), "--registry-host")
    with serving(PYTHON_MODULE, tmp_path / "server.log", *options) as server:
        aws = [*aws_cli(), "ecr", "--endpoint-url", server.url, "--output", "json"]
        env = aws_env()

        def cli(*args: str) -> dict:
            answer = run([*aws, *args], env=env).stdout
            return json.loads(answer) if answer.strip() else {}

        try:
            cli(
                "create-repository",
                "--repository-name",
                REPO,
                "--image-scanning-configuration",
                "scanOnPush=true",
            )
            password = run([*aws, "get-login-password"], env=env).stdout.strip()
            docker("login", "--username", "AWS", "--password-stdin", server.host, input=password)
            remote = f"{server.host}/{REPO}:v1"
            docker("tag", local, remote)
            docker("push", remote)
            run(
                [
                    *aws,
                    "wait",
                    "image-scan-complete",
                    "--repository-name",
                    REPO,
                    "--image-id",
                    "imageTag=v1",
                ],
                env=env,
            )
            answer = cli(
                "describe-image-scan-findings",
                "--repository-name",
                REPO,
                "--image-id",
                "imageTag=v1",
            )
            names = {
                (
                    f["name"],
                    {a["key"]: a["value"] for a in f["attributes"]}["package_name"],
                    f["severity"],
                )
                for f in answer["imageScanFindings"]["findings"]
            }
            # the docker build has one layer: six is there, and so is its advisory
            assert names == EXPECTED | {("CVE-2020-0105", "six", "UNDEFINED")}

            # push, scan, expire: the events in order
            policy = {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {
                            "tagStatus": "any",
                            "countType": "imageCountMoreThan",
                            "countNumber": 1,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
            cli(
                "put-lifecycle-policy",
                "--repository-name",
                REPO,
                "--lifecycle-policy-text",
                json.dumps(policy),
            )
            client = server.client()
            client.put_image(
                repositoryName=REPO, imageManifest=docker_manifest("newer"), imageTag="v2"
            )
            wait_v2 = ["wait", "image-scan-complete", "--repository-name", REPO]
            # its scan on push runs on a worker: let it finish before the expiry
            run([*aws, *wait_v2, "--image-id", "imageTag=v2"], env=env)
            taken = requests.post(f"{server.url}/_emulator/lifecycle/run", timeout=30).json()
            assert [a["imageTags"] for a in taken] == [["v1"]]
            events = requests.get(
                f"{server.url}/_emulator/events", params={"repository": REPO}, timeout=10
            ).json()["events"]
            sequence = [
                (
                    e["detail-type"],
                    e["detail"].get("action-type")
                    or e["detail"].get("scan-status")
                    or e["detail"].get("eventName"),
                    e["detail"].get("image-tag"),
                )
                for e in events
            ]
            assert sequence == [
                ("ECR Image Action", "PUSH", "v1"),
                ("ECR Image Scan", "COMPLETE", None),
                ("AWS API Call via CloudTrail", "PutLifecyclePolicy", None),
                ("ECR Image Action", "PUSH", "v2"),
                ("ECR Image Scan", "COMPLETE", None),
                ("ECR Image Action", "DELETE", "v1"),
                ("AWS Service Event via CloudTrail", "PolicyExecutionEvent", None),
            ]
        finally:
            docker.remove_test_images()
            docker("logout", server.host, check=False)
        assert "Traceback" not in server.log_text()


def _gzip_tar(entries: list[tuple[str, bytes]]) -> bytes:
    """A gzipped tar; entries may repeat a path (``_tar_gz`` takes a dict)."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def test_hostile_layers_cost_little_and_hide_nothing(feed):
    """A gzip bomb of oversized package.json files (a few KB inflating to 320 MiB), a
    package.json nested 100,000 deep, thousands of whiteouts of nothing, and a blob that is
    no tar: the scan completes quickly, keeps little, and still reports what is there."""
    import time

    bomb = _gzip_tar(
        [(f"app/node_modules/p{n}/package.json", bytes(32 * 2**20)) for n in range(10)]
    )
    assert len(bomb) < 2 * 2**20
    deep = _gzip_tar([("app/node_modules/zz/package.json", b"[" * 100_000)])
    whiteouts = _gzip_tar([(f"usr/lib/.wh.nothing{n}", b"") for n in range(20_000)])
    lower, _ = _tar_gz(IMAGE_FILES)
    with mock_ecr(vuln_db=feed):
        client = ecr_client()
        client.create_repository(repositoryName=REPO)
        registry = RegistryClient(client)
        registry.push_image(REPO, "hostile", layers=(lower, bomb, deep, whiteouts, b"not a tar"))
        started = time.monotonic()
        client.start_image_scan(repositoryName=REPO, imageId={"imageTag": "hostile"})
        assert time.monotonic() - started < 30
        answer = client.describe_image_scan_findings(
            repositoryName=REPO, imageId={"imageTag": "hostile"}
        )
        assert answer["imageScanStatus"]["status"] == "COMPLETE"
        names = {f["name"] for f in answer["imageScanFindings"]["findings"]}
        assert {name for name, _, _ in EXPECTED} <= names


def test_a_hostile_feed_costs_only_its_own_files(tmp_path):
    directory = tmp_path / "feed"
    directory.mkdir()
    good = osv(
        "TEST-2021-0003",
        "npm",
        "lodash",
        [{"introduced": "0"}, {"fixed": "4.17.21"}],
        kind="SEMVER",
    )
    (directory / "good.json").write_text(json.dumps(good))
    (directory / "list.json").write_text("[]")
    (directory / "string.json").write_text('"text"')
    (directory / "deep.json").write_text("[" * 100_000)
    (directory / "not-utf8.json").write_bytes(b"\xff\xfe{}")
    odd = {**good, "id": "ODD-1", "database_specific": "HIGH", "affected": [{"package": "lodash"}]}
    (directory / "odd.json").write_text(json.dumps(odd))
    ranges = json.loads(json.dumps(good))
    ranges["id"] = "ODD-2"
    ranges["affected"][0]["ranges"] = {"type": "SEMVER"}
    ranges["affected"][0]["versions"] = "4.17.200"  # a string, not a list: no substring match
    (directory / "ranges.json").write_text(json.dumps(ranges))
    feed = advisories.Feed(directory)
    found = {m.advisory.id for m in feed.matches("npm", None, "lodash", "4.17.20")}
    assert found == {"TEST-2021-0003"}
