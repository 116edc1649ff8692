"""A sandbox's log: envd's JSON lines, read back from the node's copy of envd's stderr.

envd writes one JSON object per line (`corral.envd.logs`): its own events and its processes'
output lines, in time order. The runtime adds the odd unstructured line (a runtime's error, a
traceback); such a line is an `info` entry stamped like the structured line before it (or, at
the head of the file, the one after it).

Reads never load the whole file: the first line of a time window is found by bisecting byte
offsets, then lines are read forward (oldest first) or in windows backward (newest first) until
the limit is reached. Filters follow E2B's sandbox logs: `min_level` keeps that level and above,
`search` keeps messages containing the text (case-sensitive).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

LogLevel = Literal["debug", "info", "warn", "error"]
Direction = Literal["forward", "backward"]

LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warn", "error")
_RANK = {name: rank for rank, name in enumerate(LEVELS)}
_ALIASES: dict[str, LogLevel] = {
    "trace": "debug",
    "warning": "warn",
    "critical": "error",
    "fatal": "error",
    "panic": "error",
}

MAX_LIMIT = 10_000
MAX_RESPONSE_BYTES = 3 << 20
"""Messages and lines of one answer stop growing past this: gRPC refuses messages over 4 MiB."""
BLOCK = 64 * 1024
MAX_LINE = 1 << 20
"""Longer lines are read in pieces of this size, each one an entry (bounded memory)."""
_MESSAGE_KEYS = ("event", "message", "msg")
"""Where the message is: structlog's `event` (envd), zerolog's `message`, logfmt's `msg`."""


@dataclass(frozen=True)
class LogEntry:
    timestamp: datetime
    level: LogLevel
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    line: str = ""
    """The line as written (E2B's v1 `logs[].line`)."""


@dataclass(frozen=True)
class LogQuery:
    start: datetime | None = None
    """Inclusive; None: from the first line."""
    end: datetime | None = None
    """Exclusive; None: to the last line."""
    limit: int = 1000
    direction: Direction = "forward"
    min_level: LogLevel | None = None
    search: str = ""

    def keeps(self, entry: LogEntry) -> bool:
        if self.min_level is not None and _RANK[entry.level] < _RANK[self.min_level]:
            return False
        return self.search in entry.message


def read_log(path: Path, query: LogQuery) -> list[LogEntry]:
    """The entries of `query`, oldest first (forward) or newest first (backward)."""
    if min(query.limit, MAX_LIMIT) <= 0:
        return []
    try:
        with open(path, "rb") as f:
            return _read(f, query)
    except FileNotFoundError:
        return []


def _read(f: BinaryIO, query: LogQuery) -> list[LogEntry]:
    stat = os.fstat(f.fileno())
    fallback = datetime.fromtimestamp(stat.st_mtime, UTC)
    forward = query.direction == "forward"
    if forward:
        begin = _offset_of(f, stat.st_size, query.start) if query.start else 0
        entries = _stamped(_forward(f, begin, stat.st_size), fallback, forward=True)
    else:
        stop = _offset_of(f, stat.st_size, query.end) if query.end else stat.st_size
        entries = _stamped(_backward(f, stop), fallback, forward=False)
    found: list[LogEntry] = []
    budget = MAX_RESPONSE_BYTES
    for entry in entries:
        if forward and query.end and entry.timestamp >= query.end:
            break
        if not forward and query.start and entry.timestamp < query.start:
            break
        if not _within(entry, query) or not query.keeps(entry):
            continue
        budget -= len(entry.message) + len(entry.line)
        if found and budget < 0:
            break
        found.append(entry)
        if len(found) >= min(query.limit, MAX_LIMIT):
            break
    return found


def _within(entry: LogEntry, query: LogQuery) -> bool:
    return (query.start is None or entry.timestamp >= query.start) and (
        query.end is None or entry.timestamp < query.end
    )


# --- lines ----------------------------------------------------------------------------------


def _forward(f: BinaryIO, begin: int, stop: int) -> Iterator[bytes]:
    f.seek(begin)
    while f.tell() < stop and (line := f.readline(MAX_LINE)):
        if line.endswith(b"\n") or f.tell() < stop:  # not the line envd is writing now
            yield line


