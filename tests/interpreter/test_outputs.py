"""Unit tests: iopub messages → E2B lines, and the env var code for each kernel family."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from corral.interpreter import envcode, outputs
from corral.interpreter.errors import InvalidRequest
from corral.interpreter.execution import Execution


def msg(kind: str, content: dict[str, object], date: object = None) -> dict[str, object]:
    return {"msg_type": kind, "content": content, "header": {"date": date}}


def test_stream_carries_nanosecond_timestamp() -> None:
    date = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    line = outputs.translate(msg("stream", {"name": "stderr", "text": "x"}, date))
    assert line == {"type": "stderr", "text": "x", "timestamp": 1767323045123456000}


def test_result_fields_and_extra() -> None:
    line = outputs.result(
        {"text/plain": "'s'", "image/png": "AAA", "application/vnd.custom": {"a": 1}},
        is_main_result=True,
    )
    assert line == {
        "type": "result",
        "text": "s",
        "png": "AAA",
        "extra": {"application/vnd.custom": {"a": 1}},
        "is_main_result": True,
    }


def test_error_traceback_is_one_string() -> None:
    line = outputs.translate(msg("error", {"ename": "E", "evalue": "v", "traceback": ["a", "b"]}))
    assert line == {"type": "error", "name": "E", "value": "v", "traceback": "a\nb"}


async def test_execution_reports_one_error_and_waits_for_reply_and_idle() -> None:
    execution = Execution("m")
    execution.on_iopub(msg("error", {"ename": "E", "evalue": "1", "traceback": []}))
    execution.on_reply({"status": "error", "ename": "E", "evalue": "1", "traceback": []})
    assert not execution.answered
    execution.on_iopub(msg("status", {"execution_state": "idle"}))
    assert execution.answered
    execution.finish()
    lines = []
    while (line := execution.lines.get_nowait()) is not None:
        lines.append(line)
    assert [line["type"] for line in lines] == ["error"]


async def test_aborted_reply_becomes_an_error() -> None:
    execution = Execution("m")
    execution.on_reply({"status": "abort"})
    execution.on_iopub(msg("status", {"execution_state": "idle"}))
    execution.finish()
    assert execution.error is not None and execution.error["name"] == "ExecutionAborted"


def test_env_code_quotes_values_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"K": "a'b\"c $d\n", "OLD": "new"}
    monkeypatch.delenv("K", raising=False)
    monkeypatch.setenv("OLD", "old")
    namespace: dict[str, object] = {}
    exec(envcode.set_for_run(env, "python"), namespace)
    assert os.environ["K"] == env["K"] and os.environ["OLD"] == "new"
    exec(envcode.restore_after_run(env, "python"), namespace)
    assert "K" not in os.environ and os.environ["OLD"] == "old"
    assert namespace.keys() == {"__builtins__"}  # nothing left in the user's namespace
    assert "'a'\"'\"'b\"c $d\n'" in envcode.set_for_run(env, "bash")
    assert '"a\'b\\"c $d\\n"' in envcode.set_for_run(env, "deno")


def test_env_names_are_checked() -> None:
    envcode.validate({"GOOD_1": "x"}, "bash")
    with pytest.raises(InvalidRequest):
        envcode.validate({"A=B": "x"}, "python")
    with pytest.raises(InvalidRequest):
        envcode.validate({"not-a-shell-name": "x"}, "bash")
