"""gzip on /files in both directions, negotiated the way E2B's envd does (api/encoding.go).

* Downloads: `Accept-Encoding` picks gzip when the client lists it (httpx's default `gzip,
  deflate` does, so the SDK's plain `files.read` gets gzip too and decodes it transparently);
  identity is always acceptable unless refused with `q=0`.
* Uploads: `Content-Encoding: gzip` bodies (the SDK's `files.write(..., gzip=True)`) are inflated
  as they arrive. Output is produced in bounded pieces, so a small compressed body that expands
  to gigabytes never sits in memory whole.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

from corral.envd.errors import InvalidArgument

GZIP = "gzip"
SUPPORTED = (GZIP,)

GZIP_WBITS = 16 + zlib.MAX_WBITS
"""zlib window bits that read and write a gzip header and trailer."""

INFLATE_PIECE = 256 * 1024
"""Largest piece of inflated output produced at once."""


def _coding_and_quality(item: str) -> tuple[str, float]:
    name, _, params = item.partition(";")
    quality = 1.0
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "q":
            with contextlib.suppress(ValueError):
                quality = float(value)
    return name.strip().lower(), quality


def negotiate(accept_encoding: str | None) -> str | None:
    """The coding to send a download with: "gzip", or None for identity.

    Raises InvalidArgument (400) only when identity is refused and nothing we support is
    acceptable, as E2B does.
    """
    if not accept_encoding:
        return None
    offers = [_coding_and_quality(item) for item in accept_encoding.split(",") if item.strip()]
    offers.sort(key=lambda offer: offer[1], reverse=True)  # stable: ties keep header order
    identity_refused = any(name == "identity" and q == 0 for name, q in offers)
    for name, quality in offers:
        if quality == 0:
            continue
        if name == "identity":
            return None
        if name == "*":
            return SUPPORTED[0] if identity_refused else None
        if name in SUPPORTED:
            return name
    if not identity_refused:
        return None
    raise InvalidArgument(
        f"error parsing Accept-Encoding: no acceptable encoding found, supported: {list(SUPPORTED)}"
    )


def request_coding(content_encoding: str | None) -> str | None:
    """The coding of an upload body: "gzip" or None; anything else is a 400."""
    if not content_encoding:
        return None
    name, _ = _coding_and_quality(content_encoding)
    if name == "identity":
        return None
    if name not in SUPPORTED:
        raise InvalidArgument(
            "error decompressing request body: unsupported Content-Encoding: "
            f"{content_encoding}, supported: {list(SUPPORTED)}"
        )
    return name


class GzipDecoder:
    """Incremental gzip inflater for request bodies, including multi-member streams (as Go's
    `gzip.Reader`, which concatenates members)."""

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(GZIP_WBITS)
        self._member_started = False
        self._members_done = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Inflated output for the next piece of the body, in pieces of at most INFLATE_PIECE."""
        while True:
            if data:
                self._member_started = True
            try:
                out = self._inflater.decompress(data, INFLATE_PIECE)
            except zlib.error as exc:
                raise InvalidArgument(f"error decompressing request body: {exc}") from None
            if out:
                yield out
            if self._inflater.eof:
                self._members_done += 1
                data = self._inflater.unused_data
                self._inflater = zlib.decompressobj(GZIP_WBITS)
                self._member_started = False
                if not data:
                    return
                continue
            data = self._inflater.unconsumed_tail
            if not data and len(out) < INFLATE_PIECE:
                return

    def finish(self) -> None:
        """Check that the body ended on a member boundary (a truncated upload is an error)."""
        if self._member_started or self._members_done == 0:
            raise InvalidArgument("error decompressing request body: unexpected end of gzip data")


class GzipEncoder:
    """Incremental gzip deflater for downloads, at zlib's default level (as Go's default)."""

    def __init__(self) -> None:
        self._deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, GZIP_WBITS)

    def feed(self, data: bytes) -> bytes:
        return self._deflater.compress(data)

    def finish(self) -> bytes:
        return self._deflater.flush()