def _backward(f: BinaryIO, stop: int) -> Iterator[bytes]:
    """Lines ending at or before `stop` (a line start), last first: windows read forward."""
    window = BLOCK
    while stop > 0:
        begin = _line_start(f, max(stop - window, 0), stop)
        if begin >= stop:  # one line longer than the window: widen it
            window *= 2
            continue
        lines = list(_forward(f, begin, stop))
        yield from reversed(lines)
        stop, window = begin, BLOCK


def _line_start(f: BinaryIO, pos: int, stop: int) -> int:
    """The first line start at or after `pos`; `stop` if none comes before it."""
    if pos <= 0:
        return 0
    f.seek(pos - 1)
    while (here := f.tell()) < stop:
        chunk = f.read(min(BLOCK, stop - here))
        if not chunk:
            break
        newline = chunk.find(b"\n")
        if newline >= 0:
            return here + newline + 1
    return stop


def _offset_of(f: BinaryIO, size: int, moment: datetime) -> int:
    """The offset of the first line stamped at or after `moment`: bisection over byte offsets
    (the file is in time order), then a short forward scan."""
    lo, hi = 0, size  # lo: a line start, every stamped line before it is earlier than `moment`
    while hi - lo > 2 * BLOCK:
        mid = _line_start(f, (lo + hi) // 2, hi)
        if mid >= hi:
            break
        f.seek(mid)
        stamp = None
        while f.tell() < hi and (line := f.readline(MAX_LINE)):
            if (stamp := _stamp(line)) is not None:
                break
        if stamp is None or stamp >= moment:
            hi = mid
        else:
            lo = f.tell()
    f.seek(lo)  # on past `hi` too: unstructured lines may lie between it and the stamped line
    while (here := f.tell()) < size and (line := f.readline(MAX_LINE)):
        stamp = _stamp(line)
        if stamp is not None and stamp >= moment:
            return here
    return size


# --- entries --------------------------------------------------------------------------------


def _stamp(line: bytes) -> datetime | None:
    record = _record(line)
    return None if record is None else _time(record)


def _record(line: bytes) -> dict[str, object] | None:
    if not line.startswith(b"{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and _time(record) is not None else None


def _time(record: dict[str, object]) -> datetime | None:
    value = record.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamped(lines: Iterator[bytes], fallback: datetime, *, forward: bool) -> Iterator[LogEntry]:
    """Entries in the order of `lines` (either direction): an unstructured line waits for the
    next structured one in that order, whose stamp it takes (in a forward read only lines at the
    head of the file wait; in a backward read the next one is the line before it)."""
    waiting: list[str] = []
    last: datetime | None = None
    for raw in lines:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            continue
        record = _record(raw)
        if record is None:
            if last is not None and forward:
                yield _plain(text, last)
            else:
                waiting.append(text)
            continue
        entry = _structured(record, text)
        yield from (_plain(t, entry.timestamp) for t in waiting)
        waiting.clear()
        last = entry.timestamp
        yield entry
    yield from (_plain(t, last or fallback) for t in waiting)


def _plain(text: str, moment: datetime) -> LogEntry:
    return LogEntry(timestamp=moment, level="info", message=text, line=text)


def _structured(record: dict[str, object], text: str) -> LogEntry:
    moment = _time(record)
    assert moment is not None
    key = next((k for k in _MESSAGE_KEYS if k in record), None)
    message = record.get(key, "") if key else ""
    return LogEntry(
        timestamp=moment,
        level=_level(record.get("level")),
        message=message if isinstance(message, str) else json.dumps(message, default=repr),
        fields={
            name: value if isinstance(value, str) else json.dumps(value, default=repr)
            for name, value in record.items()
            if name not in ("level", "timestamp", key)
        },
        line=text,
    )


def _level(value: object) -> LogLevel:
    name = str(value or "info").lower()
    for level in LEVELS:
        if name == level:
            return level
    return _ALIASES.get(name, "info")
