"""``ecr-emulator serve``: run the emulator as a server (also ``python -m ecr_emulator``)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from . import persistence
from .blobstore import FilesystemBlobStore
from .clock import AdjustableClock
from .persistence import FSYNC_CHOICES
from .server import EmulatorApp, build_server
from .serving import Server, bound_port
from .state import Backend


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecr-emulator", description="A local Amazon ECR for tests."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the ECR API and the /v2/ registry on one port")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    serve.add_argument(
        "--data-dir",
        help="keep all state in this directory (SQLite metadata and blob files) instead of "
        "memory; a restart carries on where it stopped",
    )
    serve.add_argument(
        "--fsync",
        choices=FSYNC_CHOICES,
        default="never",
        help="with --data-dir: 'never' (default) survives the process being killed; "
        "'always' also survives a power loss, at the cost of an fsync per change",
    )
    serve.add_argument(
        "--no-auth", action="store_true", help="let the registry plane skip docker login"
    )
    serve.add_argument(
        "--registry-host",
        nargs="?",
        const="self",
        help="make repositoryUri/proxyEndpoint use HOST[:PORT] (bare flag: this server's address)",
    )
    serve.add_argument(
        "--strict",
        action="store_true",
        help="PutImage refuses manifests whose blobs were never uploaded",
    )
    serve.add_argument(
        "--allow-sparse-manifests",
        action="store_true",
        help="the registry accepts manifests whose layers or index children were not pushed "
        "(OCI sparse manifests; ECR refuses them)",
    )
    serve.add_argument(
        "--seed",
        metavar="FILE",
        help="fixtures (YAML or JSON) to create at start-up: repositories, settings, policies, "
        "images (see ecr_emulator/seed.py); existing repositories are left as they are",
    )
    serve.add_argument(
        "--lifecycle-interval",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="run every lifecycle policy this often (default 600; 0: only on "
        "POST /_emulator/lifecycle/run). AWS runs them within 24 hours",
    )
    serve.add_argument(
        "--enforce-iam",
        action="store_true",
        help="identity mode: access key ids map to principals and their identity policies "
        "(--iam-config, POST /_emulator/iam/principals); unknown keys are refused",
    )
    serve.add_argument(
        "--iam-config",
        metavar="FILE",
        help="principals for --enforce-iam: {principals: [{accessKeyId, arn, policies}]} "
        "(YAML or JSON)",
    )
    serve.add_argument(
        "--vuln-db",
        metavar="DIR",
        help="a directory of OSV JSON advisories that image scans match (default: a small "
        "sample shipped with the emulator)",
    )
    serve.add_argument(
        "--pull-through-secrets",
        metavar="FILE",
        help="JSON {secret ARN: {username, accessToken}}: the credentials pull-through cache "
        "rules name by credentialArn (standing in for Secrets Manager)",
    )
    serve.add_argument(
        "--events-webhook",
        metavar="URL",
        help="POST every EventBridge-shaped event (also at GET /_emulator/events) to URL, "
        "with retries, never holding up a request",
    )
    serve.add_argument(
        "--public-alias",
        metavar="ALIAS",
        help="the alias of the default account's ECR Public registry (AWS assigns one; "
        "default: derived from the account; also POST /_emulator/public/alias)",
    )
    serve.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    serve.add_argument(
        "--threads", type=int, default=32, help="worker threads serving requests (default 32)"
    )
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=60.0,
        help="seconds a request body may pause between bytes before it is dropped (default 60)",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=30.0,
        help="seconds a client may take to send a request head (default 30)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=float,
        default=60.0,
        help="on SIGTERM, seconds requests in flight may take to finish (default 60)",
    )
    check = commands.add_parser(
        "check",
        help="verify a data directory: blobs hash to their names, manifests resolve, "
        "tags are unique",
    )
    check.add_argument("--data-dir", required=True, help="the directory serve --data-dir kept")
    check.add_argument(
        "--repair", action="store_true", help="drop what cannot be served (server stopped)"
    )
    for name, text in (
        ("import", "load a docker save archive or an OCI image layout into a repository"),
        ("export", "write an image out as an OCI image layout or a docker archive"),
    ):
        command = commands.add_parser(name, help=text)
        if name == "import":
            command.add_argument("source", type=Path, help="archive (.tar) or layout directory")
        else:
            command.add_argument(
                "destination", type=Path, help="directory, or a .tar file (docker-archive: a tar)"
            )
            command.add_argument(
                "--format", choices=("oci", "docker-archive"), default="oci", dest="form"
            )
        command.add_argument("--repository", required=True)
        command.add_argument(
            "--tag", help="the tag to write (import) or read (export); export also takes a digest"
        )
        where = command.add_mutually_exclusive_group(required=True)
        where.add_argument("--endpoint-url", help="a running emulator, e.g. http://127.0.0.1:5000")
        where.add_argument("--data-dir", type=Path, help="the data directory of a stopped server")
        command.add_argument("--region", default="us-east-1")
    commands.add_parser(
        "operations", help="print which ECR and ECR Public operations are served (Markdown)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        from .data_check import run

        try:
            return run(Path(args.data_dir), fix=args.repair)
        except FileNotFoundError as error:
            print(f"ecr-emulator check: {error}", file=sys.stderr)
            return 2
    if args.command in ("import", "export"):
        return _transfer(args)
    if args.command == "operations":
        from .support_table import render

        print(render())
        return 0
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    log = logging.getLogger("ecr_emulator")
    blobs = (
        FilesystemBlobStore(args.data_dir, fsync=args.fsync == "always") if args.data_dir else None
    )
    registry_host = None if args.registry_host == "self" else args.registry_host
    backend = Backend(
        clock=AdjustableClock(),  # POST /_emulator/clock moves it
        registry_host=registry_host,
        strict_manifests=args.strict,
        blobs=blobs,
        allow_sparse_manifests=args.allow_sparse_manifests,
        enforce_iam=args.enforce_iam,
    )
    if args.data_dir:
        report = persistence.attach(backend, Path(args.data_dir), args.fsync)
        log.info(
            "loaded %s: %d repositories, %d images, %d uploads in progress in %.2f s",
            args.data_dir,
            report.repositories,
            report.images,
            report.uploads,
            report.seconds,
        )
        sweep = threading.Thread(
            target=persistence.free_unheld_blobs, args=(backend,), name="ecr-emulator-sweep"
        )
        sweep.daemon = True
        sweep.start()
    if args.pull_through_secrets:
        try:
            backend.secrets = json.loads(Path(args.pull_through_secrets).read_text())
        except (OSError, ValueError) as error:
            print(f"ecr-emulator serve: --pull-through-secrets: {error}", file=sys.stderr)
            return 2
    if args.public_alias:
        from .core import public
        from .errors import ServiceError
        from .identity import DEFAULT_ACCOUNT_ID

        try:
            public.set_alias(backend, DEFAULT_ACCOUNT_ID, args.public_alias)
        except ServiceError as error:
            print(f"ecr-emulator serve: --public-alias: {error.message}", file=sys.stderr)
            return 2
    if args.iam_config:
        from .core import identities

        try:
            count = identities.load_file(backend, args.iam_config)
        except (OSError, ValueError) as error:
            print(f"ecr-emulator serve: --iam-config {args.iam_config}: {error}", file=sys.stderr)
            return 2
        log.info("loaded %d principals from %s", count, args.iam_config)
    if args.seed:
        from . import seed

        try:
            created = seed.apply(backend, args.seed)
        except (OSError, seed.SeedError) as error:
            print(f"ecr-emulator serve: --seed {args.seed}: {error}", file=sys.stderr)
            return 2
        log.info("seeded %d repositories from %s", created, args.seed)
    stop_schedule = threading.Event()
    if args.lifecycle_interval > 0:
        from .core import lifecycle

        schedule = threading.Thread(
            target=lifecycle.run_every,
            args=(backend, args.lifecycle_interval, stop_schedule),
            name="ecr-emulator-lifecycle",
            daemon=True,
        )
        schedule.start()
    from .eventbridge import log_for

    log_for(backend, webhook=args.events_webhook)  # before the app, which would start it bare
    from .core import scanning

    scanner = scanning.scanner_for(backend, args.vuln_db)
    log.info("vulnerability feed %s: %d advisories", scanner.feed.directory, scanner.feed.count)
    if args.data_dir:
        scanning.resume(backend)  # scans a restart interrupted
    app = EmulatorApp(backend, require_auth=not args.no_auth)
    server = build_server(
        args.host,
        args.port,
        app,
        threads=args.threads,
        timeout=args.read_timeout,
        header_timeout=args.header_timeout,
        shutdown_timeout=args.shutdown_timeout,
    )
    port = bound_port(server)
    if args.registry_host == "self":  # the bound port: --port 0 picks a free one
        shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        backend.registry_host = f"{shown_host}:{port}"
    print(f"ecr-emulator listening on http://{args.host}:{port}", flush=True)
    serve_until_signalled(server)
    stop_schedule.set()
    persistence.close(backend)
    return 0


def _transfer(args: argparse.Namespace) -> int:
    """``import`` / ``export``: see ``transfer``."""
    import requests
    from botocore.exceptions import BotoCoreError, ClientError

    from . import transfer
    from .errors import ServiceError

    create = args.command == "import"
    try:
        if args.endpoint_url:
            target = transfer.ServerTarget(args.endpoint_url, args.repository, args.region, create)
        else:
            target = transfer.DataDirTarget(args.data_dir, args.repository, args.region, create)
        try:
            if create:
                digest = transfer.import_image(args.source, target, args.tag)
                print(f"imported {args.repository}:{args.tag or '<untagged>'} {digest}")
            else:
                reference = args.tag or "latest"
                digest = transfer.export_image(
                    target, reference, args.destination, args.form, args.repository
                )
                print(f"exported {args.repository}:{reference} {digest} to {args.destination}")
        finally:
            if isinstance(target, transfer.DataDirTarget):
                target.close()
    except (
        transfer.TransferError,
        ServiceError,
        BotoCoreError,
        ClientError,
        requests.RequestException,
        OSError,
        ValueError,
        KeyError,
    ) as error:
        print(f"ecr-emulator {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


def serve_until_signalled(server: Server) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully: the listening socket closes
    first (new requests are refused), requests in flight finish (up to the shutdown
    timeout), and only then does the process exit."""
    stopping = threading.Event()

    def on_signal(number: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    worker = threading.Thread(target=server.serve, name="ecr-emulator-serve", daemon=True)
    worker.start()
    try:
        while not stopping.wait(0.5) and worker.is_alive():
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        logging.getLogger(__name__).info("stopping: finishing requests in flight")
        server.stop()
        worker.join(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
