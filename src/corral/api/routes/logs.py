"""Sandbox logs (`GET /sandboxes/{id}/logs`, `GET /v2/sandboxes/{id}/logs`).

What a sandbox logs is envd's log: its own events (process started and ended, …) and one entry
per line its processes print (wire protocol 2.4; SDK 2.x has no call for it, the dashboard and
older SDKs do). The node reads it from envd's stderr file; killed sandboxes have none.

Windows follow E2B's API: timestamps and cursors are Unix milliseconds and a call covers at
most a week. v1 reads forward from `start` (default: a week ago) to now. v2 reads backward by
default: a forward read covers the week from `cursor`, a backward one the week before it, and
without a cursor the week up to now. `level` keeps that level and above; `search` keeps entries
whose message contains it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from corral.api import sandboxes
from corral.api.context import ApiContext
from corral.api.db.records import TeamRecord
from corral.api.deps import Ctx, Team
from corral.api.routes.sandboxes import ERRORS
from corral.api.schemas import Wire
from corral.orchestrator.sandbox_logs import MAX_LIMIT, Direction, LogEntry, LogLevel, LogQuery

router = APIRouter(tags=["sandboxes"])

WINDOW = timedelta(days=7)
LAST_MS = int(datetime(9999, 12, 1, tzinfo=UTC).timestamp() * 1000)
"""The latest cursor a window fits after (protobuf timestamps end with year 9999)."""

Millis = Annotated[int | None, Query(ge=0, le=LAST_MS, description="Unix milliseconds")]
Limit = Annotated[int, Query(ge=0, description=f"At most this many entries (up to {MAX_LIMIT})")]


class SandboxLog(Wire):
    """A log line as written (v1 `logs`)."""

    timestamp: datetime
    line: str


class SandboxLogEntry(Wire):
    timestamp: datetime
    message: str
    level: LogLevel
    fields: dict[str, str]


class SandboxLogs(Wire):
    logs: list[SandboxLog]
    log_entries: list[SandboxLogEntry] = Field(alias="logEntries")


class SandboxLogsV2Response(Wire):
    logs: list[SandboxLogEntry]


@router.get("/sandboxes/{sandbox_id}/logs", response_model=SandboxLogs, responses=ERRORS)
async def logs_v1(
    ctx: Ctx, team: Team, sandbox_id: str, start: Millis = None, limit: Limit = 1000
) -> SandboxLogs:
    """The sandbox's log from `start` (default: a week ago), oldest first. Use v2 instead."""
    now = datetime.now(UTC)
    since = _moment(start) if start is not None else now - WINDOW
    entries = await _read(ctx, team, sandbox_id, LogQuery(start=since, end=now, limit=limit))
    return SandboxLogs(
        logs=[SandboxLog(timestamp=e.timestamp, line=e.line) for e in entries],
        log_entries=[_entry(e) for e in entries],
    )


@router.get(
    "/v2/sandboxes/{sandbox_id}/logs", response_model=SandboxLogsV2Response, responses=ERRORS
)
async def logs_v2(
    ctx: Ctx,
    team: Team,
    sandbox_id: str,
    cursor: Millis = None,
    limit: Limit = 1000,
    direction: Direction = "backward",
    level: LogLevel | None = None,
    search: Annotated[str | None, Query(max_length=1024)] = None,
) -> SandboxLogsV2Response:
    """The sandbox's log, newest first from `cursor` (backward) or oldest first (forward)."""
    if cursor is None:
        end = datetime.now(UTC)
        start = end - WINDOW
    elif direction == "forward":
        start = _moment(cursor)
        end = start + WINDOW
    else:
        end = _moment(cursor)
        start = end - WINDOW
    query = LogQuery(
        start=start,
        end=end,
        limit=limit,
        direction=direction,
        min_level=level,
        search=search or "",
    )
    return SandboxLogsV2Response(
        logs=[_entry(e) for e in await _read(ctx, team, sandbox_id, query)]
    )


async def _read(
    ctx: ApiContext, team: TeamRecord, sandbox_id: str, query: LogQuery
) -> list[LogEntry]:
    node, _ = await sandboxes.find(ctx, team, sandbox_id)
    return list(await node.client.logs(sandbox_id, query))


def _moment(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def _entry(e: LogEntry) -> SandboxLogEntry:
    return SandboxLogEntry(timestamp=e.timestamp, message=e.message, level=e.level, fields=e.fields)
