"""envd started as a real process on loopback, and the official e2b SDK pointed at it.

The SDK object is built exactly as `Sandbox.create()` builds it after the control plane answers
(sandbox id, envd version, access token, a connection config whose sandbox URL is our envd),
so every request below is the SDK's own.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2b import AsyncSandbox, ConnectionConfig, Sandbox
from packaging.version import Version

from corral.envd import ENVD_VERSION
from tests.conftest import free_port, wait_http

TEST_USER = "corraltest"


@dataclass
class Envd:
    url: str
    port: int
    token: str | None
    proc: subprocess.Popen[bytes]


def ensure_test_user() -> pwd.struct_passwd:
    """A normal account to act as E2B's `user` (created once; tests need root for it)."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    if os.geteuid() != 0:
        pytest.skip("needs root to create the test account and switch users")
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", TEST_USER], check=True)
    return pwd.getpwnam(TEST_USER)


def start_envd(token: str | None = None) -> Envd:
    ensure_test_user()
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "corral.envd",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--default-user",
        TEST_USER,
    ]
    if token:
        cmd += ["--access-token", token]
    proc = subprocess.Popen(cmd)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc=proc)
    return Envd(url=url, port=port, token=token, proc=proc)


def stop_envd(envd: Envd) -> None:
    envd.proc.terminate()
    try:
        envd.proc.wait(10)
    except subprocess.TimeoutExpired:
        envd.proc.kill()
    assert envd.proc.returncode is not None


@pytest.fixture(scope="session")
def envd() -> Iterator[Envd]:
    server = start_envd(token="test-token-123")
    yield server
    stop_envd(server)


def sdk_opts(envd: Envd, token: str | None = "use-server") -> dict[str, object]:
    """The arguments `Sandbox.create()` passes to the constructor (e2b/sandbox_sync/main.py)."""
    access_token = envd.token if token == "use-server" else token
    headers = {"E2b-Sandbox-Id": "sbx-local", "E2b-Sandbox-Port": "49983"}
    if access_token is not None:
        headers["X-Access-Token"] = access_token
    return dict(
        sandbox_id="sbx-local",
        sandbox_domain=None,
        envd_version=Version(ENVD_VERSION),
        envd_access_token=access_token,
        traffic_access_token=None,
        connection_config=ConnectionConfig(
            api_key="unused", sandbox_url=envd.url, extra_sandbox_headers=headers
        ),
    )


@pytest.fixture
def sbx(envd: Envd) -> Sandbox:
    return Sandbox(**sdk_opts(envd))  # type: ignore[arg-type]


@pytest.fixture
def async_sbx(envd: Envd) -> AsyncSandbox:
    return AsyncSandbox(**sdk_opts(envd))  # type: ignore[arg-type]


@pytest.fixture
def home() -> str:
    return pwd.getpwnam(TEST_USER).pw_dir


@pytest.fixture
def workdir(home: str) -> Iterator[str]:
    """A fresh directory owned by the test user, removed afterwards."""
    import uuid

    path = os.path.join(home, f"t-{uuid.uuid4().hex[:8]}")
    os.makedirs(path)
    pw = pwd.getpwnam(TEST_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)
