"""Sandbox logs: the reader over envd's log files, and the Logs call over a real envd's log."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2b import CommandExitException

from corral.orchestrator.errors import SandboxNotFound
from corral.orchestrator.sandbox_logs import (
    BLOCK,
    MAX_RESPONSE_BYTES,
    LogEntry,
    LogQuery,
    read_log,
)
from tests.orchestrator.conftest import Harness
from tests.sdk import async_sdk_sandbox

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _line(at: datetime, event: str, level: str = "info", **fields: object) -> str:
    """A line as envd writes it (`corral.envd.logs`)."""
    stamp = at.isoformat().replace("+00:00", "Z")
    record = {"component": "envd.test", **fields, "event": event, "level": level}
    return json.dumps({**record, "timestamp": stamp}) + "\n"


def _expected(lines: list[str], query: LogQuery) -> list[tuple[datetime, str]]:
    """What a reader must answer, by brute force: every line parsed, unstructured lines stamped
    like the structured line before them (at the head of the file, the one after)."""
    parsed: list[tuple[datetime | None, str]] = []
    for line in lines:
        record = json.loads(line) if line.startswith("{") else None
        if record is None:
            parsed.append((None, line.rstrip("\n")))
        else:
            parsed.append((datetime.fromisoformat(record["timestamp"]), record["event"]))
    first = next(at for at, _ in parsed if at is not None)
    entries, last = [], first
    for at, message in parsed:
        last = at or last
        entries.append((last, message))
    kept = [
        (at, m)
        for at, m in entries
        if (query.start is None or at >= query.start)
        and (query.end is None or at < query.end)
        and query.search in m
    ]
    if query.direction == "backward":
        kept.reverse()
    return kept[: query.limit]


def _messages(entries: list[LogEntry]) -> list[tuple[datetime, str]]:
    return [(e.timestamp, e.message) for e in entries]


@pytest.fixture
def big_log(tmp_path: Path) -> tuple[Path, list[str]]:
    """~800 KB: structured lines (some sharing a millisecond), unstructured ones at the head
    and here and there, and a few lines longer than the reader's block."""
    rng = random.Random(7)
    lines = ["crun: a runtime's line before envd's first\n"]
    at = T0
    for i in range(6000):
        at += timedelta(milliseconds=rng.choice((0, 1, 1, 5, 250)))
        if i % 97 == 0:
            lines.append(f"Traceback line {i}\n")
        size = 3 * BLOCK if i % 1500 == 7 else rng.randrange(5, 120)
        lines.append(_line(at, f"event {i} " + "x" * size, pid=i))
    path = tmp_path / "envd.log"
    path.write_text("".join(lines))
    assert path.stat().st_size > 20 * BLOCK
    return path, lines


def test_reads_match_brute_force_in_both_directions(big_log: tuple[Path, list[str]]) -> None:
    path, lines = big_log
    stamps = [datetime.fromisoformat(json.loads(x)["timestamp"]) for x in lines if x[0] == "{"]
    rng = random.Random(11)
    for _ in range(60):
        start = rng.choice([None, *rng.sample(stamps, 3)])
        end = rng.choice([None, *rng.sample(stamps, 3)])
        if start and end and end < start:
            start, end = end, start
        query = LogQuery(
            start=start,
            end=end,
            limit=rng.choice((1, 7, 300, 10_000)),
            direction=rng.choice(("forward", "backward")),
            search=rng.choice(("", "", "event 4", "Traceback")),
        )
        assert _messages(read_log(path, query)) == _expected(lines, query), query


def test_unstructured_lines_take_the_stamp_before_them(tmp_path: Path) -> None:
    path = tmp_path / "envd.log"
    path.write_text(
        "head\n"
        + _line(T0, "one")
        + "Traceback (most recent call last):\n  boom\n"
        + _line(T0 + timedelta(seconds=1), "two")
        + "tail\n"
    )
    forward = read_log(path, LogQuery())
    assert _messages(forward) == [
        (T0, "head"),
        (T0, "one"),
        (T0, "Traceback (most recent call last):"),
        (T0, "  boom"),
        (T0 + timedelta(seconds=1), "two"),
        (T0 + timedelta(seconds=1), "tail"),
    ]
    assert read_log(path, LogQuery(direction="backward")) == forward[::-1]
    assert forward[2].level == "info" and forward[2].fields == {}
    assert forward[2].line == "Traceback (most recent call last):"


