"""Jupyter iopub messages → the JSON lines `e2b-code-interpreter` parses (wire doc, section 5).

The shapes follow E2B's own server (`template/server/messaging.py` and its models in
e2b-dev/code-interpreter): `stream` becomes `stdout`/`stderr` with the kernel's timestamp,
`execute_result` and `display_data` become `result` with one field per MIME type,
`execute_input` becomes `number_of_executions`, and `error` keeps the kernel's name, value
and traceback. One difference: the traceback's lines are joined with newlines, where E2B
concatenates them without separator (IPython's frames then run into each other).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

Line = dict[str, Any]
"""One JSON object of the `/execute` stream."""

END_OF_EXECUTION: Line = {"type": "end_of_execution"}

MIME_FIELDS = {
    "text/plain": "text",
    "text/html": "html",
    "text/markdown": "markdown",
    "image/svg+xml": "svg",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "application/pdf": "pdf",
    "text/latex": "latex",
    "application/json": "json",
    "application/javascript": "javascript",
    "e2b/data": "data",
    "e2b/chart": "chart",
}
"""MIME type → `Result` field. Other types go to `extra` under their MIME name, as E2B does."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_US = 1000


def timestamp_ns(date: object) -> int:
    """A message header's `date` as Unix nanoseconds (what `OutputMessage.timestamp` holds)."""
    if isinstance(date, str):
        date = datetime.fromisoformat(date)
    if not isinstance(date, datetime):
        return now_ns()
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return ((date - _EPOCH) // timedelta(microseconds=1)) * _NS_PER_US


def now_ns() -> int:
    return (datetime.now(UTC) - _EPOCH) // timedelta(microseconds=1) * _NS_PER_US


def result(bundle: dict[str, Any], *, is_main_result: bool) -> Line:
    """A `result` line from a MIME bundle (`execute_result` is the main result)."""
    line: Line = {"type": "result"}
    extra: dict[str, Any] = {}
    for mime, value in bundle.items():
        field = MIME_FIELDS.get(mime)
        if field is None:
            extra[mime] = value
        else:
            line[field] = value
    text = line.get("text")
    # E2B shows a Python string result without the quotes of its repr ('abc' → abc).
    if isinstance(text, str) and len(text) >= 2 and text.startswith("'") and text.endswith("'"):
        line["text"] = text[1:-1]
    if extra:
        line["extra"] = extra
    line["is_main_result"] = is_main_result
    return line


def error(name: str, value: str, traceback: str | list[str] = "") -> Line:
    if isinstance(traceback, list):
        traceback = "\n".join(str(frame) for frame in traceback)
    return {"type": "error", "name": name, "value": value, "traceback": traceback}


def translate(msg: dict[str, Any]) -> Line | None:
    """The line for one iopub message, or None for messages the client never sees."""
    kind = msg["msg_type"]
    content = msg["content"]
    if kind == "stream":
        name = "stderr" if content.get("name") == "stderr" else "stdout"
        return {
            "type": name,
            "text": content.get("text", ""),
            "timestamp": timestamp_ns(msg["header"].get("date")),
        }
    if kind == "execute_result":
        return result(content.get("data", {}), is_main_result=True)
    if kind == "display_data":
        return result(content.get("data", {}), is_main_result=False)
    if kind == "error":
        return error(
            str(content.get("ename", "")),
            str(content.get("evalue", "")),
            content.get("traceback", []),
        )
    if kind == "execute_input":
        return {"type": "number_of_executions", "execution_count": content["execution_count"]}
    return None
