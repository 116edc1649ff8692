"""`GET /files`: a file's bytes, as the SDK's `files.read` and `download_url()` fetch them.

Semantics of E2B's envd (api/download.go): 404 for a missing path, 400 for a directory, 401 for
an unknown user or a bad token/signature; gzip when `Accept-Encoding` asks for it (so that also
covers httpx's default `gzip, deflate`), otherwise what Go's `http.ServeContent` gives:
`Content-Length`, `Last-Modified`, a single `Range`, `If-Modified-Since`. As in E2B, a request
with a range or conditional header is always served uncompressed.

The file is opened and read on the acting user's thread, so the kernel decides whether that user
may read it (403 otherwise), and it is streamed in pieces: a multi-gigabyte file costs one piece
of memory. A client that goes away stops the reading.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import fcntl
import os
import stat
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from corral.envd import encoding, signing
from corral.envd.errors import EnvdError, InvalidArgument, NotFound, from_os_error
from corral.envd.httputil import header, query
from corral.envd.paths import resolve
from corral.envd.state import EnvdState
from corral.envd.userfile import UserFile

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

READ_PIECE = 256 * 1024
_CONDITIONAL = ("range", "if-modified-since", "if-none-match", "if-range")


class RangeNotSatisfiable(EnvdError):
    """416, with the `Content-Range: bytes */<size>` Go's `ServeContent` sends along."""

    status = 416

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.headers = {"content-range": f"bytes */{size}"}


def open_for_download(path: str) -> int:
    """Open `path` for reading (blocking: on the user's thread). FIFOs and sockets are refused:
    reading one could block that user's only thread forever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NotFound(f"path '{path}' does not exist") from None
        if exc.errno == errno.ENXIO:
            raise InvalidArgument(f"path '{path}' is not a regular file") from None
        raise from_os_error(exc, f"error opening file '{path}'") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"path '{path}' is a directory")
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            raise InvalidArgument(f"path '{path}' is not a regular file")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_piece(
    fd: int, size: int, offset: int | None, encoder: encoding.GzipEncoder | None
) -> tuple[int, bytes]:
    """(bytes read, bytes to send) for the next piece, from `offset` or, for what has no size
    (devices, procfs), from where reading left off; compressing here keeps it off the loop."""
    data = os.read(fd, size) if offset is None else os.pread(fd, size, offset)
    if encoder is None:
        return len(data), data
    return len(data), encoder.feed(data) if data else encoder.finish()


def content_type(path: str) -> str:
    """By extension, as Go's `mime.TypeByExtension` (text types in UTF-8)."""
    import mimetypes

    guessed, _ = mimetypes.guess_type(path, strict=False)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def byte_range(value: str, size: int) -> tuple[int, int] | None:
    """(start, length) of a single `bytes=` range; None to serve the whole file (several
    ranges, or a unit we do not know, which RFC 9110 lets a server ignore)."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    try:
        if not dash:
            raise ValueError
        if not first:
            suffix = int(last)
            if suffix <= 0:
                raise RangeNotSatisfiable("invalid range: suffix length is zero", size)
            start = max(size - suffix, 0)
            return start, size - start
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        raise RangeNotSatisfiable(f"invalid range: {value}", size) from None
    if start < 0 or start >= size or end < start:
        raise RangeNotSatisfiable("invalid range: failed to overlap", size)
    end = min(end, size - 1)
    return start, end - start + 1


def _not_modified(request: Request, mtime: int) -> bool:
    since = header(request, "if-modified-since")
    if since is None or header(request, "if-none-match") is not None or mtime <= 0:
        return False
    try:
        return mtime <= int(email.utils.parsedate_to_datetime(since).timestamp())
    except (TypeError, ValueError):
        return False


class FileBody(Response):
    """Streams an open file; releases it however the transfer ends."""

    def __init__(
        self,
        file: UserFile,
        status: int,
        headers: dict[str, str],
        span: tuple[int, int] | None,
        encoder: encoding.GzipEncoder | None = None,
    ) -> None:
        """`span` is (offset, length) of what to send; None sends until the end of file."""
        self.file = file
        self.status_code = status
        self.background = None
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self._span = span
        self._encoder = encoder

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        try:
            start = {"status": self.status_code, "headers": self.raw_headers}
            await send({"type": "http.response.start", **start})
            if scope.get("method") != "HEAD" and self.status_code != 304:
                await self._stream(send, gone)
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            await self.file.close()

    async def _stream(self, send: Send, gone: asyncio.Event) -> None:
        offset, remaining = self._span if self._span is not None else (None, None)
        while not gone.is_set() and remaining != 0:
            size = READ_PIECE if remaining is None else min(READ_PIECE, remaining)
            count, out = await self.file.run(read_piece, size, offset, self._encoder)
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
            if count == 0:  # end of file (gzip: `out` was the trailer)
                if remaining:  # the file shrank: break the connection rather than lie
                    raise OSError(errno.EIO, "file shrank while being sent")
                return
            if offset is not None and remaining is not None:
                offset += count
                remaining -= count


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


async def get_files(request: Request, state: EnvdState) -> Response:
    """The handler; errors before streaming starts are `EnvdError`s answered as JSON."""
    signing.authorize(request, state, signing.READ)
    user = state.user(query(request, "username") or None)
    path = resolve(query(request, "path") or "", user, state.default_workdir)
    coding = encoding.negotiate(header(request, "accept-encoding"))
    if any(header(request, name) is not None for name in _CONDITIONAL):
        coding = None
    file = await UserFile.open(state.executors, user, open_for_download, path)
    try:
        return _respond(request, file, path, await file.run(os.fstat), coding)
    except BaseException:
        await file.close()
        raise


def _respond(
    request: Request, file: UserFile, path: str, st: os.stat_result, coding: str | None
) -> FileBody:
    headers = {"vary": "Accept-Encoding", "content-type": content_type(path)}
    if coding is not None:
        headers["content-encoding"] = coding
        return FileBody(file, 200, headers, None, encoding.GzipEncoder())
    mtime = int(st.st_mtime)
    if mtime > 0:
        headers["last-modified"] = email.utils.formatdate(mtime, usegmt=True)
    if _not_modified(request, mtime):
        return FileBody(file, 304, headers, (0, 0))
    size = st.st_size if stat.S_ISREG(st.st_mode) and st.st_size > 0 else None
    if size is None:  # procfs and devices report no size: send until the end, chunked
        return FileBody(file, 200, headers, None)
    headers["accept-ranges"] = "bytes"
    wanted = header(request, "range")
    span = byte_range(wanted, size) if wanted and _range_applies(request, headers) else None
    if span is None:
        headers["content-length"] = str(size)
        return FileBody(file, 200, headers, (0, size))
    start, length = span
    headers["content-range"] = f"bytes {start}-{start + length - 1}/{size}"
    headers["content-length"] = str(length)
    return FileBody(file, 206, headers, span)


def _range_applies(request: Request, headers: dict[str, str]) -> bool:
    """`If-Range` with a date keeps the range only if the file is unchanged since."""
    if_range = header(request, "if-range")
    return if_range is None or if_range == headers.get("last-modified")
