"""The vocabulary of host checks: a `Finding`, and the `Host` whose inputs a check reads.

A check is a small function of a `Host`. The host's inputs (the /proc, /sys and /dev trees,
tool lookup, running a tool for its version) are fields, so tests point them at a fake tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from corral.settings import HostSettings

Status = Literal["ok", "warn", "fail"]

SETUP = "run scripts/setup-host.sh (as root)"
"""The fix for most problems: the script that prepares a Debian host."""


@dataclass(frozen=True)
class Finding:
    """One thing `corral doctor` reports: `fail` only for what the platform cannot run without."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


def _run_first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({exc})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else ""


class Ran(NamedTuple):
    """What a command printed (stdout, then stderr) and its exit code; None when it could not
    start or ran past its timeout (`output` then says which)."""

    code: int | None
    output: str


def _run(argv: list[str], timeout: float) -> Ran:
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Ran(None, f"timed out after {timeout:g} s")
    except OSError as exc:
        return Ran(None, str(exc))
    return Ran(done.returncode, done.stdout + done.stderr)


def _which(name: str) -> str | None:
    # A non-root PATH often lacks the sbin directories where nft, ip and debootstrap live.
    path = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


@dataclass(frozen=True)
class Host:
    """The inputs every check reads; the defaults are this machine."""

    proc: Path = Path("/proc")
    sys: Path = Path("/sys")
    dev: Path = Path("/dev")
    data_dir: Path = field(default_factory=lambda: HostSettings().data_dir)
    euid: int = field(default_factory=os.geteuid)
    which: Callable[[str], str | None] = _which
    first_line: Callable[[list[str]], str] = _run_first_line
    """Runs a command and returns the first line it printed: how tool versions are read."""
    run: Callable[[list[str], float], Ran] = _run
    """Runs a command with a timeout in seconds: for probes whose answer is not one line."""

    def read(self, path: Path) -> str | None:
        """`path`'s text, or None when it is missing or unreadable."""
        try:
            return path.read_text()
        except OSError:
            return None


Check = Callable[[Host], Finding]
