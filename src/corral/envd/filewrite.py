"""The blocking half of an upload: directories, the file, its content and metadata.

Every function runs on the acting user's thread (`UserExecutors.run`), so the kernel checks each
step with that user's credentials and whatever is created belongs to them: E2B's envd runs as
root and `chown`s by hand, here ownership follows from who acts. Semantics follow E2B's
`processFile`: missing parent directories are made with mode 0o755, an existing directory at
the path is a 400, the file is truncated and written, then its metadata replaced.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from corral.envd import metadata
from corral.envd.entry import read_metadata
from corral.envd.errors import InvalidArgument, NotEnoughSpace, from_os_error

DIR_MODE = 0o755
FILE_MODE = 0o666
"""Before umask, as E2B's `os.OpenFile(path, O_WRONLY|O_CREATE|O_TRUNC, 0o666)`."""

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def ensure_dirs(directory: str) -> None:
    """`directory` and its missing ancestors, root first (E2B's `permissions.EnsureDirs`)."""
    missing: list[str] = []
    current = directory
    while current != "/":
        try:
            st = os.stat(current)
        except FileNotFoundError:
            missing.append(current)
            current = posixpath.dirname(current)
            continue
        except OSError as exc:
            raise from_os_error(exc, f"error ensuring directories: stat {current}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"error ensuring directories: path is a file: {current}")
        break
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(path):
                message = f"error ensuring directories: path is a file: {path}"
                raise InvalidArgument(message) from None
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                raise NotEnoughSpace(f"not enough inodes available: mkdir {path}") from None
            raise from_os_error(exc, f"error ensuring directories: mkdir {path}") from None


def open_for_upload(path: str, uid: int, gid: int) -> int:
    """A write descriptor on `path`, truncated, after making its parent directories.

    An existing file that belongs to someone else is handed to the uploader when we may
    (`root` uploading), as E2B does; otherwise it keeps its owner.
    """
    ensure_dirs(posixpath.dirname(path))
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            raise InvalidArgument(f"path is a directory: {path}")
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise from_os_error(exc, f"error getting file info: stat {path}") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    except IsADirectoryError:
        raise InvalidArgument(f"path is a directory: {path}") from None
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise NotEnoughSpace(f"not enough inodes available: open {path}") from None
        raise from_os_error(exc, f"error opening file: open {path}") from None
    try:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.fchown(fd, uid, gid)
    except OSError:
        pass  # not ours to give away: the content is still written, as the kernel allowed
    return fd


def write_all(fd: int, data: bytes | bytearray | memoryview, path: str) -> None:
    """Write all of `data`; a full disk is a 507 (E2B's `NotEnoughSpaceException`)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise NotEnoughSpace(f"not enough disk space available: {path}") from None
        raise from_os_error(exc, f"error writing file: {path}") from None


def store_metadata(fd: int, path: str, wanted: dict[str, str]) -> dict[str, str]:
    """Replace the file's metadata with `wanted`; returns it as read back from the file."""
    metadata.replace(fd, path, wanted)
    return read_metadata(path)
