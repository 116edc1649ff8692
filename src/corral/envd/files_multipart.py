"""Multipart uploads, parsed as they stream in (python-multipart's push parser).

E2B's envd semantics (api/upload.go, utils/multipart.go):

* only parts whose form name is `file` count, the others are skipped;
* a part's destination is its *full* `filename` (Go's `FileName()` would keep only the base
  name, E2B reads the raw parameter), unless `?path=` is given, which then applies to every part
  (so two parts with `?path=` collide);
* two parts to the same resolved path in one request are a 400, after the first was written;
* parts are written one after the other; an error leaves the earlier ones in place.

The parser runs synchronously over each body piece and only records events; they are acted on
(with awaits) before the next piece is read, so at most one piece of data is ever held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from corral.envd.errors import InvalidArgument

if TYPE_CHECKING:
    from corral.envd.files_upload import Uploader, UploadTarget

Event = tuple[str, Any]


def _decode(raw: bytes) -> str:
    """Header bytes as text; bytes that are not UTF-8 survive as surrogates, so a filename
    maps back to the very bytes the client sent when used as a path."""
    return raw.decode("utf-8", "surrogateescape")


def parse_disposition(value: str) -> tuple[str, dict[str, str]]:
    """`Content-Disposition` type and parameters, as Go's `mime.ParseMediaType` reads them:
    keys lowercased, quoted strings unescaped, RFC 2231 `key*=charset''pct-encoded` decoded
    (and preferred), a repeated parameter an error."""
    kind, _, rest = value.partition(";")
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    i = 0
    while i < len(rest):
        while i < len(rest) and rest[i] in " \t;":
            i += 1
        if i >= len(rest):
            break
        eq = rest.find("=", i)
        if eq < 0:
            raise InvalidArgument("error parsing multipart form: malformed Content-Disposition")
        key = rest[i:eq].strip().lower()
        i = eq + 1
        if i < len(rest) and rest[i] == '"':
            chars: list[str] = []
            i += 1
            while i < len(rest) and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < len(rest):
                    i += 1
                chars.append(rest[i])
                i += 1
            if i >= len(rest):
                raise InvalidArgument("error parsing multipart form: unterminated quoted string")
            i += 1
            val = "".join(chars)
        else:
            end = rest.find(";", i)
            end = len(rest) if end < 0 else end
            val = rest[i:end].strip()
            i = end
        target = extended if key.endswith("*") else params
        name = key.rstrip("*")
        if name in target:
            raise InvalidArgument(f"error parsing multipart form: duplicate parameter {name!r}")
        target[name] = val
    for name, val in extended.items():
        charset, _, encoded = val.partition("'")
        _, _, encoded = encoded.partition("'")
        if charset.lower() in ("utf-8", "us-ascii", ""):
            params[name] = unquote(encoded, errors="surrogateescape")
    return kind.strip().lower(), params


class _Events:
    """python-multipart callbacks that record what happened in one body piece."""

    def __init__(self) -> None:
        self.pending: list[Event] = []
        self.ended = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": lambda: self.pending.append(("headers", self._headers)),
            "on_part_data": lambda data, start, end: self.pending.append(
                ("data", bytes(data[start:end]))
            ),
            "on_part_end": lambda: self.pending.append(("end", None)),
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        name = bytes(self._field).decode("latin-1").strip().lower()
        self._headers.setdefault(name, _decode(bytes(self._value)).strip())
        self._field.clear()
        self._value.clear()

    def _end(self) -> None:
        self.ended = True

    def take(self) -> list[Event]:
        events, self.pending = self.pending, []
        return events


def _duplicate(path: str, written: list[str]) -> InvalidArgument:
    message = (
        f"you cannot upload multiple files to the same path '{path}' in one upload request, "
        "only the first specified file was uploaded"
    )
    others = [p for p in written if p != path]
    if len(others) > 1:
        message += f", also the following files were uploaded: {', '.join(others)}"
    return InvalidArgument(message)


class _Receiver:
    """Acts on parser events: opens, fills and finishes one file per `file` part."""

    def __init__(self, uploader: Uploader, path_override: str | None) -> None:
        self.uploader = uploader
        self.path_override = path_override
        self.entries: list[dict[str, Any]] = []
        self.target: UploadTarget | None = None
        self._paths: list[str] = []

    async def handle(self, kind: str, value: Any) -> None:
        if kind == "headers":
            self.target = await self._open(value)
        elif kind == "data" and self.target is not None:
            await self.target.write(value)
        elif kind == "end" and self.target is not None:
            target, self.target = self.target, None
            try:
                self.entries.append(await target.finish())
            finally:
                await target.close()

    async def _open(self, headers: dict[str, str]) -> UploadTarget | None:
        kind, params = parse_disposition(headers.get("content-disposition", ""))
        if kind != "form-data" or params.get("name") != "file":
            return None
        if self.path_override is not None:
            raw = self.path_override
        elif "filename" in params:
            raw = params["filename"]
        else:
            raise InvalidArgument(
                "error getting multipart custom part file name: "
                "filename not found in Content-Disposition header"
            )
        path = self.uploader.resolve(raw)
        if path in self._paths:
            raise _duplicate(path, self._paths)
        self._paths.append(path)
        return await self.uploader.open(path)


async def receive_parts(
    uploader: Uploader, boundary: bytes, path_override: str | None, body: AsyncIterator[bytes]
) -> list[dict[str, Any]]:
    """Write every `file` part of a multipart body; the response entries, in part order."""
    events = _Events()
    try:
        parser = MultipartParser(boundary, events.callbacks())  # type: ignore[arg-type]
    except (ValueError, MultipartParseError) as exc:
        raise InvalidArgument(f"error parsing multipart form: {exc}") from None
    receiver = _Receiver(uploader, path_override)
    try:
        async for chunk in body:
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise InvalidArgument(f"error reading form: {exc}") from None
            for kind, value in events.take():
                await receiver.handle(kind, value)
        if not events.ended:
            raise InvalidArgument("error reading form: unexpected end of multipart body")
    finally:
        if receiver.target is not None:
            await receiver.target.close()
    return receiver.entries
