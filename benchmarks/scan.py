"""Image scanning cost: one scan of a 100 MB image in-process, and API latency on a server
while it scans a 1 GiB image.

Part 1 (in-process): an image of ``--mib`` MiB (default 100) in three gzipped layers:
random files (incompressible, as binaries are), a dpkg status of 500 packages, 200
Python dist-infos and 200 npm packages; an OSV feed of 2,000 advisories on the same
names.  Timed: ``StartImageScan`` (the scan runs before it returns in-process), against
the baseline of reading the same layers once with ``tarfile`` and nothing else.

Part 2 (server): ``ecr-emulator serve`` with a ``--big-mib`` (default 1024) layer pushed;
DescribeRepositories latency (p50 and max over 2 s) with no scan, then while the scan
of that image runs on the server's worker thread.  Target (issue 8): scans do not stall
the API.

    python benchmarks/scan.py [--mib 100] [--big-mib 1024] [--skip-server]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import ecr_client, print_table, start_emulator, stop

from ecr_emulator import mock_ecr
from ecr_emulator.blobstore import put_blob
from ecr_emulator.core import Caller, images
from ecr_emulator.digests import digest_of

REPOSITORY = "bench/scan"


def layer(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=1)


def image_layers(mib: int) -> list[bytes]:
    chunk = 4 * 1024 * 1024
    big = {f"opt/data/file{n}.bin": os.urandom(chunk) for n in range(max(1, mib * 2**20 // chunk))}
    dpkg = "\n".join(
        f"Package: pkg{n}\nStatus: install ok installed\nVersion: 1.{n}-1\n" for n in range(500)
    )
    packages = {
        "var/lib/dpkg/status": dpkg.encode(),
        "etc/os-release": b'ID=debian\nVERSION_ID="12"\n',
    }
    for n in range(200):
        packages[f"usr/lib/python3/dist-packages/py{n}-1.0.dist-info/METADATA"] = (
            f"Name: py{n}\nVersion: 1.0.{n}\n".encode()
        )
        packages[f"app/node_modules/js{n}/package.json"] = json.dumps(
            {"name": f"js{n}", "version": f"2.0.{n}"}
        ).encode()
    return [layer(big), layer(packages), layer({"etc/motd": b"hello"})]


def write_feed(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    entries = [("Debian:12", f"pkg{n}") for n in range(500)]
    entries += [("PyPI", f"py{n}") for n in range(200)] + [("npm", f"js{n}") for n in range(200)]
    for number in range(2000):
        ecosystem, name = entries[number % len(entries)]
        fixed = "9.0" if ecosystem != "npm" else "9.0.0"
        document = {
            "id": f"BENCH-{number}",
            "affected": [
                {
                    "package": {"ecosystem": ecosystem, "name": name},
                    "ranges": [
                        {
                            "type": "ECOSYSTEM" if ecosystem != "npm" else "SEMVER",
                            "events": [{"introduced": "0"}, {"fixed": fixed}],
                        }
                    ],
                }
            ],
            "severity": [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
            ],
        }
        (directory / f"BENCH-{number}.json").write_text(json.dumps(document))


def manifest_for(layers: list[bytes], config: bytes) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest_of(data),
                    "size": len(data),
                }
                for data in layers
            ],
        }
    )


def in_process(mib: int, feed: Path) -> list[tuple[str, ...]]:
    layers = image_layers(mib)
    config = b'{"architecture":"amd64","os":"linux"}'
    total = sum(len(data) for data in layers)
    started = time.perf_counter()
    for data in layers:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as archive:
            for member in archive:
                if member.isfile():
                    archive.extractfile(member).read()
    baseline = time.perf_counter() - started
    with mock_ecr(vuln_db=feed) as mock:
        client = boto3.client("ecr", region_name="us-east-1")
        client.create_repository(repositoryName=REPOSITORY)
        caller = Caller(mock.backend, "123456789012", "us-east-1")
        with mock.backend.lock:
            repository = mock.backend.find_registry("123456789012", "us-east-1").repositories[
                REPOSITORY
            ]
            for data in [*layers, config]:
                put_blob(mock.backend.blobs, digest_of(data), data)
                repository.link_blob(digest_of(data))
        images.put_image(caller, None, REPOSITORY, manifest_for(layers, config), tags=["v1"])
        started = time.perf_counter()
        client.start_image_scan(repositoryName=REPOSITORY, imageId={"imageTag": "v1"})
        scanned = time.perf_counter() - started
        found = client.describe_image_scan_findings(
            repositoryName=REPOSITORY, imageId={"imageTag": "v1"}
        )["imageScanFindings"]["findingSeverityCounts"]
    return [
        (
            f"read the layers with tarfile ({total / 2**20:.0f} MB gzipped)",
            f"{baseline:.2f}",
            "1.00x",
        ),
        (
            f"StartImageScan, scan included ({sum(found.values())} findings)",
            f"{scanned:.2f}",
            f"{scanned / baseline:.2f}x",
        ),
    ]


def latency(client, seconds: float) -> tuple[float, float]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        client.describe_repositories()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def on_server(big_mib: int, work: Path) -> list[tuple[str, ...]]:
    from servers import push_blob

    process, base = start_emulator(work, "--no-auth")
    try:
        client = ecr_client(base)
        client.create_repository(repositoryName=REPOSITORY)
        big = layer({"opt/big.bin": os.urandom(big_mib * 2**20)})
        path = work / "big.tar.gz"
        path.write_bytes(big)
        config = b'{"architecture":"amd64","os":"linux"}'
        push_blob(base, REPOSITORY, path, digest_of(big))
        config_path = work / "config.json"
        config_path.write_bytes(config)
        push_blob(base, REPOSITORY, config_path, digest_of(config))
        client.put_image(
            repositoryName=REPOSITORY, imageManifest=manifest_for([big], config), imageTag="big"
        )
        del big
        idle = latency(client, 2.0)
        started = time.perf_counter()
        client.start_image_scan(repositoryName=REPOSITORY, imageId={"imageTag": "big"})
        during = latency(client, 2.0)
        while (
            client.describe_image_scan_findings(
                repositoryName=REPOSITORY, imageId={"imageTag": "big"}
            )["imageScanStatus"]["status"]
            == "IN_PROGRESS"
        ):
            time.sleep(0.1)
        took = time.perf_counter() - started
    finally:
        stop(process)
    return [
        ("DescribeRepositories, no scan running", f"{idle[0]:.1f}", f"{idle[1]:.1f}", "-"),
        (
            f"DescribeRepositories while a {big_mib} MiB layer is scanned",
            f"{during[0]:.1f}",
            f"{during[1]:.1f}",
            f"{took:.1f}",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    work = Path(tempfile.mkdtemp(prefix="ecr-emulator-bench-"))
    try:
        feed = work / "feed"
        write_feed(feed)
        print_table(("in-process", "seconds", "x baseline"), in_process(args.mib, feed))
        if not args.skip_server:
            print()
            print_table(("server", "p50 ms", "max ms", "scan s"), on_server(args.big_mib, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the layers it wrote: gigabytes under tmpfs


if __name__ == "__main__":
    main()
