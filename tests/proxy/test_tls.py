"""TLS with h2 and HTTP/1.1 by ALPN (hypercorn), with a test CA and leaf made by openssl."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from corral.proxy.settings import ProxySettings
from tests.conftest import REPO
from tests.proxy.conftest import (
    ENVD_PORT,
    RunningProxy,
    Sandbox,
    memory_catalog,
    start_proxy,
    stop_proxy,
)


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA and a leaf for *.corral.test, localhost and 127.0.0.1 (rustls rejects a CA as leaf)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"),
        "-days", "2", "-subj", "/CN=corral test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", str(d / "leaf.key"), "-out", str(d / "leaf.csr"),
        "-subj", "/CN=corral.test",
    )  # fmt: skip
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:*.corral.test,DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", str(d / "leaf.csr"), "-CA", str(d / "ca.pem"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-out", str(d / "leaf.pem"),
        "-days", "2", "-extfile", str(d / "ext.cnf"),
    )  # fmt: skip
    return Certs(ca=d / "ca.pem", cert=d / "leaf.pem", key=d / "leaf.key")


@pytest.fixture(scope="module")
def tls_proxy(certs: Certs, sandbox_a: Sandbox, sandbox_b: Sandbox) -> Iterator[RunningProxy]:
    settings = ProxySettings(
        host="127.0.0.1", port=0, domain="corral.test", tls_cert=certs.cert, tls_key=certs.key
    )
    running = start_proxy(settings, memory_catalog)
    assert running.server.engine == "hypercorn"
    running.put(sandbox_a.route)
    running.put(sandbox_b.route)
    yield running
    stop_proxy(running)


def envd_headers(sandbox: Sandbox) -> dict[str, str]:
    return {
        "E2b-Sandbox-Id": sandbox.sandbox_id,
        "E2b-Sandbox-Port": str(ENVD_PORT),
        "X-Access-Token": sandbox.token,
    }


def test_h2_requests_to_two_sandboxes_share_one_connection(
    tls_proxy: RunningProxy, certs: Certs, sandbox_a: Sandbox, sandbox_b: Sandbox
) -> None:
    pytest.importorskip("h2")
    context = ssl.create_default_context(cafile=str(certs.ca))
    with httpx.Client(http2=True, verify=context, trust_env=False) as client:
        for i in range(6):
            sandbox = (sandbox_a, sandbox_b)[i % 2]
            response = client.post(
                f"https://127.0.0.1:{tls_proxy.port}/process.Process/List",
                json={},
                headers=envd_headers(sandbox),
            )
            assert response.http_version == "HTTP/2"
            assert response.status_code == 200, response.text
        # Host routing over h2: the Host header becomes :authority.
        response = client.get(
            f"https://127.0.0.1:{tls_proxy.port}/health",
            headers={"Host": f"{ENVD_PORT}-{sandbox_a.sandbox_id}.corral.test"},
        )
        assert response.http_version == "HTTP/2"
        assert response.status_code == 204


def test_h2_upload_and_download(tls_proxy: RunningProxy, certs: Certs, sandbox_a: Sandbox) -> None:
    pytest.importorskip("h2")
    context = ssl.create_default_context(cafile=str(certs.ca))
    payload = os.urandom(5 * 1024 * 1024)
    path = f"/tmp/corral-tls-{os.getpid()}.bin"
    base = f"https://127.0.0.1:{tls_proxy.port}/files"
    params = {"path": path, "username": "root"}
    try:
        with httpx.Client(http2=True, verify=context, trust_env=False) as client:
            up = client.post(
                base,
                params=params,
                content=payload,
                headers=envd_headers(sandbox_a) | {"Content-Type": "application/octet-stream"},
            )
            assert up.http_version == "HTTP/2"
            assert up.status_code == 200, up.text
            down = client.get(base, params=params, headers=envd_headers(sandbox_a))
            assert down.status_code == 200
            assert down.content == payload
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_http1_over_tls_still_works(
    tls_proxy: RunningProxy, certs: Certs, sandbox_a: Sandbox
) -> None:
    context = ssl.create_default_context(cafile=str(certs.ca))
    response = httpx.get(
        f"https://127.0.0.1:{tls_proxy.port}/health",
        headers=envd_headers(sandbox_a),
        verify=context,
        trust_env=False,
    )
    assert response.http_version == "HTTP/1.1"
    assert response.status_code == 204


SDK_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from tests.sdk import sdk_sandbox
    url, token, sandbox_id = sys.argv[1:4]
    sbx = sdk_sandbox(url, token, sandbox_id)
    print(sbx.commands.run("echo tls-$((40+2))").stdout, end="")
    handle = sbx.commands.run("for i in 1 2; do echo s$i; sleep 0.1; done", background=True)
    print(handle.wait().stdout, end="")
    path = f"/tmp/corral-sdk-tls-{os.getpid()}.txt"
    sbx.files.write(path, "over tls", user="root")
    print(sbx.files.read(path, user="root"))
    os.unlink(path)
    """
)


def test_official_sdk_over_tls(tls_proxy: RunningProxy, certs: Certs, sandbox_a: Sandbox) -> None:
    """The SDK trusts the test CA through SSL_CERT_FILE (rustls, e2b-wire-protocol.md §1.2)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("E2B_", "SSL_"))}
    env["SSL_CERT_FILE"] = str(certs.ca)
    url = f"https://127.0.0.1:{tls_proxy.port}"
    result = subprocess.run(
        [sys.executable, "-c", SDK_SCRIPT, url, sandbox_a.token, sandbox_a.sandbox_id],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "tls-42\ns1\ns2\nover tls\n"
