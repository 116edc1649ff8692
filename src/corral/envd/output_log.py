"""A process's stdout and stderr as log lines, which is what a sandbox's logs show of it.

As E2B's envd does (`output_log.go`): one `info` record per output line, with the line as the
message and `event_type=process_output`, `stream` and `pid` as fields; empty lines skipped; a
line longer than 64 KiB logged in 64 KiB pieces; at most 2 MiB per process (stdout and stderr
together), then one `warning` saying it was cut. Unlike E2B, each line is charged its record's
overhead too (`LINE_OVERHEAD`): the budget bounds what the log file grows by, so `yes` stops
after 16k records rather than writing two million. Terminal (pty) output is not logged: it is
keystroke echo and escape sequences, not lines.

The lines of one chunk read from the pipe are written at once (`Logger.info_lines`): a command
that prints nothing costs nothing here, and a chatty one a few microseconds per line.
"""

from __future__ import annotations

from typing import Literal

from corral.envd import logs

log = logs.get("envd.processes")

MAX_OUTPUT_BYTES = 2 << 20
MAX_LINE_BYTES = 64 << 10
LINE_OVERHEAD = 128
"""About what a record adds to its line: the JSON keys, the pid, the timestamp."""
TRUNCATED = "[output truncated: command exceeded log capture limit]"

Pipe = Literal["stdout", "stderr"]


class OutputLog:
    """Turns the chunks of one process's pipes into logged lines, within its budget."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.remaining = MAX_OUTPUT_BYTES
        self._partial: dict[Pipe, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, stream: Pipe, chunk: bytes) -> None:
        """Log every complete line that `chunk` ends; keep the unterminated rest for later."""
        if self.remaining <= 0:
            return
        lines = (self._partial[stream] + chunk).split(b"\n")
        rest = lines.pop()
        if len(rest) >= MAX_LINE_BYTES:  # no newline in sight: log it in pieces meanwhile
            lines.append(rest)
            rest = b""
        self._partial[stream] = rest
        self._emit(stream, lines)

    def close(self) -> None:
        """At the process's end: log what was left without a final newline."""
        for stream, rest in self._partial.items():
            if rest and self.remaining > 0:
                self._emit(stream, [rest])
        self._partial = {"stdout": b"", "stderr": b""}

    def _emit(self, stream: Pipe, lines: list[bytes]) -> None:
        events = []
        for line in lines:
            line = line.removesuffix(b"\r")
            for start in range(0, len(line), MAX_LINE_BYTES):
                piece = line[start : start + MAX_LINE_BYTES]
                events.append(piece.decode("utf-8", "replace"))
                self.remaining -= len(piece) + LINE_OVERHEAD
                if self.remaining <= 0:
                    break
            if self.remaining <= 0:
                break
        log.info_lines(events, event_type="process_output", stream=stream, pid=self.pid)
        if self.remaining <= 0:
            log.warning(TRUNCATED, event_type="process_output", pid=self.pid)
            self._partial = {"stdout": b"", "stderr": b""}
