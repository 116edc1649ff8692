"""The small parsers behind /files, checked directly on the cases E2B's Go code defines."""

from __future__ import annotations

import gzip
import zlib

import pytest

from corral.envd import encoding, metadata
from corral.envd.errors import InvalidArgument
from corral.envd.files_download import RangeNotSatisfiable, byte_range
from corral.envd.files_multipart import parse_disposition


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("gzip, deflate", "gzip"),  # httpx's default
        ("GZIP;q=0.5, identity;q=0.9", None),
        ("identity", None),
        ("br", None),
        ("*", None),
        ("*, identity;q=0", "gzip"),
        ("gzip;q=0", None),
        ("deflate, gzip;q=0.1", "gzip"),
    ],
)
def test_accept_encoding(header: str | None, chosen: str | None) -> None:
    assert encoding.negotiate(header) == chosen


def test_accept_encoding_refusing_everything_we_have_is_400() -> None:
    with pytest.raises(InvalidArgument):
        encoding.negotiate("br, identity;q=0")


def test_content_encoding() -> None:
    assert encoding.request_coding(None) is None
    assert encoding.request_coding("identity") is None
    assert encoding.request_coding("GZIP") == "gzip"
    with pytest.raises(InvalidArgument):
        encoding.request_coding("br")


def _inflate(body: bytes, piece: int = 7) -> bytes:
    decoder = encoding.GzipDecoder()
    out = b"".join(
        chunk for i in range(0, len(body), piece) for chunk in decoder.feed(body[i : i + piece])
    )
    decoder.finish()
    return out


def test_gzip_decoder_handles_pieces_and_members() -> None:
    assert _inflate(gzip.compress(b"hello world" * 100)) == b"hello world" * 100
    assert _inflate(gzip.compress(b"one") + gzip.compress(b"two"), piece=1) == b"onetwo"
    with pytest.raises(InvalidArgument):
        _inflate(gzip.compress(b"cut short")[:-3])
    with pytest.raises(InvalidArgument):
        _inflate(b"")
    with pytest.raises(InvalidArgument):
        _inflate(gzip.compress(b"x") + b"trailing garbage")


def test_gzip_decoder_output_is_bounded() -> None:
    """A small body inflating to a lot never comes out as one huge piece."""
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    decoder = encoding.GzipDecoder()
    sizes = [len(piece) for piece in decoder.feed(bomb)]
    decoder.finish()
    assert sum(sizes) == 20 * 1024 * 1024
    assert max(sizes) <= encoding.INFLATE_PIECE


def test_gzip_encoder_round_trip() -> None:
    encoder = encoding.GzipEncoder()
    body = encoder.feed(b"abc" * 1000) + encoder.feed(b"") + encoder.finish()
    assert zlib.decompress(body, encoding.GZIP_WBITS) == b"abc" * 1000


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-0", (0, 1)),
        ("bytes=2-5", (2, 4)),
        ("bytes=5-", (5, 5)),
        ("bytes=-3", (7, 3)),
        ("bytes=-30", (0, 10)),
        ("bytes=8-100", (8, 2)),
        ("bytes=0-1,4-5", None),  # several ranges: the whole file
        ("items=1-2", None),
    ],
)
def test_byte_range(header: str, span: tuple[int, int] | None) -> None:
    assert byte_range(header, 10) == span


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=5-2", "bytes=-0", "bytes=a-b", "bytes=3"])
def test_unsatisfiable_range(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as info:
        byte_range(header, 10)
    assert info.value.headers == {"content-range": "bytes */10"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('form-data; name="file"; filename="/a/b.txt"', ("form-data", "file", "/a/b.txt")),
        ("Form-Data; NAME=file; filename=/plain", ("form-data", "file", "/plain")),
        (
            r'form-data; name="file"; filename="/a/q\"uote\\d"',
            ("form-data", "file", '/a/q"uote\\d'),
        ),
        ('form-data; name="file"; filename="/%22x%22"', ("form-data", "file", "/%22x%22")),
        (
            "form-data; name=file; filename=\"x\"; filename*=UTF-8''%2Fd%C3%A9j%C3%A0",
            ("form-data", "file", "/déjà"),
        ),
        ('attachment; name="file"; filename="/a"', ("attachment", "file", "/a")),
    ],
)
def test_content_disposition(value: str, expected: tuple[str, str, str]) -> None:
    kind, params = parse_disposition(value)
    assert (kind, params["name"], params["filename"]) == expected


def test_content_disposition_duplicate_parameter_is_an_error() -> None:
    with pytest.raises(InvalidArgument):
        parse_disposition('form-data; name="file"; filename="/a"; filename="/b"')


def test_metadata_headers() -> None:
    raw = [
        (b"X-Metadata-Author", b"first"),
        (b"x-metadata-author", b"second"),
        (b"x-metadata-", b"no key"),
        (b"x-access-token", b"t"),
        (b"X-METADATA-Purpose", b"upload"),
    ]
    assert metadata.from_headers(raw) == {"author": "first", "purpose": "upload"}


@pytest.mark.parametrize(
    "bad",
    [
        {"k": "caf\xe9"},
        {"k": "tab\there"},
        {"k" * 247: "v"},
        {f"k{i}": "v" * 300 for i in range(14)},
    ],
)
def test_metadata_validation(bad: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument):
        metadata.validate(bad)


def test_metadata_validation_accepts_e2b_limits() -> None:
    metadata.validate({"k" * 246: "printable ~ value"})
    metadata.validate({})
