"""`POST /files`: uploads, as the SDK's `files.write` / `files.write_files` / `upload_url` send
them (wire protocol 3.5).

Two body kinds, as in E2B's envd: `application/octet-stream` (one file, `?path=` required) and
`multipart/form-data` (`file` parts named by their filename, or by `?path=`). Either may be
`Content-Encoding: gzip`. Bodies are streamed to disk as they arrive, never held whole: the
server reads the next piece only once the previous one is written (uvicorn pauses the socket
meanwhile), so memory stays at a few hundred KiB however large the upload.

The response is a JSON array with one `{"name", "type": "file", "path", "metadata"?}` per file.
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from corral.envd import encoding, filewrite, metadata, signing
from corral.envd.errors import EnvdError, InvalidArgument
from corral.envd.files_multipart import receive_parts
from corral.envd.httputil import BodyReader, envd_error_response, header, query
from corral.envd.paths import resolve
from corral.envd.state import EnvdState
from corral.envd.userfile import UserFile
from corral.envd.users import User

WRITE_BATCH = 256 * 1024
"""Bytes gathered before one write on the user's thread (fewer thread hops for small pieces)."""


class Uploader:
    """What every file of one upload request shares: who writes, where paths start, metadata."""

    def __init__(self, state: EnvdState, user: User, wanted_metadata: dict[str, str]) -> None:
        self.state = state
        self.user = user
        self.metadata = wanted_metadata

    def resolve(self, path: str) -> str:
        return resolve(path, self.user, self.state.default_workdir)

    async def open(self, path: str) -> UploadTarget:
        """Start writing the file at absolute `path`."""
        file = await UserFile.open(
            self.state.executors,
            self.user,
            filewrite.open_for_upload,
            path,
            self.user.uid,
            self.user.gid,
        )
        return UploadTarget(file, path, self.metadata)


class UploadTarget:
    """One file being written: content arrives in pieces, then `finish`; `close` always."""

    def __init__(self, file: UserFile, path: str, wanted_metadata: dict[str, str]) -> None:
        self._file = file
        self.path = path
        self._metadata = wanted_metadata
        self._pending = bytearray()

    async def write(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= WRITE_BATCH:
            await self._flush()

    async def _flush(self) -> None:
        if self._pending:
            chunk, self._pending = self._pending, bytearray()
            await self._file.run(filewrite.write_all, chunk, self.path)

    async def finish(self) -> dict[str, Any]:
        """Write what is left, store the metadata, close; the response entry for this file."""
        await self._flush()
        stored = await self._file.run(filewrite.store_metadata, self.path, self._metadata)
        await self._file.close()
        entry: dict[str, Any] = {
            "name": posixpath.basename(self.path),
            "type": "file",
            "path": self.path,
        }
        if stored:
            entry["metadata"] = stored
        return entry

    async def close(self) -> None:
        """Release the file, finished or not (a failed upload leaves its partial content, as
        in E2B)."""
        await self._file.close()


async def decoded_body(body: BodyReader, coding: str | None) -> AsyncIterator[bytes]:
    """The request body as it arrives, inflated when it is gzip."""
    if coding is None:
        async for chunk in body.chunks():
            yield chunk
        return
    decoder = encoding.GzipDecoder()
    async for chunk in body.chunks():
        for piece in decoder.feed(chunk):
            yield piece
    decoder.finish()


async def _primed(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`body` with its first piece already read, so a body that is not gzip at all is refused
    before any file is created (E2B's `gzip.NewReader` reads the header up front)."""
    first = await anext(body, None)

    async def chained() -> AsyncIterator[bytes]:
        if first is not None:
            yield first
        async for chunk in body:
            yield chunk

    return chained()


async def post_files(request: Request, state: EnvdState) -> Response:
    """The handler: the written files, or E2B's JSON error."""
    reader = BodyReader(request)
    try:
        return await _post_files(request, state, reader)
    except EnvdError as exc:
        if reader.complete:
            raise
        return await reader.finish_early(envd_error_response(exc))


async def _post_files(request: Request, state: EnvdState, reader: BodyReader) -> JSONResponse:
    signing.authorize(request, state, signing.WRITE)
    user = state.user(query(request, "username") or None)
    coding = encoding.request_coding(header(request, "content-encoding"))
    wanted = metadata.from_headers(request.headers.raw)
    metadata.validate(wanted)
    uploader = Uploader(state, user, wanted)
    content_type = header(request, "content-type") or ""
    media_type, params = parse_options_header(content_type)
    body = await _primed(decoded_body(reader, coding))
    if media_type == b"application/octet-stream":
        entries = [await _upload_raw(uploader, query(request, "path"), body)]
    elif media_type.startswith(b"multipart/"):
        boundary = params.get(b"boundary")
        if not boundary:
            raise InvalidArgument("error parsing multipart form: no multipart boundary param")
        entries = await receive_parts(uploader, boundary, query(request, "path"), body)
    else:
        raise InvalidArgument(
            f"unsupported content type: {content_type}, "
            "expected multipart/form-data or application/octet-stream"
        )
    return JSONResponse(entries)


async def _upload_raw(
    uploader: Uploader, path: str | None, body: AsyncIterator[bytes]
) -> dict[str, Any]:
    if path is None:
        raise InvalidArgument("path query parameter is required for raw body upload")
    target = await uploader.open(uploader.resolve(path))
    try:
        async for chunk in body:
            await target.write(chunk)
        return await target.finish()
    finally:
        await target.close()
