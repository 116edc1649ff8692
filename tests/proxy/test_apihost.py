"""One TLS listener for a domain (`corral up --domain`): `api.{domain}` to the API app in-process,
`{port}-{id}.{domain}` to sandboxes, over h2 and HTTP/1.1, with a certificate from corral.tls."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from corral.proxy.apihost import ApiHost
from corral.proxy.server import ProxyServer
from corral.proxy.settings import ProxySettings
from corral.proxy.types import Receive, Scope, Send
from corral.tls import ServerCerts, local_certs
from tests.proxy.conftest import (
    ENVD_PORT,
    LoopThread,
    RunningProxy,
    Sandbox,
    memory_catalog,
    stop_proxy,
)

DOMAIN = "corral.test"


class FakeApi:
    """Stands in for the control plane app: answers who it is, and counts what reached it."""

    def __init__(self) -> None:
        self.scope_types: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope_types.append(scope["type"])
        body = f"api {scope['http_version']} {scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> ServerCerts:
    return local_certs(tmp_path_factory.mktemp("tls"), DOMAIN)


@pytest.fixture(scope="module")
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture(scope="module")
def front(certs: ServerCerts, api: FakeApi, sandbox_a: Sandbox) -> Iterator[RunningProxy]:
    settings = ProxySettings(
        host="127.0.0.1", port=0, domain=DOMAIN, tls_cert=certs.cert, tls_key=certs.key
    )
    thread = LoopThread()
    catalog = thread.run(memory_catalog())
    server = ProxyServer(settings, catalog, api=api)
    thread.run(server.start())
    running = RunningProxy(server, catalog, thread)
    running.put(sandbox_a.route)
    yield running
    stop_proxy(running)


def get(front: RunningProxy, certs: ServerCerts, host: str, path: str, **kw: Any) -> httpx.Response:
    """GET `https://{host}{path}` from the listener on 127.0.0.1, verified against `host`."""
    assert certs.ca is not None
    context = ssl.create_default_context(cafile=str(certs.ca))
    with httpx.Client(verify=context, trust_env=False, **kw) as client:
        return client.get(
            f"https://127.0.0.1:{front.port}{path}",
            headers={"Host": f"{host}:{front.port}"},
            extensions={"sni_hostname": host},
        )


@pytest.mark.parametrize("http2", [True, False])
def test_api_host_reaches_the_api_app(
    front: RunningProxy, certs: ServerCerts, api: FakeApi, http2: bool
) -> None:
    if http2:
        pytest.importorskip("h2")
    response = get(front, certs, f"api.{DOMAIN}", "/v2/sandboxes", http2=http2)
    assert response.status_code == 200
    assert response.text == f"api {'2' if http2 else '1.1'} /v2/sandboxes"
    assert "lifespan" not in api.scope_types  # its lifespan is its own server's business


def test_sandbox_hosts_reach_the_sandbox(
    front: RunningProxy, certs: ServerCerts, sandbox_a: Sandbox
) -> None:
    pytest.importorskip("h2")
    host = f"{ENVD_PORT}-{sandbox_a.sandbox_id}.{DOMAIN}"
    assert get(front, certs, host, "/health", http2=True).status_code == 204
    missing = get(front, certs, f"{ENVD_PORT}-nosuchsandbox.{DOMAIN}", "/health", http2=True)
    assert missing.status_code == 502
    assert missing.json()["sandboxId"] == "nosuchsandbox"


def test_a_name_outside_the_certificate_is_refused(front: RunningProxy, certs: ServerCerts) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        get(front, certs, "api.corral.test.evil.test", "/v2/sandboxes")


@pytest.mark.parametrize(
    ("kind", "host", "to_api"),
    [
        ("http", b"api.corral.test", True),
        ("websocket", b"API.Corral.Test:8443", True),
        ("http", b"api.corral.test.evil.test", False),
        ("http", b"xapi.corral.test", False),
        ("http", b"49983-sbx1.corral.test:8443", False),
        ("http", None, False),
        ("lifespan", None, False),
    ],
)
async def test_which_app_answers(kind: str, host: bytes | None, to_api: bool) -> None:
    seen: list[str] = []

    def app(name: str) -> Any:
        async def call(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(name)

        return call

    front = ApiHost(DOMAIN, app("api"), app("sandboxes"))
    scope: Scope = {"type": kind, "headers": [] if host is None else [(b"host", host)]}

    async def nothing() -> Any:
        raise AssertionError

    async def ignore(message: Any) -> None:
        raise AssertionError

    await front(scope, nothing, ignore)
    assert seen == ["api" if to_api else "sandboxes"]


def test_api_needs_a_domain() -> None:
    with pytest.raises(ValueError, match="domain"):
        ProxyServer(ProxySettings(port=0), catalog=None, api=FakeApi())  # type: ignore[arg-type]
