"""The blocking filesystem operations behind `filesystem.Filesystem`, with E2B envd's semantics.

Each function must run on the acting user's thread (`UserExecutors.run`): the kernel then checks
every path with that user's credentials, so `../../root` as `user` fails with EACCES (mapped to
`permission_denied`) and whatever is created belongs to that user. Errors carry E2B's codes and
its messages, with Go's `op path: reason` phrasing for the underlying OS error.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import sys
from collections.abc import Iterator

from corral.envd.entry import Names, entry_info
from corral.envd.errors import (
    AlreadyExists,
    EnvdError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    from_os_error,
)
from corral.envd.gen.filesystem.filesystem_pb import EntryInfo, FileType

_MISSING = (errno.ENOENT, errno.ENOTDIR)
"""A path through a file does not exist either (Go would say "internal error" here)."""

DIR_MODE = 0o755
"""Mode of the directories MakeDir and Move create, as E2B's `EnsureDirs` (before umask)."""


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def stat_entry(path: str) -> EntryInfo:
    """Stat: the entry itself (a symlink is not followed, but described with its target)."""
    try:
        return entry_info(path)
    except OSError as exc:
        if exc.errno in _MISSING:
            raise NotFound(f"file not found: lstat {path}: {_reason(exc)}") from None
        raise from_os_error(exc, f"error statting file: lstat {path}") from None


def make_dir(path: str) -> EntryInfo:
    """MakeDir: the directory and its missing parents; already_exists if it is there."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise from_os_error(exc, f"error getting file info: stat {path}") from None
    else:
        if stat.S_ISDIR(st.st_mode):
            raise AlreadyExists(f"directory already exists: {path}")
        raise InvalidArgument(f"path already exists but it is not a directory: {path}")
    try:
        os.makedirs(path, mode=DIR_MODE)
    except FileExistsError:
        raise AlreadyExists(f"directory already exists: {path}") from None
    except OSError as exc:
        raise from_os_error(exc, f"failed to create directory: mkdir {path}") from None
    return EntryInfo(name=posixpath.basename(path) or "/", type=FileType.DIRECTORY, path=path)


def move(source: str, destination: str) -> EntryInfo:
    """Move: rename `source` to `destination`, creating the destination's parents first."""
    parent = posixpath.dirname(destination)
    try:
        os.makedirs(parent, mode=DIR_MODE, exist_ok=True)
    except FileExistsError:
        raise InvalidArgument(f"failed to create directory: {parent} is not a directory") from None
    except OSError as exc:
        raise from_os_error(exc, f"failed to create directory: mkdir {parent}") from None
    try:
        os.rename(source, destination)
    except FileNotFoundError as exc:
        raise NotFound(
            f"source file not found: rename {source} {destination}: {_reason(exc)}"
        ) from None
    except OSError as exc:
        raise from_os_error(exc, f"error renaming: rename {source} {destination}") from None
    try:
        return entry_info(destination)
    except OSError as exc:
        raise from_os_error(exc, f"error getting file info: lstat {destination}") from None


def list_dir(path: str, depth: int) -> list[EntryInfo]:
    """ListDir: entries up to `depth` levels below `path` (0 means 1), pre-order, by name.

    `path` itself may be a symlink to a directory; symlinks below it are listed, not followed.
    Paths are reported under `path` as requested. A subdirectory the user may not read is
    listed without its contents (E2B runs as root and never meets one).
    """
    depth = max(depth, 1)
    try:
        resolved = os.path.realpath(path, strict=True)
        st = os.stat(resolved)
    except OSError as exc:
        if exc.errno in _MISSING:
            raise NotFound(
                f"path not found: lstat {exc.filename or path}: {_reason(exc)}"
            ) from None
        if exc.errno == errno.ELOOP:
            raise FailedPrecondition(f'cyclic symlink or chain >255 links at "{path}"') from None
        raise from_os_error(exc, f"error resolving symlink: {path}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"path is not a directory: {path}")
    names = Names()
    entries: list[EntryInfo] = []
    for child, name, _, _ in _walk(path, depth):
        try:
            entries.append(entry_info(child, names, name=name))
        except OSError:
            continue  # gone since it was listed, or not stat-able by this user
    return entries


def sorted_entries(directory: str) -> list[tuple[str, str, bool]]:
    """(path, name, is a real directory) of each entry of `directory`, in the order of Go's
    `filepath.WalkDir` (by name, bytewise)."""
    with os.scandir(directory) as it:
        found = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in it]
    found.sort(key=lambda item: os.fsencode(item[0]))
    return [(posixpath.join(directory, name), name, is_dir) for name, is_dir in found]


def _children(directory: str, level: int) -> list[tuple[str, str, bool, int]]:
    """`sorted_entries` with their level; only the top directory being unreadable is an error."""
    try:
        found = sorted_entries(directory)
    except OSError as exc:
        if level == 1:
            raise from_os_error(exc, f"error reading directory: open {directory}") from None
        return []
    return [(path, name, is_dir, level) for path, name, is_dir in found]


def _walk(root: str, depth: int) -> Iterator[tuple[str, str, bool, int]]:
    """Pre-order walk like Go's `filepath.WalkDir`, without recursion (trees can be deep)."""
    stack = [iter(_children(root, 1))]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        yield item
        child, _, is_dir, level = item
        if is_dir and level < depth:
            stack.append(iter(_children(child, level + 1)))


def remove(path: str) -> None:
    """Remove: a file, a symlink (not its target) or a whole tree; a missing path is success,
    as with Go's `os.RemoveAll`."""
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            _rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _remove_error(exc, path) from None


def _remove_error(exc: OSError, path: str) -> EnvdError:
    failed = exc.filename if isinstance(exc.filename, str) else path
    return from_os_error(exc, f"error removing file or directory: unlinkat {failed}")


def _rmtree(path: str) -> None:
    """`shutil.rmtree` (symlink-safe) where entries that vanish meanwhile are fine."""

    def check(exc: BaseException) -> None:
        if not isinstance(exc, FileNotFoundError):
            raise exc

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=lambda _func, _path, exc: check(exc))
    else:
        shutil.rmtree(path, onerror=lambda _func, _path, info: check(info[1]))
