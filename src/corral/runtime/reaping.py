"""Reaping the processes a runtime leaves behind, so they do not linger as zombies.

`runsc run --detach` and `crun run --detach` leave the container's first process (gVisor's
sandbox, the container's init) orphaned: it is re-parented to PID 1. Where PID 1 is slow to reap
(measured here: a Firecracker init reaping every ~2 s), `runsc delete` polls that zombie until
it is gone and each kill takes 1.2 to 2 s. As a child subreaper, the orchestrator receives those
orphans itself and reaps exactly the PIDs the runtime reports, never its own other children
(asyncio waits for those), so deletes finish as soon as the process has died.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import AsyncIterator

PR_SET_CHILD_SUBREAPER = 36
_subreaper = False


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); True when it is."""
    global _subreaper
    if _subreaper:
        return True
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _subreaper = bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    return _subreaper


def reap_now(pid: int) -> bool:
    """Collect `pid` if it is our child and has exited; True when it is gone for us."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # not our child (another reaper has it) or already collected
    return done == pid


async def reap(pids: list[int], within: float = 10.0, every: float = 0.01) -> None:
    """Reap each of `pids` as soon as it exits, for at most `within` seconds."""
    pending = [p for p in pids if p > 0]
    for _ in range(int(within / every)):
        pending = [p for p in pending if not reap_now(p)]
        if not pending:
            return
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def reaping(pids: list[int]) -> AsyncIterator[None]:
    """Reap `pids` in the background while the body runs (a delete waiting for them)."""
    task = asyncio.create_task(reap(pids))
    try:
        yield
    finally:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), 2.0)
        task.cancel()