def test_levels_search_fields_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "envd.log"
    path.write_text(
        _line(T0, "debugging", "debug")
        + _line(T0, "started", pid=3, args=["-l"], pty=False)
        + _line(T0, "slow", "warning")
        + _line(T0, "Failed", "error", exception="Traceback…")
        + _line(T0, "strange level", "notice")
    )
    everything = read_log(path, LogQuery())
    assert [e.level for e in everything] == ["debug", "info", "warn", "error", "info"]
    started = everything[1]
    assert started.fields == {
        "component": "envd.test",
        "pid": "3",
        "args": '["-l"]',
        "pty": "false",
    }
    assert json.loads(started.line)["event"] == "started"
    warn_up = read_log(path, LogQuery(min_level="warn"))
    assert [e.message for e in warn_up] == ["slow", "Failed"]
    assert [e.message for e in read_log(path, LogQuery(search="ail"))] == ["Failed"]
    assert read_log(path, LogQuery(search="failed")) == []  # case-sensitive, as E2B's
    assert read_log(path, LogQuery(limit=0)) == []
    assert read_log(tmp_path / "missing.log", LogQuery()) == []


def test_the_line_being_written_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "envd.log"
    path.write_text(_line(T0, "done") + _line(T0, "half written")[:40])
    assert [e.message for e in read_log(path, LogQuery())] == ["done"]
    assert [e.message for e in read_log(path, LogQuery(direction="backward"))] == ["done"]


def test_an_answer_stays_under_the_grpc_message_size(tmp_path: Path) -> None:
    path = tmp_path / "envd.log"
    path.write_text("".join(_line(T0, "x" * 60_000) for _ in range(100)))
    entries = read_log(path, LogQuery(limit=100))
    assert 0 < len(entries) < 100
    assert sum(len(e.message) + len(e.line) for e in entries) <= MAX_RESPONSE_BYTES


async def test_logs_of_a_sandbox_are_envd_lines_and_process_output(harness: Harness) -> None:
    client = await harness.start()
    sandbox = await client.create("sbx-logs", "base", envd_access_token="tok", timeout_seconds=60)
    sdk = async_sdk_sandbox(f"http://{sandbox.address}:{sandbox.envd_port}", "tok", "sbx-logs")
    with pytest.raises(CommandExitException) as failed:
        await sdk.commands.run("echo out; echo err >&2; printf 'no newline'; exit 3")
    assert failed.value.exit_code == 3

    entries = await client.logs("sbx-logs")
    assert entries == sorted(entries, key=lambda e: e.timestamp)
    started = [e for e in entries if e.fields.get("event_type") == "process_start"]
    assert started[-1].message == "process started" and started[-1].fields["cmd"] == "/bin/bash"
    pid = started[-1].fields["pid"]
    output = [
        (e.fields["stream"], e.message)
        for e in entries
        if e.fields.get("event_type") == "process_output" and e.fields["pid"] == pid
    ]
    assert output == [("stdout", "out"), ("stderr", "err"), ("stdout", "no newline")]
    [ended] = [e for e in entries if e.fields.get("event_type") == "process_end"]
    assert ended.fields["exit_code"] == "3" and ended.fields["pid"] == pid
    assert all(e.fields["component"].startswith("envd") for e in entries if e.fields)

    newest = await client.logs("sbx-logs", LogQuery(direction="backward", limit=2))
    assert [e.message for e in newest] == ["process ended", "no newline"]
    later = await client.logs("sbx-logs", LogQuery(start=ended.timestamp))
    assert later[0].timestamp >= ended.timestamp and later[-1].message == "process ended"
    assert [e.message for e in await client.logs("sbx-logs", LogQuery(search="err"))] == ["err"]
    assert await client.logs("sbx-logs", LogQuery(min_level="error")) == []

    await client.pause("sbx-logs")
    assert len(await client.logs("sbx-logs")) == len(entries)  # a paused sandbox keeps its log
    await client.delete("sbx-logs")
    with pytest.raises(SandboxNotFound):
        await client.logs("sbx-logs")
