"""The code interpreter's numbers: start to ready, first result, and `run_code` round trips.

Targets (the issue): a trivial `run_code` round trip ≤ 10 ms; the first result ≤ 150 ms after
the server is ready. The server runs as the tests run it (`python -m corral.interpreter` on
loopback) and is driven by the official `e2b-code-interpreter` SDK.
Run: `.venv/bin/python -m bench.interpreter_bench`; prints one JSON object and writes it to
bench/results/interpreter-<date>.json.

- `start_to_ready_ms`: process start → first `/health` answer (polled every millisecond); the
  server only listens once its default Python kernel has answered, so this is the time a
  template's ready check waits.
- `ready_to_first_result_ms`: that answer → the `on_result` callback of the first
  `run_code("1 + 1")` (SDK object built beforehand, as `Sandbox.create()` returns it).
- `round_trip_ms`: `run_code` of a statement, of an expression with a result, in Python, and a
  statement in JavaScript and bash, after 20 warm-up runs each.
- `new_bash_context_ms`: `create_code_context(language="bash")` plus its first `run_code`
  (a new bash kernel: bash_kernel's own set-up took 2.5 s of it before its rc file did it).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from e2b_code_interpreter import Sandbox

from tests.conftest import free_port
from tests.sdk import sdk_kwargs

RESULTS = Path(__file__).resolve().parent / "results"


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: ci\r\nConnection: close\r\n\r\n")
            return conn.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _start(port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "corral.interpreter", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--envd-url", ""]
    return subprocess.Popen(argv, stderr=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(15)


def _cold_start() -> tuple[float, float]:
    """(start → ready, ready → first result) in ms for one fresh server."""
    port = free_port()
    sbx = Sandbox(**sdk_kwargs(f"http://127.0.0.1:{port}", None))  # type: ignore[arg-type]
    t0 = time.perf_counter()
    proc = _start(port)
    try:
        while not _healthy(port):
            if proc.poll() is not None:
                raise RuntimeError(f"the interpreter exited with {proc.returncode}")
            time.sleep(0.001)
        ready = time.perf_counter()
        first: list[float] = []
        execution = sbx.run_code("1 + 1", on_result=lambda _: first.append(time.perf_counter()))
        assert execution.text == "2", execution
        return (ready - t0) * 1000, (first[0] - ready) * 1000
    finally:
        _stop(proc)


def _round_trips(sbx: Sandbox, code: str, language: str | None, runs: int) -> list[float]:
    for _ in range(20):
        sbx.run_code(code, language=language)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sbx.run_code(code, language=language)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _new_bash_contexts(sbx: Sandbox, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        context = sbx.create_code_context(language="bash")
        execution = sbx.run_code("echo ok", context=context, timeout=30)
        times.append((time.perf_counter() - t0) * 1000)
        assert execution.logs.stdout == ["ok\n"], execution
        sbx.remove_code_context(context)
    return times


def _pss_kib(pid: int) -> int:
    total = 0
    for candidate in [pid, *_children(pid)]:
        for line in Path(f"/proc/{candidate}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": _pct(values, 0.5), "p95": _pct(values, 0.95), "max": round(max(values), 2)}


def main() -> None:
    cold = [_cold_start() for _ in range(5)]
    port = free_port()
    proc = _start(port)
    try:
        while not _healthy(port):
            time.sleep(0.01)
        sbx = Sandbox(**sdk_kwargs(f"http://127.0.0.1:{port}", None))  # type: ignore[arg-type]
        idle_pss = _pss_kib(proc.pid)
        trips: dict[str, Any] = {
            "python_statement": _summary(_round_trips(sbx, "x = 1", None, 300)),
            "python_expression": _summary(_round_trips(sbx, "x + 1", None, 300)),
            "javascript_statement": _summary(_round_trips(sbx, "let y = 1", "js", 100)),
            "bash_statement": _summary(_round_trips(sbx, "Y=1", "bash", 100)),
        }
        with_all = _pss_kib(proc.pid)
        new_bash = _new_bash_contexts(sbx, 10)
    finally:
        _stop(proc)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "targets": {"round_trip_ms": 10, "ready_to_first_result_ms": 150},
        "start_to_ready_ms": _summary([c[0] for c in cold]),
        "ready_to_first_result_ms": _summary([c[1] for c in cold]),
        "round_trip_ms": trips,
        "new_bash_context_ms": _summary(new_bash),
        "pss_kib": {"server_and_python_kernel": idle_pss, "with_js_and_bash_kernels": with_all},
        "samples": {"cold_starts": [[round(a, 2), round(b, 2)] for a, b in cold]},
    }
    text = json.dumps(result, indent=2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"interpreter-{datetime.now(UTC):%Y-%m-%d}.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
