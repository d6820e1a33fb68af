"""Layer download URLs from GetDownloadUrlForLayer, served by the emulator itself.

The URL carries a signed, expiring claim (account, region, repository,
digest), the way an S3 pre-signed URL does, so it works without credentials
and stops working when it expires.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from ..state import Backend
from ..tokens import DOWNLOAD, InvalidToken, verify_claims
from .blobs import stream_blob


def serve_download(backend: Backend, request: Request, token: str) -> Response:
    try:
        claims = verify_claims(backend, token, DOWNLOAD)
    except InvalidToken as error:
        return Response(
            f"<Error><Code>AccessDenied</Code><Message>{error}</Message></Error>",
            403,
            content_type="application/xml",
        )
    digest = claims.get("digest", "")
    with backend.lock:
        registry = backend.registries.get((claims.get("account"), claims.get("region")))
        repository = registry.repositories.get(claims.get("repository", "")) if registry else None
        linked = repository is not None and digest in repository.blob_links
    reader = backend.blobs.open(digest) if linked else None
    if reader is None:
        return Response(
            "<Error><Code>NoSuchKey</Code></Error>", 404, content_type="application/xml"
        )
    size = backend.blobs.size(digest) or 0
    response = stream_blob(request, reader, size)
    if response is None:
        return Response(
            "<Error><Code>InvalidRange</Code>"
            "<Message>The requested range is not satisfiable</Message></Error>",
            416,
            {"Content-Range": f"bytes */{size}"},
            content_type="application/xml",
        )
    return response
