"""The interpreter's HTTP surface below the SDK: NDJSON framing, errors, tokens, readiness,
the sandbox's env vars from a real envd, and kernels ending with the server."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from e2b import SandboxException

from tests.envd.conftest import start_envd, stop_envd
from tests.interpreter.conftest import Interpreter, sandbox, start_interpreter, stop_interpreter

EXECUTE_KEYS = {"context_id": None, "language": None, "env_vars": None}


def execute_lines(url: str, code: str, **body: object) -> list[dict[str, object]]:
    with httpx.stream(
        "POST", f"{url}/execute", json={**EXECUTE_KEYS, "code": code, **body}, timeout=30
    ) as response:
        assert response.status_code == 200
        raw = response.read().decode()
    assert raw.endswith("\n")
    lines = raw[:-1].split("\n")
    assert all(line.strip() for line in lines), "a blank line would crash the SDK's parser"
    return [json.loads(line) for line in lines]


def test_execute_stream_is_ndjson_ending_with_end_of_execution(interpreter: Interpreter) -> None:
    code = "for i in range(3):\n    print(i, flush=True)\nprint()\n'done'"
    lines = execute_lines(interpreter.url, code)
    assert lines[0]["type"] == "number_of_executions"
    assert isinstance(lines[0]["execution_count"], int)
    assert lines[-1] == {"type": "end_of_execution"}
    stdout = [line for line in lines if line["type"] == "stdout"]
    assert "".join(str(line["text"]) for line in stdout) == "0\n1\n2\n\n"
    for line in stdout:
        assert isinstance(line["timestamp"], int) and line["timestamp"] > 10**18
    assert {"type": "result", "text": "done", "is_main_result": True} in lines


def test_errors_are_e2b_json(interpreter: Interpreter) -> None:
    missing = httpx.post(
        f"{interpreter.url}/execute", json={**EXECUTE_KEYS, "code": "1", "context_id": "nope"}
    )
    assert missing.status_code == 404
    assert missing.json() == {"code": 404, "message": "Context nope not found"}
    both = httpx.post(
        f"{interpreter.url}/execute",
        json={**EXECUTE_KEYS, "code": "1", "context_id": "x", "language": "python"},
    )
    assert both.status_code == 400 and both.json()["code"] == 400
    bad = httpx.post(f"{interpreter.url}/execute", content=b"{not json")
    assert bad.status_code == 400
    no_code = httpx.post(f"{interpreter.url}/execute", json=EXECUTE_KEYS)
    assert no_code.status_code == 400
    bad_env = httpx.post(
        f"{interpreter.url}/execute", json={**EXECUTE_KEYS, "code": "1", "env_vars": {"A=B": "1"}}
    )
    assert bad_env.status_code == 400
    unknown = httpx.get(f"{interpreter.url}/nowhere")
    assert unknown.status_code == 404 and unknown.json()["code"] == 404


def test_health(interpreter: Interpreter) -> None:
    response = httpx.get(f"{interpreter.url}/health")
    assert response.status_code == 200 and response.json() == "OK"


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


def test_ready_means_the_python_kernel_runs_and_ends_with_the_server() -> None:
    server = start_interpreter()
    try:
        kernels = [
            child
            for child in _children(server.proc.pid)
            if b"ipykernel_launcher" in Path(f"/proc/{child}/cmdline").read_bytes()
        ]
        assert len(kernels) == 1, "the default kernel runs as soon as /health answers"
        started = time.monotonic()
        assert sandbox(server).run_code("1 + 1").text == "2"
        assert time.monotonic() - started < 1.0
    finally:
        stop_interpreter(server)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: the lifespan ran
    assert server.proc.returncode in (0, -signal.SIGTERM)
    with pytest.raises(ProcessLookupError):
        os.kill(kernels[0], 0)


def test_access_token_required_on_execute_only_when_sent_elsewhere() -> None:
    server = start_interpreter(token="secret-token")
    try:
        good = sandbox(server, token="secret-token")
        assert good.run_code("6 * 7").text == "42"
        # the SDK sends no token on /contexts*: those calls still work
        context = good.create_code_context()
        assert context.id in {c.id for c in good.list_code_contexts()}
        good.restart_code_context(context)
        good.remove_code_context(context)
        with pytest.raises(SandboxException, match="401"):
            sandbox(server, token="wrong").run_code("1")
        no_token = httpx.post(f"{server.url}/execute", json={**EXECUTE_KEYS, "code": "1"})
        assert no_token.status_code == 401 and no_token.json()["code"] == 401
        wrong = httpx.get(f"{server.url}/contexts", headers={"X-Access-Token": "wrong"})
        assert wrong.status_code == 401
    finally:
        stop_interpreter(server)


def test_kernels_get_the_sandbox_env_vars_from_envd() -> None:
    envd = start_envd(token="envd-token")
    server = None
    try:
        init = httpx.post(
            f"{envd.url}/init",
            json={"envVars": {"SBX_GLOBAL": "from-envd", "SHARED": "global"}},
            headers={"X-Access-Token": "envd-token"},
        )
        assert init.status_code == 204
        server = start_interpreter("--envd-url", envd.url)
        sbx = sandbox(server, token="envd-token")
        assert sbx.run_code("import os\nos.environ['SBX_GLOBAL']").text == "from-envd"
        overridden = sbx.run_code("os.environ['SHARED']", envs={"SHARED": "run"})
        assert overridden.text == "run"
        assert sbx.run_code("os.environ['SHARED']").text == "global"
        bash = sbx.run_code("echo $SBX_GLOBAL", language="bash")
        assert bash.logs.stdout == ["from-envd\n"]
    finally:
        if server is not None:
            stop_interpreter(server)
        stop_envd(envd)
