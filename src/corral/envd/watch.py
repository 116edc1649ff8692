"""Watching a directory (or a whole tree) with inotify, as E2B's envd does with fsnotify.

One `DirWatch` is one inotify instance, read on the event loop and turned into
`FilesystemEvent`s with fsnotify's rules, because that is what the SDK's users see from E2B:

* one kernel event may give several events, in the order CREATE, RENAME, CHMOD, WRITE, REMOVE
  (moved-to is a CREATE, moved-from a RENAME, attribute changes a CHMOD);
* names are relative to the watched directory; the directory itself is `.`;
* a recursive watch also watches each subdirectory, including those created or moved in later;
  everything already inside such a new directory gets a CREATE of its own (it may have been
  made before the watch was); the removal or move of a watched subdirectory is reported once,
  by its parent, and the move of the root itself is not reported (fsnotify's "do nothing");
* a non-recursive watch reports the move of its root as RENAME `.` and then stops watching;
* `include_entry` attaches the `EntryInfo` to CREATE, WRITE and CHMOD events when the entry can
  still be read; REMOVE and RENAME never carry one (the path may hold something else by then);
* a kernel queue overflow ends the watch with an error.

Watches are added from the acting user's thread, so the kernel only lets a user watch the
directories that user may read; all bookkeeping stays on the event loop. Reading pauses while a
new subdirectory is being added, so no event is ever seen before its watch is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import posixpath
import re
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from corral.envd import logs
from corral.envd.entry import entry_info_or_none, wire_text
from corral.envd.errors import EnvdError, Internal, InvalidArgument, NotFound, from_os_error
from corral.envd.fileops import sorted_entries
from corral.envd.gen.filesystem.filesystem_pb import EventType, FilesystemEvent
from corral.envd.users import User, UserExecutors

log = logs.get("envd.watch")

# inotify(7) flags.
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
IN_DONT_FOLLOW = 0x2000000
IN_ISDIR = 0x40000000

WATCH_MASK = (
    IN_MOVED_TO
    | IN_MOVED_FROM
    | IN_CREATE
    | IN_ATTRIB
    | IN_MODIFY
    | IN_MOVE_SELF
    | IN_DELETE
    | IN_DELETE_SELF
)
"""What fsnotify watches for."""

SUBDIR_MASK = WATCH_MASK | IN_ONLYDIR | IN_DONT_FOLLOW
"""Subdirectories of a recursive watch: never through a symlink swapped in meanwhile."""

_OPS = (
    (IN_CREATE | IN_MOVED_TO, EventType.CREATE),
    (IN_MOVE_SELF | IN_MOVED_FROM, EventType.RENAME),
    (IN_ATTRIB, EventType.CHMOD),
    (IN_MODIFY, EventType.WRITE),
    (IN_DELETE_SELF | IN_DELETE, EventType.REMOVE),
)
_WITH_ENTRY = frozenset({EventType.CREATE, EventType.WRITE, EventType.CHMOD})

_NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs"})
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")
"""How /proc/self/mountinfo escapes spaces, tabs, newlines and backslashes in mount points."""

Sink = Callable[[FilesystemEvent | EnvdError], Awaitable[None]]
"""Where a watch delivers its events, then at most one error, after which it stops."""


class _RawEvent(Protocol):
    wd: int
    mask: int
    name: str


class _Inotify(Protocol):
    """The part of `inotify_simple.INotify` used here (the library ships no type hints)."""

    def fileno(self) -> int: ...
    def add_watch(self, path: str, mask: int) -> int: ...
    def rm_watch(self, wd: int) -> None: ...
    def read(self, timeout: int | None = None) -> list[_RawEvent]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class WatchSpec:
    """What a WatchDir or CreateWatcher request asks for; `path` is resolved and absolute."""

    path: str
    recursive: bool = False
    include_entry: bool = False
    allow_network_mounts: bool = False


@dataclass(frozen=True)
class _Added:
    wd: int
    path: str
    inode: tuple[int, int]


@dataclass
class _Tree:
    """What `_add_tree` did: the watches it added, and (for a new directory) what it found."""

    added: list[_Added]
    found: list[str]


def _new_inotify() -> _Inotify:
    """A non-blocking inotify instance; the library is imported only when a watch is made."""
    import inotify_simple  # type: ignore[import-untyped]

    inotify: _Inotify = inotify_simple.INotify(nonblocking=True)
    return inotify


def _mount_fstype(path: str) -> str:
    """The filesystem type of the mount holding `path` (the longest matching mount point)."""
    best, fstype = "", ""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
        for line in mounts:
            fields, _, tail = line.partition(" - ")
            parts = fields.split()
            if len(parts) < 5 or not tail:
                continue
            point = _OCTAL_ESCAPE.sub(lambda m: chr(int(m[1], 8)), parts[4])
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, fstype = point, tail.split()[0]
    return fstype


def check_watchable(path: str, allow_network_mounts: bool) -> None:
    """E2B's checks before watching: an existing directory, not on a network filesystem."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        reason = (exc.strerror or "no such file or directory").lower()
        raise NotFound(f"path {path} not found: stat {path}: {reason}") from None
    except OSError as exc:
        raise from_os_error(exc, f"error statting path {path}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"path {path} not a directory")
    if allow_network_mounts:
        return
    try:
        fstype = _mount_fstype(os.path.realpath(path))
    except OSError as exc:
        raise Internal(f"error checking mount status: {exc}") from None
    if fstype in _NETWORK_FILESYSTEMS or fstype.startswith("fuse"):
        raise InvalidArgument(f"cannot watch path on network filesystem: {path}")


def _watch_one(inotify: _Inotify, path: str, top: bool) -> _Added:
    st = os.stat(path) if top else os.lstat(path)
    wd = inotify.add_watch(path, WATCH_MASK if top else SUBDIR_MASK)
    return _Added(wd, path, (st.st_dev, st.st_ino))


def _add_tree(inotify: _Inotify, root: str, recursive: bool, top: bool) -> _Tree:
    """Watch `root` and, if `recursive`, every directory below it; runs as the acting user.

    For a directory that appeared in a recursive watch (`top` false), also list everything below
    it, in pre-order, for its CREATE events. Only `root` failing is an error: what is unreadable
    or gone below it is skipped; running out of inotify watches is an error anywhere.
    """
    tree = _Tree([_watch_one(inotify, root, top)], [])
    stack = [iter(_entries_or_none(root))] if recursive else []
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        path, _, is_dir = item
        if not top:
            tree.found.append(path)
        if not is_dir:
            continue
        try:
            tree.added.append(_watch_one(inotify, path, False))
        except OSError as exc:
            if exc.errno == errno.ENOSPC:  # the inotify watch limit
                raise
            continue
        stack.append(iter(_entries_or_none(path)))
    return tree


def _entries_or_none(directory: str) -> list[tuple[str, str, bool]]:
    try:
        return sorted_entries(directory)
    except OSError:
        return []


class DirWatch:
    """An inotify watch on one directory or tree, delivering `FilesystemEvent`s to a sink."""

    def __init__(
        self,
        spec: WatchSpec,
        user: User,
        executors: UserExecutors,
        inotify: _Inotify,
        sink: Sink,
    ) -> None:
        self.spec = spec
        self._user = user
        self._executors = executors
        self._inotify = inotify
        self._sink = sink
        self._paths: dict[int, str] = {}
        self._inodes: dict[int, tuple[int, int]] = {}
        self._root_wd = -1
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(
        cls, spec: WatchSpec, user: User, executors: UserExecutors, sink: Sink
    ) -> DirWatch:
        """Check the path, watch it as `user` and start delivering events."""
        await executors.run(user, check_watchable, spec.path, spec.allow_network_mounts)
        # On envd's own credentials: a user's thread may not even read Python's stdlib.
        inotify = await asyncio.to_thread(_new_inotify)
        watch = cls(spec, user, executors, inotify, sink)
        try:
            tree = await executors.run(user, _add_tree, inotify, spec.path, spec.recursive, True)
        except OSError as exc:
            watch._release()
            raise from_os_error(exc, f"error adding path {spec.path} to watcher") from None
        except BaseException:
            watch._release()
            raise
        watch._remember(tree.added)
        watch._root_wd = tree.added[0].wd
        watch._pump = asyncio.create_task(watch._run(), name=f"watch {spec.path}")
        return watch

    async def close(self) -> None:
        """Stop watching; the inotify instance (and with it every watch) is released."""
        if self._closed:
            return
        self._closed = True
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        self._release()

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            self._inotify.close()

    def _remember(self, added: list[_Added]) -> None:
        """Record new watches; a directory watched again (moved) keeps its wd, under its new
        path, and so do the directories below it."""
        for item in added:
            self._paths[item.wd] = item.path
            self._inodes[item.wd] = item.inode

    def _drop(self, wd: int) -> None:
        """Stop watching `wd` and everything that was below it."""
        gone = self._paths.get(wd)
        if gone is None:
            return
        below = gone.rstrip("/") + "/"
        for other, path in list(self._paths.items()):
            if other == wd or path.startswith(below):
                with contextlib.suppress(OSError):
                    self._inotify.rm_watch(other)
                self._forget(other)

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = self._inotify.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    async def _run(self) -> None:
        try:
            while True:
                await self._readable()
                for raw in self._inotify.read(timeout=0):
                    await self._handle(raw)
        except EnvdError as exc:
            await self._sink(exc)
        except OSError as exc:
            log.warning("watch failed", path=self.spec.path, error=str(exc))
            await self._sink(Internal(f"watcher error: {exc}"))

    async def _handle(self, raw: _RawEvent) -> None:
        if raw.mask & IN_Q_OVERFLOW:
            raise Internal("watcher error: fsnotify: queue or buffer overflow")
        base = self._paths.get(raw.wd)
        if base is None:
            return
        if raw.mask & IN_IGNORED:
            self._forget(raw.wd)
            return
        path = posixpath.join(base, raw.name) if raw.name else base
        is_root = raw.wd == self._root_wd
        if raw.mask & IN_MOVE_SELF:
            if not is_root and not self._still_at(raw.wd, path):
                self._drop(raw.wd)  # moved out of the tree
            if self.spec.recursive:
                return
            self._drop(raw.wd)  # non-recursive: report the move below, then stop watching
        if raw.mask & IN_DELETE_SELF and not is_root:
            return  # its parent reports it
        for bits, op in _OPS:
            if raw.mask & bits:
                await self._emit(path, op)
        if self.spec.recursive and raw.mask & IN_ISDIR and raw.mask & (IN_CREATE | IN_MOVED_TO):
            await self._add_subtree(path)

    def _forget(self, wd: int) -> None:
        self._paths.pop(wd, None)
        self._inodes.pop(wd, None)

    def _still_at(self, wd: int, path: str) -> bool:
        """Whether the directory watched as `wd` is still at `path`: moved within the tree, its
        watch was re-added under the new name already; moved out, something else is there."""
        try:
            st = os.lstat(path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._inodes.get(wd)

    async def _add_subtree(self, path: str) -> None:
        """Watch a directory that appeared, and report what it already holds as created."""
        try:
            tree = await self._executors.run(
                self._user, _add_tree, self._inotify, path, True, False
            )
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise from_os_error(exc, f"error adding path {path} to watcher") from None
            return  # gone again, or not readable by this user
        self._remember(tree.added)
        for found in tree.found:
            await self._emit(found, EventType.CREATE)

    async def _emit(self, path: str, op: EventType) -> None:
        name = wire_text(posixpath.relpath(path, self.spec.path))
        event = FilesystemEvent(name=name, type=op)
        if self.spec.include_entry and op in _WITH_ENTRY:
            event.entry = await self._executors.run(self._user, entry_info_or_none, path)
        await self._sink(event)
