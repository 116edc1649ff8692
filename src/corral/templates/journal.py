"""A build's status and log on the node: in memory for polling, on disk to survive restarts.

`<builds_dir>/<build_id>/status.json` (rewritten atomically on every change of status) and
`log.jsonl` (appended, one entry per line). A build found `building` after a restart was cut
short by it and is reported as failed: a half-done build is never resumed or left waiting.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Status = Literal["waiting", "building", "ready", "error"]
TERMINAL: tuple[Status, ...] = ("ready", "error")


@dataclass(frozen=True)
class LogEntry:
    timestamp: str
    level: str
    message: str
    step: str | None = None


@dataclass
class BuildState:
    build_id: str
    template_id: str
    status: Status = "waiting"
    reason: str | None = None
    reason_step: str | None = None
    result: dict[str, object] = field(default_factory=dict)
    """What a ready build produced: image digest, size, default user and workdir."""
    logs: list[LogEntry] = field(default_factory=list)


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class BuildJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._builds: dict[str, BuildState] = {}

    def _dir(self, build_id: str) -> Path:
        return self.directory / build_id

    def open(self, build_id: str, template_id: str) -> BuildState:
        state = BuildState(build_id, template_id)
        self._builds[build_id] = state
        self._dir(build_id).mkdir(parents=True, exist_ok=True)
        (self._dir(build_id) / "log.jsonl").write_text("")
        self._save(state)
        return state

    def get(self, build_id: str) -> BuildState | None:
        state = self._builds.get(build_id)
        if state is None:
            state = self._load(build_id)
            if state is not None:
                self._builds[build_id] = state
        return state

    def log(
        self, state: BuildState, message: str, level: str = "info", step: str | None = None
    ) -> None:
        entry = LogEntry(now(), level, message, step)
        state.logs.append(entry)
        with (self._dir(state.build_id) / "log.jsonl").open("a") as out:
            out.write(json.dumps(asdict(entry)) + "\n")

    def set_status(
        self,
        state: BuildState,
        status: Status,
        *,
        reason: str | None = None,
        step: str | None = None,
        result: dict[str, object] | None = None,
    ) -> None:
        state.status, state.reason, state.reason_step = status, reason, step
        if result is not None:
            state.result = result
        self._save(state)

    def running(self) -> list[str]:
        return [b for b, state in self._builds.items() if state.status not in TERMINAL]

    def forget(self, build_id: str) -> None:
        self._builds.pop(build_id, None)

    def _save(self, state: BuildState) -> None:
        record = {k: v for k, v in asdict(state).items() if k != "logs"}
        target = self._dir(state.build_id) / "status.json"
        partial = target.with_suffix(".part")
        partial.write_text(json.dumps(record))
        os.replace(partial, target)

    def _load(self, build_id: str) -> BuildState | None:
        if not build_id or "/" in build_id or build_id.startswith("."):
            return None
        try:
            raw = json.loads((self._dir(build_id) / "status.json").read_text())
            lines = (self._dir(build_id) / "log.jsonl").read_text().splitlines()
        except (OSError, ValueError):
            return None
        state = BuildState(
            build_id=build_id,
            template_id=raw["template_id"],
            status=raw["status"],
            reason=raw.get("reason"),
            reason_step=raw.get("reason_step"),
            result=raw.get("result") or {},
            logs=[LogEntry(**json.loads(line)) for line in lines if line.strip()],
        )
        if state.status not in TERMINAL:
            reason = "the build was interrupted: its orchestrator restarted"
            self.log(state, reason, level="error")
            self.set_status(state, "error", reason=reason)
        return state
