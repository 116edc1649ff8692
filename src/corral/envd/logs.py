"""envd's structured logs: the JSON lines of `corral.logs`, written without structlog.

Every Corral process logs one JSON object per line on stderr (`corral.logs`). envd writes the
very same lines, `{"component", <fields>..., "event", "level", "timestamp"[, "exception"]}` in
that order, but with this module: importing structlog cost each envd about 0.8 MB of private
memory and 6 ms of start, for a handful of log calls. When stderr is a terminal (a person
running `corral envd`), records go through `corral.logs` and its console renderer instead.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from datetime import UTC, datetime
from typing import Any

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_threshold = logging.INFO
_console = False
_lock = threading.Lock()


def configure(level: str = "INFO") -> None:
    """Log at `level` and above; stdlib records (uvicorn's, asyncio's) as `corral.logs` does."""
    global _threshold, _console
    if sys.stderr.isatty():
        from corral import logs

        logs.configure(level, json=False)
        _console = True
        return
    _threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(name)s %(message)s")


class Logger:
    """The part of structlog's bound logger that envd uses, bound to a component name."""

    def __init__(self, component: str) -> None:
        self.component = component

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log("error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An error with the traceback of the exception being handled."""
        self._log("error", event, fields, with_traceback=True)

    def info_lines(self, events: list[str], **fields: Any) -> None:
        """Many info records with the same fields and timestamp, in one write: a process's output
        lines. The lines are those `info` writes, with only each event encoded anew."""
        if _console:
            for event in events:
                self._log("info", event, fields)
            return
        if _threshold > logging.INFO or not events:
            return
        head = json.dumps({"component": self.component, **fields}, default=repr)[:-1]
        tail = f', "level": "info", "timestamp": "{_now()}"}}\n'
        text = "".join(f'{head}, "event": {json.dumps(event)}{tail}' for event in events)
        with _lock:
            sys.stderr.write(text)
            sys.stderr.flush()

    def _log(
        self, level: str, event: str, fields: dict[str, Any], with_traceback: bool = False
    ) -> None:
        if _console:
            from corral import logs

            console = logs.get(self.component)
            if with_traceback:
                console.exception(event, **fields)
            else:
                getattr(console, level)(event, **fields)
            return
        if _LEVELS[level] < _threshold:
            return
        record = {"component": self.component, **fields, "event": event, "level": level}
        record["timestamp"] = _now()
        exc = sys.exc_info()[1]
        if with_traceback and exc is not None:
            record["exception"] = "".join(traceback.format_exception(exc)).removesuffix("\n")
        line = json.dumps(record, default=repr) + "\n"
        with _lock:
            sys.stderr.write(line)
            sys.stderr.flush()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def get(component: str) -> Logger:
    """A logger bound to a component name."""
    return Logger(component)
