"""Users inside the sandbox, and doing file work with a user's own permissions.

envd runs as root and serves requests on behalf of users (`user` by default, `root` or any other
account through `Authorization: Basic` or `?username=`). Files must be created owned by that user
and refused where that user may not go. Linux credentials are per thread at the kernel level
(glibc only broadcasts `setuid` to all threads for POSIX's sake), so each user gets one worker
thread whose effective uid/gid/groups are switched with raw syscalls: the kernel then checks every
path (traversal included) exactly as for that user, and new files belong to them.
"""

from __future__ import annotations

import asyncio
import grp
import os
import platform
import pwd
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from corral.envd.errors import Unauthenticated

T = TypeVar("T")

# (setgroups, setresgid, setresuid) syscall numbers.
_SYSCALLS = {"x86_64": (116, 119, 117), "aarch64": (159, 149, 147)}


@dataclass(frozen=True)
class User:
    """An account of the sandbox's /etc/passwd."""

    name: str
    uid: int
    gid: int
    home: str
    groups: tuple[int, ...]

    @property
    def env(self) -> dict[str, str]:
        """The login environment variables a shell of this user expects."""
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name}


def lookup(name: str) -> User:
    """The account called `name`; an unknown user is an authentication failure, as in E2B."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise Unauthenticated(f"invalid username: '{name}'") from None
    groups = tuple(sorted({pw.pw_gid, *(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)}))
    return User(name=pw.pw_name, uid=pw.pw_uid, gid=pw.pw_gid, home=pw.pw_dir, groups=groups)


def _switch_thread_credentials(user: User) -> None:
    """Make the calling thread (only it) act as `user`; the saved uid stays root.

    Runs once per worker thread, on the first file operation as that user; ctypes is imported
    here rather than at envd's start, which sandboxes that only run commands never need."""
    import ctypes

    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        raise OSError(f"per-user file access is not supported on {platform.machine()}")
    setgroups, setresgid, setresuid = numbers
    libc = ctypes.CDLL(None, use_errno=True)
    groups = (ctypes.c_uint * len(user.groups))(*user.groups)
    for args in (
        (setgroups, len(user.groups), groups),
        (setresgid, -1, user.gid, -1),
        (setresuid, -1, user.uid, -1),
    ):
        if libc.syscall(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))


class UserExecutors:
    """One single-thread executor per user, its thread switched to that user's credentials."""

    def __init__(self) -> None:
        self._executors: dict[int, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._privileged = os.geteuid() == 0

    def _executor(self, user: User) -> ThreadPoolExecutor:
        key = user.uid if self._privileged and user.uid != os.geteuid() else -1
        with self._lock:
            executor = self._executors.get(key)
            if executor is None:
                init = (lambda: _switch_thread_credentials(user)) if key != -1 else None
                executor = ThreadPoolExecutor(
                    max_workers=1 if key != -1 else 4,
                    thread_name_prefix=f"envd-{user.name if key != -1 else 'self'}",
                    initializer=init,
                )
                self._executors[key] = executor
            return executor

    async def run(self, user: User, fn: Callable[..., T], *args: object) -> T:
        """Run blocking `fn(*args)` with `user`'s file permissions."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(user), fn, *args)

    def shutdown(self) -> None:
        with self._lock:
            for executor in self._executors.values():
                executor.shutdown(wait=False, cancel_futures=True)
            self._executors.clear()
