"""Processes started through envd: spawned as a user, their output fanned out to every stream.

Each process runs in its own session (so a kill reaches the whole command, not just its shell)
and outlives the request that started it: a client disconnect only unsubscribes that stream,
as E2B's envd does. Output goes to every subscriber's queue from the moment the process
starts, so the stream that started it sees all of it and a `Connect` sees what follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from corral.envd import logs
from corral.envd.errors import FailedPrecondition, InvalidArgument, NotFound
from corral.envd.exitstatus import ExitStatus, from_returncode
from corral.envd.output_log import OutputLog, Pipe
from corral.envd.users import User

log = logs.get("envd.processes")

Stream = Literal["stdout", "stderr", "pty"]
Event = tuple[Stream, bytes] | ExitStatus
Subscription = asyncio.Queue[Event]

READ_CHUNK = 64 * 1024
EXIT_GRACE_SECONDS = 0.2
"""After the process exits, how long to keep reading output that its children still hold open."""

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ProcessSpec:
    """What a client asked to run."""

    cmd: str
    args: list[str]
    envs: dict[str, str]
    cwd: str | None
    tag: str | None = None
    stdin: bool = True
    pty_size: tuple[int, int] | None = None  # (cols, rows)


def _set_controlling_terminal() -> None:  # runs in the child between fork and exec
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


@dataclass(eq=False)
class ManagedProcess:
    """One running process and the streams watching it."""

    spec: ProcessSpec
    cwd: str
    proc: asyncio.subprocess.Process
    pty_master: int | None
    output: OutputLog | None = None
    """Where pipe output is logged as lines (not a terminal's)."""
    subscribers: set[Subscription] = field(default_factory=set)
    exit: ExitStatus | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)
    _lifetime: asyncio.TimerHandle | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def subscribe(self) -> Subscription:
        queue: Subscription = asyncio.Queue()
        if self.exit is not None:
            queue.put_nowait(self.exit)
        else:
            self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: Subscription) -> None:
        self.subscribers.discard(queue)

    def _publish(self, event: Event) -> None:
        for queue in self.subscribers:
            queue.put_nowait(event)

    async def write(self, data: bytes, *, to_pty: bool) -> None:
        """Send input to the process's stdin or its terminal."""
        if self.exit is not None:
            raise NotFound(f"process with pid {self.pid} has already exited")
        if to_pty:
            if self.pty_master is None:
                raise FailedPrecondition(f"process with pid {self.pid} has no pty")
            await _write_all(self.pty_master, data)
            return
        if self.pty_master is not None:  # stdin of a pty process is its terminal
            await _write_all(self.pty_master, data)
            return
        if self.proc.stdin is None or self.proc.stdin.is_closing():
            raise FailedPrecondition(f"stdin of process with pid {self.pid} is not open")
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    def close_stdin(self) -> None:
        if self.pty_master is not None:
            raise FailedPrecondition("cannot close stdin of a pty process; send EOT (ctrl-d)")
        if self.proc.stdin is None:
            raise FailedPrecondition(f"stdin of process with pid {self.pid} is not open")
        self.proc.stdin.close()

    def resize(self, cols: int, rows: int) -> None:
        if self.pty_master is None:
            raise FailedPrecondition(f"process with pid {self.pid} has no pty")
        if not cols or not rows:
            raise InvalidArgument("pty size needs cols and rows above zero")
        _set_winsize(self.pty_master, cols, rows)

    def signal(self, signum: int) -> None:
        """Signal the process's whole session, so a shell's children go too.

        Never through `Popen.send_signal`: it polls, and that reaps the child behind asyncio's
        back, turning every exit status into 255.
        """
        if self.exit is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def expire_after(self, seconds: float) -> None:
        """E2B's `Connect-Timeout-Ms` on Start is the process's lifetime."""
        loop = asyncio.get_running_loop()
        self._lifetime = loop.call_later(max(seconds, 0.0), self.signal, signal.SIGKILL)

    async def _pump_pipe(self, reader: asyncio.StreamReader, stream: Pipe) -> None:
        while data := await reader.read(READ_CHUNK):
            self._publish((stream, data))
            if self.output is not None:
                self.output.write(stream, data)

    async def _pump_pty(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, readable.set_result, None)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                continue
            except OSError:  # EIO: every holder of the terminal has gone
                return
            if not data:
                return
            self._publish(("pty", data))

    async def _wait(self, on_exit: Callable[[ManagedProcess], None]) -> None:
        returncode = await self.proc.wait()
        if self._lifetime is not None:
            self._lifetime.cancel()
        _, pending = await asyncio.wait(self._readers, timeout=EXIT_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        if self.pty_master is not None:
            os.close(self.pty_master)
        self.exit = from_returncode(returncode)
        self._publish(self.exit)
        self.subscribers.clear()
        self.done.set()
        on_exit(self)
        if self.output is not None:
            self.output.close()
        log.info(
            "process ended",
            event_type="process_end",
            pid=self.pid,
            exit_code=self.exit.exit_code,
            status=self.exit.status,
        )


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            await asyncio.sleep(0.005)
            continue
        view = view[written:]


def build_env(user: User, defaults: dict[str, str], requested: dict[str, str]) -> dict[str, str]:
    """Login variables, then the sandbox's (from /init), then the request's own."""
    return {"PATH": DEFAULT_PATH, **user.env, **defaults, **requested}


async def spawn(
    spec: ProcessSpec,
    user: User,
    env: dict[str, str],
    cwd: str,
    on_exit: Callable[[ManagedProcess], None],
) -> tuple[ManagedProcess, Subscription]:
    """Start `spec` as `user`; the returned subscription sees every byte it writes."""
    creds: dict[str, object] = {}
    if os.geteuid() == 0 and user.uid != 0:
        creds = {"user": user.uid, "group": user.gid, "extra_groups": list(user.groups)}
    master: int | None = None
    try:
        if spec.pty_size is not None:
            master, slave = os.openpty()
            _set_winsize(slave, *spec.pty_size)
            try:
                proc = await asyncio.create_subprocess_exec(
                    spec.cmd,
                    *spec.args,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    env=env,
                    cwd=cwd,
                    start_new_session=True,
                    preexec_fn=_set_controlling_terminal,
                    **creds,  # type: ignore[arg-type]
                )
            finally:
                os.close(slave)
            os.set_blocking(master, False)
        else:
            proc = await asyncio.create_subprocess_exec(
                spec.cmd,
                *spec.args,
                stdin=asyncio.subprocess.PIPE if spec.stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=cwd,
                start_new_session=True,
                **creds,  # type: ignore[arg-type]
            )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        if master is not None:
            os.close(master)
        what = "cwd" if exc.filename == cwd else "command"
        raise InvalidArgument(
            f"error starting process: {what} '{exc.filename}': {(exc.strerror or '').lower()}"
        ) from exc
    managed = ManagedProcess(
        spec=spec,
        cwd=cwd,
        proc=proc,
        pty_master=master,
        output=OutputLog(proc.pid) if master is None else None,
    )
    first = managed.subscribe()
    if master is not None:
        managed._readers.append(asyncio.create_task(managed._pump_pty(master)))
    else:
        assert proc.stdout is not None and proc.stderr is not None
        managed._readers.append(asyncio.create_task(managed._pump_pipe(proc.stdout, "stdout")))
        managed._readers.append(asyncio.create_task(managed._pump_pipe(proc.stderr, "stderr")))
    waiter = asyncio.create_task(managed._wait(on_exit))
    waiter.add_done_callback(_log_failure)
    log.info(
        "process started",
        event_type="process_start",
        pid=proc.pid,
        cmd=spec.cmd,
        user=user.name,
        pty=master is not None,
    )
    return managed, first


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("process waiter failed", error=repr(task.exception()))
