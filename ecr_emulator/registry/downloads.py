"""Layer download URLs from GetDownloadUrlForLayer, served by the emulator itself.

The URL carries a signed, expiring claim (account, region, repository,
digest), the way an S3 pre-signed URL does, so it works without credentials
and stops working when it expires (``core.blobs.open_download``).
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from ..core.blobs import open_download
from ..state import Backend
from ..tokens import InvalidToken
from .blobs import stream_blob


def serve_download(backend: Backend, request: Request, token: str) -> Response:
    try:
        opened = open_download(backend, token)
    except InvalidToken as error:
        return Response(
            f"<Error><Code>AccessDenied</Code><Message>{error}</Message></Error>",
            403,
            content_type="application/xml",
        )
    if opened is None:
        return Response(
            "<Error><Code>NoSuchKey</Code></Error>", 404, content_type="application/xml"
        )
    reader, size = opened
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
