"""Malformed requests get clear Connect/HTTP errors and never take envd down."""

from __future__ import annotations

import httpx
import pytest

from tests.envd.conftest import Envd


def _headers(envd: Envd, content_type: str = "application/json") -> dict[str, str]:
    return {
        "content-type": content_type,
        "connect-protocol-version": "1",
        "x-access-token": envd.token or "",
    }


def _alive(envd: Envd) -> None:
    assert envd.proc.poll() is None
    assert httpx.get(f"{envd.url}/health").status_code == 204


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_argument"),
        (b'{"process": 5}', "invalid_argument"),
        (b'{"process": {"pid": "x"}}', "invalid_argument"),
        (b"{}", "invalid_argument"),
    ],
)
def test_malformed_unary_json(envd: Envd, body: bytes, code: str) -> None:
    response = httpx.post(
        f"{envd.url}/process.Process/SendSignal", content=body, headers=_headers(envd)
    )
    assert 400 <= response.status_code < 500
    assert response.json()["code"] == code
    assert response.json()["message"]
    _alive(envd)


def test_unknown_method_is_404(envd: Envd) -> None:
    response = httpx.post(f"{envd.url}/process.Process/Nope", content=b"{}", headers=_headers(envd))
    assert response.status_code == 404
    _alive(envd)


def test_unsupported_content_type_is_415(envd: Envd) -> None:
    response = httpx.post(
        f"{envd.url}/process.Process/List", content=b"{}", headers=_headers(envd, "text/plain")
    )
    assert response.status_code == 415
    _alive(envd)


def test_oversized_message_is_resource_exhausted(envd: Envd) -> None:
    body = b'{"process":{"pid":1},"input":{"stdin":"' + b"A" * (17 * 1024 * 1024) + b'"}}'
    response = httpx.post(
        f"{envd.url}/process.Process/SendInput", content=body, headers=_headers(envd)
    )
    assert response.status_code == 429
    assert response.json()["code"] == "resource_exhausted"
    _alive(envd)


def test_oversized_stream_frame_ends_stream_with_error(envd: Envd) -> None:
    frame = b"\x00" + (64 * 1024 * 1024).to_bytes(4, "big") + b"{}"
    response = httpx.post(
        f"{envd.url}/process.Process/Start",
        content=frame,
        headers=_headers(envd, "application/connect+json"),
    )
    assert response.status_code == 200
    assert response.content[0] == 2  # end-of-stream frame carrying the error
    assert b"resource_exhausted" in response.content
    _alive(envd)


def test_truncated_stream_frame(envd: Envd) -> None:
    response = httpx.post(
        f"{envd.url}/process.Process/Start",
        content=b"\x00\x00\x00\x00\x10{",
        headers=_headers(envd, "application/connect+json"),
    )
    assert response.content[0] == 2
    assert b'"error"' in response.content
    _alive(envd)


def test_start_without_command_is_invalid(envd: Envd) -> None:
    body = b'{"process":{"cmd":""}}'
    frame = b"\x00" + len(body).to_bytes(4, "big") + body
    response = httpx.post(
        f"{envd.url}/process.Process/Start",
        content=frame,
        headers=_headers(envd, "application/connect+json"),
    )
    assert b"invalid_argument" in response.content
    _alive(envd)


def test_binary_protobuf_codec_is_served(envd: Envd) -> None:
    """Other clients (connect-go, connect-es) use application/proto."""
    response = httpx.post(
        f"{envd.url}/process.Process/List", content=b"", headers=_headers(envd, "application/proto")
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/proto"
