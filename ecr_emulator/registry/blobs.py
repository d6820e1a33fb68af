"""Blobs and blob uploads: HEAD/GET/DELETE a blob; POST/PATCH/PUT/GET/DELETE an upload.

Bytes stream straight from the request into the upload's writer and from the
store into the response; ``core.uploads`` holds only the upload's own lock
while they move, never the global one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, BinaryIO

from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ..blobstore import CHUNK_SIZE, BodyReadError, DigestMismatch
from ..core import blobs, pull_through, uploads
from ..digests import is_valid_digest
from ..state import UploadSession
from .errors import RegistryError, blob_unknown, digest_invalid, upload_unknown

if TYPE_CHECKING:
    from . import RegistryCall

# At most 19 digits: every offset a blob can have (and no 4300-digit number for int()).
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d{1,19})-(\d{1,19})(?:/\d{1,19}|/\*)?$")


def _checked_digest(digest: str | None) -> str:
    if not digest or not is_valid_digest(digest):
        raise digest_invalid("provided digest did not match uploaded content", digest)
    return digest


def _blob_location(name: str, digest: str) -> str:
    return f"/v2/{name}/blobs/{digest}"


def _upload_location(name: str, upload_id: str) -> str:
    return f"/v2/{name}/blobs/uploads/{upload_id}"


def _created(name: str, digest: str) -> Response:
    response = Response(b"", 201)
    response.headers["Location"] = _blob_location(name, digest)
    response.headers["Docker-Content-Digest"] = digest
    return response


def _upload_progress(call: RegistryCall, upload: UploadSession, size: int, status: int) -> Response:
    response = Response(b"", status)
    response.headers["Location"] = _upload_location(call.path_name, upload.upload_id)
    response.headers["Range"] = f"0-{max(size - 1, 0)}"
    response.headers["Docker-Upload-UUID"] = upload.upload_id
    response.headers["OCI-Chunk-Min-Length"] = "0"
    return response


def _digest_param(call: RegistryCall) -> str:
    digest = call.params["digest"]
    if not is_valid_digest(digest):
        raise digest_invalid("invalid digest", digest)
    return digest


def get_blob(call: RegistryCall) -> Response:
    digest = _digest_param(call)
    head = call.request.method == "HEAD"
    action = "ecr:BatchCheckLayerAvailability" if head else "ecr:GetDownloadUrlForLayer"
    opened = blobs.open_blob(call.caller, call.registry_id, call.name, digest, action)
    if (  # a layer on its way from a pull-through upstream: a GET waits for it
        opened is None
        and not head
        and pull_through.settle(call.caller, call.registry_id, call.name, digest)
    ):
        opened = blobs.open_blob(call.caller, call.registry_id, call.name, digest, action)
    headers = {"Docker-Content-Digest": digest, "Accept-Ranges": "bytes", "ETag": f'"{digest}"'}
    if opened is None:
        return _from_upstream(call, digest, action, headers)
    reader, size = opened
    if head:
        reader.close()
        response = Response(b"", 200, headers, content_type="application/octet-stream")
        response.headers["Content-Length"] = str(size)
        return response
    response = stream_blob(call.request, reader, size, headers)
    if response is None:
        raise RegistryError(
            "UNSUPPORTED",
            "requested range not satisfiable",
            416,
            {"size": size},
            {"Content-Range": f"bytes */{size}"},
        )
    return response


def _from_upstream(
    call: RegistryCall, digest: str, action: str, headers: dict[str, str]
) -> Response:
    """A blob a pull-through image names, not fetched yet: streamed from the upstream while
    it is stored; a Range on it waits until it is stored, then is served from here."""
    head = call.request.method == "HEAD"
    upstream = pull_through.from_upstream(
        call.caller, call.registry_id, call.name, digest, action, head=head
    )
    if upstream is None:
        raise blob_unknown(digest)
    if head or "Range" not in call.request.headers:
        body = b"" if head else wrap_file(call.request.environ, upstream, CHUNK_SIZE)
        response = Response(
            body, 200, headers, content_type="application/octet-stream", direct_passthrough=True
        )
        if upstream.size is not None:
            response.headers["Content-Length"] = str(upstream.size)
        return response
    if not upstream.store():
        raise blob_unknown(digest)
    return get_blob(call)


def stream_blob(
    request: Request, reader: BinaryIO, size: int, headers: dict[str, str] | None = None
) -> Response | None:
    """A 200 or (for a Range) 206 response streaming ``reader``; None, with the reader
    closed, when the Range cannot be satisfied.  Shared by /v2/ and layer download URLs."""
    body = wrap_file(request.environ, reader, CHUNK_SIZE)
    response = Response(
        body, 200, headers, content_type="application/octet-stream", direct_passthrough=True
    )
    # A streamed body has no length of its own: say it (clients size pulls by it; without it
    # the server falls back to chunked encoding).  make_conditional narrows it for a Range.
    response.headers["Content-Length"] = str(size)
    try:
        response.make_conditional(request, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        body.close()
        return None
    del response.headers["Date"]  # the server sends its own; two would be invalid
    return response


def delete_blob(call: RegistryCall) -> Response:
    digest = _digest_param(call)
    if not blobs.unlink(call.caller, call.registry_id, call.name, digest):
        raise blob_unknown(digest)
    return Response(b"", 202)


def start_upload(call: RegistryCall) -> Response:
    """POST: mount from another repository, upload in one request (``?digest=``), or begin."""
    args = call.request.args
    digest = args.get("digest")
    mount = args.get("mount")
    if (
        mount
        and is_valid_digest(mount)
        and blobs.mount(call.caller, call.registry_id, call.name, mount, args.get("from"))
    ):
        return _created(call.path_name, mount)
    if digest is not None:
        _checked_digest(digest)  # before there is a session to clean up
    upload = uploads.start(call.caller, call.registry_id, call.name)
    if digest is None:
        return _upload_progress(call, upload, 0, 202)
    try:
        _append_body(call, upload)
        return _complete(call, upload, digest)
    except BaseException:
        # The client never learnt this upload's Location: nobody could resume or cancel it.
        uploads.cancel(call.caller, upload)
        raise


def _upload(call: RegistryCall, action: str = "ecr:UploadLayerPart") -> UploadSession:
    upload_id = call.params["upload_id"]
    try:
        return uploads.session(call.caller, call.registry_id, call.name, upload_id, action)
    except uploads.UnknownUpload:
        raise upload_unknown(upload_id) from None


def _range_not_satisfiable(
    call: RegistryCall, upload: UploadSession, size: int, content_range: str
) -> RegistryError:
    return RegistryError(
        "BLOB_UPLOAD_INVALID",
        f"chunk must start at byte {size}",
        416,
        {"range": content_range},
        {
            "Range": f"0-{max(size - 1, 0)}",
            "Location": _upload_location(call.path_name, upload.upload_id),
        },
    )


def _append_body(call: RegistryCall, upload: UploadSession) -> int:
    """Stream the request body onto the upload, honouring Content-Range when it is sent.

    The chunk's start is checked by the core, once this request has the upload to
    itself: a retry of a chunk still in flight must wait for it, then get a 416.
    """
    request = call.request
    try:
        size = uploads.size(upload)
    except uploads.UnknownUpload:
        raise upload_unknown(upload.upload_id) from None
    start = None
    content_range = request.headers.get("Content-Range")
    if content_range:
        match = _CONTENT_RANGE.match(content_range.strip())
        if match is None or int(match[2]) < int(match[1]):
            raise _range_not_satisfiable(call, upload, size, content_range)
        start = int(match[1])
        length = request.content_length
        if length is not None and length != int(match[2]) - start + 1:
            raise RegistryError(
                "BLOB_UPLOAD_INVALID",
                f"Content-Range {content_range} does not match Content-Length {length}",
                400,
                {"range": content_range, "length": length},
            )
    length = request.content_length
    if length == 0:
        return size
    try:
        return uploads.append(call.caller, upload, request.stream, length, start)
    except uploads.UploadOffsetMismatch as error:
        raise _range_not_satisfiable(call, upload, error.size, content_range or "") from None
    except uploads.UnknownUpload:
        raise upload_unknown(upload.upload_id) from None
    except BodyReadError as error:  # a broken chunked encoding, a body cut short
        raise RegistryError("BLOB_UPLOAD_INVALID", str(error), 400) from None


def _complete(call: RegistryCall, upload: UploadSession, digest: str | None) -> Response:
    checked = _checked_digest(digest)
    try:
        uploads.finish(call.caller, upload, [checked])
    except DigestMismatch as error:
        raise digest_invalid(str(error), digest) from None
    except uploads.UnknownUpload:
        raise upload_unknown(upload.upload_id) from None
    return _created(call.path_name, checked)


def upload_status(call: RegistryCall) -> Response:
    upload = _upload(call)
    try:
        size = uploads.size(upload)
    except uploads.UnknownUpload:
        raise upload_unknown(upload.upload_id) from None
    return _upload_progress(call, upload, size, 204)


def upload_chunk(call: RegistryCall) -> Response:
    upload = _upload(call)
    size = _append_body(call, upload)
    return _upload_progress(call, upload, size, 202)


def finish_upload(call: RegistryCall) -> Response:
    upload = _upload(call, "ecr:CompleteLayerUpload")
    digest = call.request.args.get("digest")
    _checked_digest(digest)
    _append_body(call, upload)
    return _complete(call, upload, digest)


def cancel_upload(call: RegistryCall) -> Response:
    uploads.cancel(call.caller, _upload(call))
    return Response(b"", 204)
