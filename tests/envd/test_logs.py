"""envd's log lines are the same JSON objects `corral.logs` writes for every other component,
and a process's output becomes one such line per output line (what sandbox logs show)."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from corral import logs as corral_logs
from corral.envd import logs as envd_logs
from corral.envd.output_log import (
    LINE_OVERHEAD,
    MAX_LINE_BYTES,
    MAX_OUTPUT_BYTES,
    TRUNCATED,
    OutputLog,
)


def _without_timestamp(record: dict[str, object]) -> list[tuple[str, object]]:
    assert str(record.pop("timestamp")).endswith("Z")
    return list(record.items())  # key order included


def _log_both(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    """The same events through `corral.logs` (JSON mode) and `corral.envd.logs`, in turn."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    corral_logs.configure("info", json=True)  # writes to the sys.stderr capsys installed
    try:
        fields = {"pid": 7, "cmd": "/bin/bash", "user": "user", "pty": False, "args": ["-l"]}
        corral_logs.get("envd.test").info("process started", **fields)
        envd_logs.get("envd.test").info("process started", **fields)
        try:
            raise ValueError("boom")
        except ValueError:
            corral_logs.get("envd.test").exception("unexpected error", method="Start")
            envd_logs.get("envd.test").exception("unexpected error", method="Start")
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_envd_log_lines_match_corral_logs(capsys: pytest.CaptureFixture[str]) -> None:
    reference, ours, reference_exc, ours_exc = _log_both(capsys)
    assert _without_timestamp(ours) == _without_timestamp(reference)
    assert _without_timestamp(ours_exc) == _without_timestamp(reference_exc)
    assert "ValueError: boom" in str(ours_exc["exception"])


def _records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_info_lines_are_the_lines_info_writes(capsys: pytest.CaptureFixture[str]) -> None:
    log = envd_logs.get("envd.test")
    fields = {"event_type": "process_output", "stream": "stdout", "pid": 7}
    for event in ("plain", 'quotes " and \\ and \u00e9', ""):
        log.info(event, **fields)
        log.info_lines([event], **fields)
    records = _records(capsys)
    assert len(records) == 6
    for single, batched in zip(records[::2], records[1::2], strict=True):
        assert _without_timestamp(batched) == _without_timestamp(single)


def test_output_lines_cross_chunks_and_skip_empty_ones(capsys: pytest.CaptureFixture[str]) -> None:
    out = OutputLog(pid=42)
    out.write("stdout", b"first li")
    out.write("stdout", b"ne\r\n\nsecond\nthi")
    out.write("stderr", b"oops\n")
    out.close()  # "thi" had no newline: logged at the end
    records = _records(capsys)
    assert [(r["stream"], r["event"]) for r in records] == [
        ("stdout", "first line"),
        ("stdout", "second"),
        ("stderr", "oops"),
        ("stdout", "thi"),
    ]
    assert all(r["event_type"] == "process_output" and r["pid"] == 42 for r in records)
    assert all(r["level"] == "info" and r["component"] == "envd.processes" for r in records)


def test_output_budget_cuts_once_and_long_lines_come_in_pieces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = OutputLog(pid=1)
    out.write("stdout", b"x" * (MAX_LINE_BYTES * 2 + 10) + b"\n")
    pieces = [r["event"] for r in _records(capsys)]
    assert [len(str(p)) for p in pieces] == [MAX_LINE_BYTES, MAX_LINE_BYTES, 10]
    for _ in range(MAX_OUTPUT_BYTES // 1000):
        out.write("stdout", b"y\n" * 500)  # `yes`: short lines are charged their record too
    out.write("stderr", b"after the cut\n")
    out.close()
    records = _records(capsys)
    logged = [r for r in records if r["level"] == "info"]
    assert 0 < len(logged) <= MAX_OUTPUT_BYTES // LINE_OVERHEAD
    assert [r["event"] for r in records if r["level"] == "warning"] == [TRUNCATED]
    assert records[-1]["event"] == TRUNCATED
    assert "after the cut" not in {r["event"] for r in records}
