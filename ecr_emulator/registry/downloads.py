"""Layer download URLs from GetDownloadUrlForLayer, served by the emulator itself.

The URL carries a signed, expiring claim (account, region, repository,
digest), the way an S3 pre-signed URL does, so it works without credentials
and stops working when it expires.
"""

from __future__ import annotations

from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ..blobstore import CHUNK_SIZE
from ..state import Backend
from ..tokens import InvalidToken, verify_claims


def serve_download(backend: Backend, request: Request, token: str) -> Response:
    try:
        claims = verify_claims(backend, token)
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
    size = backend.blobs.size(digest)
    body = wrap_file(request.environ, reader, CHUNK_SIZE)
    response = Response(body, 200, content_type="application/octet-stream", direct_passthrough=True)
    response.headers["Content-Length"] = str(size)  # a file body does not say its length
    try:
        response.make_conditional(request, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        body.close()
        return Response(
            "<Error><Code>InvalidRange</Code>"
            "<Message>The requested range is not satisfiable</Message></Error>",
            416,
            {"Content-Range": f"bytes */{size}"},
            content_type="application/xml",
        )
    del response.headers["Date"]  # the server sends its own
    return response
