"""Polling watchers: CreateWatcher / GetWatcherEvents / RemoveWatcher (the sync SDK's watch_dir).

A watcher outlives the request that made it and buffers its events until they are fetched, as
in E2B's envd. Unlike E2B, the buffer is bounded: a watcher nobody polls would otherwise grow
envd's memory without limit, so past `MAX_BUFFERED` events it fails like a kernel queue overflow.
"""

from __future__ import annotations

import secrets
import string

from corral.envd.errors import EnvdError, Internal, NotFound
from corral.envd.gen.filesystem.filesystem_pb import FilesystemEvent
from corral.envd.users import User, UserExecutors
from corral.envd.watch import DirWatch, WatchSpec

MAX_BUFFERED = 100_000
_ID_ALPHABET = string.ascii_lowercase + string.digits


class _Watcher:
    """One polling watcher: its watch, the events not fetched yet, and the error that ended it."""

    def __init__(self) -> None:
        self.watch: DirWatch | None = None
        self.events: list[FilesystemEvent] = []
        self.error: EnvdError | None = None

    async def deliver(self, item: FilesystemEvent | EnvdError) -> None:
        if self.error is not None:
            return
        if isinstance(item, EnvdError):
            self.error = item
        elif len(self.events) >= MAX_BUFFERED:
            self.error = Internal("watcher error: too many unread events, poll more often")
        else:
            self.events.append(item)


class Watchers:
    """The polling watchers of this envd, by id (`w` + 20 random characters, like E2B's)."""

    def __init__(self) -> None:
        self._by_id: dict[str, _Watcher] = {}

    async def create(self, spec: WatchSpec, user: User, executors: UserExecutors) -> str:
        watcher = _Watcher()
        watcher.watch = await DirWatch.open(spec, user, executors, watcher.deliver)
        watcher_id = "w" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))
        self._by_id[watcher_id] = watcher
        return watcher_id

    def take_events(self, watcher_id: str) -> list[FilesystemEvent]:
        """The events since the last call; the watcher's error, if it failed."""
        watcher = self._find(watcher_id)
        if watcher.error is not None:
            # A fresh exception each time: re-raising one object keeps growing its traceback.
            raise type(watcher.error)(str(watcher.error))
        events, watcher.events = watcher.events, []
        return events

    async def remove(self, watcher_id: str) -> None:
        watcher = self._find(watcher_id)
        del self._by_id[watcher_id]
        if watcher.watch is not None:
            await watcher.watch.close()

    def _find(self, watcher_id: str) -> _Watcher:
        watcher = self._by_id.get(watcher_id)
        if watcher is None:
            raise NotFound(f"watcher with id {watcher_id} not found")
        return watcher
