"""Exit reports in the words E2B's envd uses (Go's `os.ProcessState`).

The SDK reads `exitCode` and `error`; people read `status`. Go reports a signal death as exit
code -1 with `exited=false` and a status like "signal: killed"; we do the same.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

_GO_SIGNAL_NAMES = {
    signal.SIGHUP: "hangup",
    signal.SIGINT: "interrupt",
    signal.SIGQUIT: "quit",
    signal.SIGILL: "illegal instruction",
    signal.SIGTRAP: "trace/breakpoint trap",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGKILL: "killed",
    signal.SIGUSR1: "user defined signal 1",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGUSR2: "user defined signal 2",
    signal.SIGPIPE: "broken pipe",
    signal.SIGALRM: "alarm clock",
    signal.SIGTERM: "terminated",
}


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    exited: bool
    status: str

    @property
    def error(self) -> str | None:
        """Go's `cmd.Wait()` error text: set for every non-zero exit and every signal death."""
        return None if self.exited and self.exit_code == 0 else self.status


def from_returncode(returncode: int) -> ExitStatus:
    """Translate a Python return code (negative = killed by that signal)."""
    if returncode >= 0:
        return ExitStatus(returncode, True, f"exit status {returncode}")
    signum = -returncode
    try:
        name = _GO_SIGNAL_NAMES.get(signal.Signals(signum)) or signal.strsignal(signum)
    except ValueError:
        name = None
    return ExitStatus(-1, False, f"signal: {(name or f'signal {signum}').lower()}")
