"""The `filesystem.Filesystem` Connect service (wire protocol sections 3.3 and 3.4).

This layer only decides who acts (`Authorization: Basic`, else the default user) and on which
path (`paths.resolve`); the work runs on that user's own thread (`fileops.py`, `watch.py`), so
the kernel applies that user's permissions. Errors are `EnvdError`s with E2B's codes, mapped to
Connect errors by `rpc_errors.ErrorMapping`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from protobuf import Oneof

from corral.envd import fileops
from corral.envd.auth import basic_auth_user
from corral.envd.errors import EnvdError, InvalidArgument
from corral.envd.gen.filesystem.filesystem_connect import Filesystem
from corral.envd.gen.filesystem.filesystem_pb import (
    CreateWatcherRequest,
    CreateWatcherResponse,
    FilesystemEvent,
    GetWatcherEventsRequest,
    GetWatcherEventsResponse,
    ListDirRequest,
    ListDirResponse,
    MakeDirRequest,
    MakeDirResponse,
    MoveRequest,
    MoveResponse,
    RemoveRequest,
    RemoveResponse,
    RemoveWatcherRequest,
    RemoveWatcherResponse,
    StatRequest,
    StatResponse,
    WatchDirRequest,
    WatchDirResponse,
)
from corral.envd.paths import resolve
from corral.envd.state import EnvdState
from corral.envd.users import User
from corral.envd.watch import DirWatch, WatchSpec
from corral.envd.watchers import Watchers

T = TypeVar("T")
Ctx = RequestContext[Any, Any]

KEEPALIVE_HEADER = "keepalive-ping-interval"
DEFAULT_KEEPALIVE_SECONDS = 90
"""E2B's envd default when the header is missing or not a positive whole number of seconds."""

STREAM_BUFFER = 1024
"""Events a WatchDir stream holds for a slow client before the watch stops reading (the
kernel then queues them, and overflows in the end)."""


def keepalive_seconds(ctx: Ctx) -> int:
    """`Keepalive-Ping-Interval` as E2B parses it: whole seconds, else the default."""
    raw = ctx.request_headers.get(KEEPALIVE_HEADER) or ""
    try:
        seconds = int(raw.strip())
    except ValueError:
        return DEFAULT_KEEPALIVE_SECONDS
    return seconds if seconds > 0 else DEFAULT_KEEPALIVE_SECONDS


def _watch_response(kind: str, value: Any) -> WatchDirResponse:
    return WatchDirResponse(event=Oneof(kind, value))  # type: ignore[arg-type]


class FilesystemService(Filesystem):
    """Files, directories and watches, each acted on as the requesting user."""

    def __init__(self, state: EnvdState) -> None:
        self.state = state
        self.watchers = Watchers()

    def _user(self, ctx: Ctx) -> User:
        return self.state.user(basic_auth_user(ctx.request_headers))

    def _path(self, path: str, user: User) -> str:
        return resolve(path, user, self.state.default_workdir)

    async def _run(self, user: User, fn: Callable[..., T], *args: object) -> T:
        return await self.state.executors.run(user, fn, *args)

    def _spec(self, request: WatchDirRequest | CreateWatcherRequest, user: User) -> WatchSpec:
        return WatchSpec(
            path=self._path(request.path, user),
            recursive=request.recursive,
            include_entry=request.include_entry,
            allow_network_mounts=request.allow_network_mounts,
        )

    async def stat(self, request: StatRequest, ctx: Ctx, /) -> StatResponse:
        user = self._user(ctx)
        entry = await self._run(user, fileops.stat_entry, self._path(request.path, user))
        return StatResponse(entry=entry)

    async def make_dir(self, request: MakeDirRequest, ctx: Ctx, /) -> MakeDirResponse:
        user = self._user(ctx)
        entry = await self._run(user, fileops.make_dir, self._path(request.path, user))
        return MakeDirResponse(entry=entry)

    async def move(self, request: MoveRequest, ctx: Ctx, /) -> MoveResponse:
        # An empty path would mean the home directory: never move that by accident.
        if not request.source or not request.destination:
            raise InvalidArgument("source and destination are required")
        user = self._user(ctx)
        source = self._path(request.source, user)
        destination = self._path(request.destination, user)
        entry = await self._run(user, fileops.move, source, destination)
        return MoveResponse(entry=entry)

    async def list_dir(self, request: ListDirRequest, ctx: Ctx, /) -> ListDirResponse:
        user = self._user(ctx)
        path = self._path(request.path, user)
        entries = await self._run(user, fileops.list_dir, path, request.depth)
        return ListDirResponse(entries=entries)

    async def remove(self, request: RemoveRequest, ctx: Ctx, /) -> RemoveResponse:
        # An empty path would mean the home directory: never delete that by accident.
        if not request.path:
            raise InvalidArgument("path is required")
        user = self._user(ctx)
        await self._run(user, fileops.remove, self._path(request.path, user))
        return RemoveResponse()

    async def watch_dir(
        self, request: WatchDirRequest, ctx: Ctx, /
    ) -> AsyncIterator[WatchDirResponse]:
        user = self._user(ctx)
        spec = self._spec(request, user)
        keepalive = keepalive_seconds(ctx)
        queue: asyncio.Queue[FilesystemEvent | EnvdError] = asyncio.Queue(STREAM_BUFFER)
        watch = await DirWatch.open(spec, user, self.state.executors, queue.put)
        try:
            yield _watch_response("start", WatchDirResponse.StartEvent())
            while True:
                item = await _next_event(queue, keepalive, ctx)
                if item is None:
                    yield _watch_response("keepalive", WatchDirResponse.KeepAlive())
                elif isinstance(item, EnvdError):
                    raise item
                else:
                    yield _watch_response("filesystem", item)
        finally:
            await watch.close()

    async def create_watcher(
        self, request: CreateWatcherRequest, ctx: Ctx, /
    ) -> CreateWatcherResponse:
        user = self._user(ctx)
        watcher_id = await self.watchers.create(
            self._spec(request, user), user, self.state.executors
        )
        return CreateWatcherResponse(watcher_id=watcher_id)

    async def get_watcher_events(
        self, request: GetWatcherEventsRequest, ctx: Ctx, /
    ) -> GetWatcherEventsResponse:
        return GetWatcherEventsResponse(events=self.watchers.take_events(request.watcher_id))

    async def remove_watcher(
        self, request: RemoveWatcherRequest, ctx: Ctx, /
    ) -> RemoveWatcherResponse:
        await self.watchers.remove(request.watcher_id)
        return RemoveWatcherResponse()


async def _next_event(
    queue: asyncio.Queue[FilesystemEvent | EnvdError], keepalive: float, ctx: Ctx
) -> FilesystemEvent | EnvdError | None:
    """The next event or error; None when `keepalive` seconds passed without one. Raises
    deadline_exceeded once the request's deadline (`Connect-Timeout-Ms`) is over."""
    wait = keepalive
    remaining_ms = ctx.timeout_ms
    if remaining_ms is not None:
        if remaining_ms <= 0:
            raise ConnectError(Code.DEADLINE_EXCEEDED, "watch deadline exceeded")
        wait = min(wait, remaining_ms / 1000)
    try:
        return await asyncio.wait_for(queue.get(), wait)
    except TimeoutError:
        if remaining_ms is not None and wait < keepalive:
            raise ConnectError(Code.DEADLINE_EXCEEDED, "watch deadline exceeded") from None
        return None
