"""envd's log lines are the same JSON objects `corral.logs` writes for every other component."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from corral import logs as corral_logs
from corral.envd import logs as envd_logs


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
