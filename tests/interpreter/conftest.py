"""The code interpreter started as a real process on loopback, driven by `e2b-code-interpreter`.

The SDK's `Sandbox` is built as `Sandbox.create()` builds it after the control plane answers
(`tests/sdk.py`), with `sandbox_url` leading to our server: the SDK computes its Jupyter URL
(port 49999) with `get_sandbox_url`, which returns `sandbox_url` as-is, so every `run_code`
and context call below is the SDK's own request.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2b_code_interpreter import AsyncSandbox, Sandbox

from tests.conftest import free_port, wait_http
from tests.sdk import sdk_kwargs

START_TIMEOUT = 90.0


@dataclass
class Interpreter:
    url: str
    proc: subprocess.Popen[bytes]
    token: str | None
    started_in: float
    """Seconds from process start to the first `/health` answer."""


def start_interpreter(*args: str, token: str | None = None) -> Interpreter:
    port = free_port()
    cmd = [sys.executable, "-m", "corral.interpreter", "--host", "127.0.0.1", "--port", str(port)]
    if token:
        cmd += ["--access-token", token]
    if "--envd-url" not in args:
        cmd += ["--envd-url", ""]
    started = time.monotonic()
    proc = subprocess.Popen([*cmd, *args])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", timeout=START_TIMEOUT, proc=proc)
    except BaseException:
        stop_interpreter(Interpreter(url, proc, token, 0.0))
        raise
    return Interpreter(url, proc, token, time.monotonic() - started)


def stop_interpreter(server: Interpreter) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)


def sandbox(server: Interpreter, token: str | None = None) -> Sandbox:
    return Sandbox(**sdk_kwargs(server.url, token if token is not None else server.token))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def interpreter() -> Iterator[Interpreter]:
    server = start_interpreter()
    yield server
    stop_interpreter(server)


@pytest.fixture
def sbx(interpreter: Interpreter) -> Sandbox:
    return sandbox(interpreter)


@pytest.fixture
def async_sbx(interpreter: Interpreter) -> AsyncSandbox:
    return AsyncSandbox(**sdk_kwargs(interpreter.url, None))  # type: ignore[arg-type]
