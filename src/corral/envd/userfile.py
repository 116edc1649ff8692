"""An open file descriptor worked on from the acting user's thread, closed safely.

Downloads and uploads read and write in pieces, each a job on the user's executor. When the
client goes away, the request task is cancelled while such a job may still be running in its
thread; closing the descriptor right then could make that job touch a number the kernel has
already reused for another file. So jobs are shielded from cancellation, and `close` waits for
the last one before releasing the descriptor.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any, TypeVar

from corral.envd.users import User, UserExecutors

T = TypeVar("T")


class UserFile:
    """`fd`, opened by `user`; every blocking call on it goes through `run`."""

    def __init__(self, executors: UserExecutors, user: User, fd: int) -> None:
        self._executors = executors
        self._user = user
        self.fd: int | None = fd
        self._job: asyncio.Future[Any] | None = None

    @classmethod
    async def open(
        cls, executors: UserExecutors, user: User, opener: Callable[..., int], *args: object
    ) -> UserFile:
        """`opener(*args)` (returning a descriptor) on the user's thread; a descriptor whose
        request was cancelled meanwhile is closed instead of leaked."""
        job = asyncio.ensure_future(executors.run(user, opener, *args))
        try:
            fd = await asyncio.shield(job)
        except asyncio.CancelledError:
            job.add_done_callback(_close_unclaimed)
            raise
        return cls(executors, user, fd)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(fd, *args)` on the user's thread."""
        if self.fd is None:
            raise ValueError("file already closed")
        job = asyncio.ensure_future(self._executors.run(self._user, fn, self.fd, *args))
        self._job = job
        return await asyncio.shield(job)

    async def close(self) -> None:
        """Release the descriptor once no job uses it; idempotent."""
        fd, self.fd = self.fd, None
        if fd is None:
            return
        if self._job is not None and not self._job.done():
            await asyncio.wait({self._job})
        os.close(fd)


def _close_unclaimed(job: asyncio.Future[int]) -> None:
    if not job.cancelled() and job.exception() is None:
        os.close(job.result())
