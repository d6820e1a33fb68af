"""``ecr-emulator serve``: run the emulator as a server (also ``python -m ecr_emulator``)."""

from __future__ import annotations

import argparse
import logging
import sys

from .blobstore import FilesystemBlobStore
from .server import EmulatorApp, build_server
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
    serve.add_argument("--data-dir", help="keep blobs in this directory instead of memory")
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
    serve.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    commands.add_parser(
        "operations", help="print which ECR and ECR Public operations are served (Markdown)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "operations":
        from .support_table import render

        print(render())
        return 0
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    blobs = FilesystemBlobStore(args.data_dir) if args.data_dir else None
    registry_host = None if args.registry_host == "self" else args.registry_host
    backend = Backend(
        registry_host=registry_host,
        strict_manifests=args.strict,
        blobs=blobs,
        allow_sparse_manifests=args.allow_sparse_manifests,
    )
    app = EmulatorApp(backend, require_auth=not args.no_auth)
    server = build_server(args.host, args.port, app)
    if args.registry_host == "self":  # the bound port: --port 0 picks a free one
        shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        backend.registry_host = f"{shown_host}:{server.server_port}"
    print(f"ecr-emulator listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
