"""Blobs and blob uploads: HEAD/GET/DELETE a blob; POST/PATCH/PUT/GET/DELETE an upload.

Bytes stream straight from the request into the blob store and from the store
into the response; the backend lock is held only to read or change state,
never while bytes move.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, BinaryIO

from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ..blobstore import CHUNK_SIZE, DigestMismatch, UnknownUpload, UploadOffsetMismatch
from ..manifests import is_valid_digest
from ..operations import layers
from ..state import Repository, UploadSession
from .errors import RegistryError, blob_unknown, digest_invalid, upload_unknown

if TYPE_CHECKING:
    from . import RegistryCall

_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/\d+|/\*)?$")


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


def _upload_progress(
    call: RegistryCall, session: UploadSession, size: int, status: int
) -> Response:
    response = Response(b"", status)
    response.headers["Location"] = _upload_location(call.name, session.upload_id)
    response.headers["Range"] = f"0-{max(size - 1, 0)}"
    response.headers["Docker-Upload-UUID"] = session.upload_id
    response.headers["OCI-Chunk-Min-Length"] = "0"
    return response


def _digest_param(call: RegistryCall) -> str:
    digest = call.params["digest"]
    if not is_valid_digest(digest):
        raise digest_invalid("invalid digest", digest)
    return digest


def get_blob(call: RegistryCall) -> Response:
    digest = _digest_param(call)
    with call.backend.lock:
        repository = call.repository()
        size = layers.linked_blob_size(call.context, repository, digest)
    reader = call.backend.blobs.open(digest) if size is not None else None
    if reader is None:
        raise blob_unknown(digest)
    headers = {"Docker-Content-Digest": digest, "Accept-Ranges": "bytes", "ETag": f'"{digest}"'}
    if call.request.method == "HEAD":
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
    with call.backend.lock:
        repository = call.repository()
        if digest not in repository.blob_links:
            raise blob_unknown(digest)
        repository.blob_links.discard(digest)
    return Response(b"", 202)


def start_upload(call: RegistryCall) -> Response:
    """POST: mount from another repository, upload in one request (``?digest=``), or begin."""
    args = call.request.args
    digest = args.get("digest")
    with call.backend.lock:
        repository = call.repository()
        mount = args.get("mount")
        if mount and is_valid_digest(mount) and _mount(call, repository, mount, args.get("from")):
            return _created(call.name, mount)
        if digest is not None:
            _checked_digest(digest)  # before there is a session to clean up
        session = layers.start_upload(call.context, repository)
    if digest is None:
        return _upload_progress(call, session, 0, 202)
    try:
        _append_body(call, session)
        return _complete(call, repository, session, digest)
    except BaseException:
        # The client never learnt this upload's Location: nobody could resume or cancel it.
        layers.cancel_upload(call.context, session)
        raise


def _mount(
    call: RegistryCall, repository: Repository, digest: str, source_name: str | None
) -> bool:
    source = None
    if source_name:
        source = call.context.registry().repositories.get(source_name)
        if source is None:
            return False
    return layers.mount_blob(call.context, repository, digest, source)


def _session(call: RegistryCall) -> tuple[Repository, UploadSession]:
    with call.backend.lock:
        repository = call.repository()
        try:
            return repository, layers.upload_session(
                call.context, repository, call.params["upload_id"]
            )
        except UnknownUpload:
            raise upload_unknown(call.params["upload_id"]) from None


def _range_not_satisfiable(
    call: RegistryCall, session: UploadSession, size: int, content_range: str
) -> RegistryError:
    return RegistryError(
        "BLOB_UPLOAD_INVALID",
        f"chunk must start at byte {size}",
        416,
        {"range": content_range},
        {
            "Range": f"0-{max(size - 1, 0)}",
            "Location": _upload_location(call.name, session.upload_id),
        },
    )


def _append_body(call: RegistryCall, session: UploadSession) -> int:
    """Stream the request body onto the upload, honouring Content-Range when it is sent.

    The chunk's start is checked by the store, once this request has the upload to
    itself: a retry of a chunk still in flight must wait for it, then get a 416.
    """
    request = call.request
    try:
        size = layers.upload_size(call.context, session)
    except UnknownUpload:
        raise upload_unknown(session.upload_id) from None
    start = None
    content_range = request.headers.get("Content-Range")
    if content_range:
        match = _CONTENT_RANGE.match(content_range.strip())
        if match is None or int(match[2]) < int(match[1]):
            raise _range_not_satisfiable(call, session, size, content_range)
        start = int(match[1])
    length = request.content_length
    if content_range and length is not None and length != int(match[2]) - start + 1:
        raise RegistryError(
            "BLOB_UPLOAD_INVALID",
            f"Content-Range {content_range} does not match Content-Length {length}",
            400,
            {"range": content_range, "length": length},
        )
    if length == 0:
        return size
    try:
        return layers.append_to_upload(call.context, session, request.stream, length, start)
    except UploadOffsetMismatch as error:
        raise _range_not_satisfiable(call, session, error.size, content_range or "") from None
    except UnknownUpload:
        raise upload_unknown(session.upload_id) from None
    except OSError as error:  # a broken chunked encoding, a body cut short
        raise RegistryError(
            "BLOB_UPLOAD_INVALID", f"the request body could not be read: {error}", 400
        ) from None


def _complete(
    call: RegistryCall, repository: Repository, session: UploadSession, digest: str | None
) -> Response:
    checked = _checked_digest(digest)
    try:
        layers.finish_upload(call.context, repository, session, checked)
    except DigestMismatch as error:
        layers.cancel_upload(call.context, session)
        raise digest_invalid(str(error), digest) from None
    except UnknownUpload:
        raise upload_unknown(session.upload_id) from None
    return _created(call.name, checked)


def upload_status(call: RegistryCall) -> Response:
    _, session = _session(call)
    try:
        size = layers.upload_size(call.context, session)
    except UnknownUpload:
        raise upload_unknown(session.upload_id) from None
    return _upload_progress(call, session, size, 204)


def upload_chunk(call: RegistryCall) -> Response:
    _, session = _session(call)
    size = _append_body(call, session)
    return _upload_progress(call, session, size, 202)


def finish_upload(call: RegistryCall) -> Response:
    repository, session = _session(call)
    digest = call.request.args.get("digest")
    _checked_digest(digest)
    _append_body(call, session)
    return _complete(call, repository, session, digest)


def cancel_upload(call: RegistryCall) -> Response:
    _, session = _session(call)
    layers.cancel_upload(call.context, session)
    return Response(b"", 204)
