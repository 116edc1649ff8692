"""`EntryInfo` for a path, with the field semantics of E2B's envd (a Go program).

The SDK shows these fields to users as they are, so they follow Go's `os.FileInfo`:

* `mode` is `FileMode.Perm()`: only the 0o777 bits (no type, setuid or sticky bits);
* `permissions` is `FileMode.String()`: `-rw-r--r--`, `drwxr-xr-x`, `Lrwxrwxrwx` (Go's own type
  letters, not `ls`'s, e.g. `dtrwxrwxrwx` for a sticky directory);
* a symlink is described by `lstat` (name, size, times, owner, `permissions`) but carries its
  target's `type` and `mode`, `is_symlink=True` and `symlink_target`, the fully resolved path;
* `metadata` is the file's `user.e2b.*` extended attributes, prefix stripped.

Everything here blocks on the filesystem: call it on the acting user's thread (`users.py`), so
that what an entry reveals is what that user may see.
"""

from __future__ import annotations

import grp
import os
import posixpath
import pwd
import stat

from protobuf.wkt import Timestamp

from corral.envd.gen.filesystem.filesystem_pb import EntryInfo, FileType

METADATA_XATTR_PREFIX = "user.e2b."
"""Namespace of user-defined file metadata (E2B's envd, shared/pkg/filesystem/xattr.go)."""


def permissions_string(st_mode: int) -> str:
    """Go's `FileMode.String()` for a `st_mode`, which is what E2B reports as `permissions`."""
    kind = stat.S_IFMT(st_mode)
    flags = (
        (kind == stat.S_IFDIR, "d"),
        (kind == stat.S_IFLNK, "L"),
        (kind in (stat.S_IFBLK, stat.S_IFCHR), "D"),
        (kind == stat.S_IFIFO, "p"),
        (kind == stat.S_IFSOCK, "S"),
        (bool(st_mode & stat.S_ISUID), "u"),
        (bool(st_mode & stat.S_ISGID), "g"),
        (kind == stat.S_IFCHR, "c"),
        (bool(st_mode & stat.S_ISVTX), "t"),
    )
    letters = "".join(letter for is_set, letter in flags if is_set) or "-"
    rwx = "".join(char if st_mode & (0o400 >> i) else "-" for i, char in enumerate("rwxrwxrwx"))
    return letters + rwx


def file_type(st_mode: int) -> FileType:
    """FILE or DIRECTORY; anything else (device, socket, fifo) is UNSPECIFIED, as in E2B."""
    if stat.S_ISREG(st_mode):
        return FileType.FILE
    if stat.S_ISDIR(st_mode):
        return FileType.DIRECTORY
    return FileType.UNSPECIFIED


def wire_text(text: str) -> str:
    """`text` safe for protobuf strings: undecodable filename bytes become U+FFFD."""
    if text.isascii():
        return text
    return os.fsencode(text).decode("utf-8", "replace")


class Names:
    """uid/gid to name, numeric when unknown (as Go's `user.LookupId` fallback), memoised.

    One instance per request: a listing of thousands of entries then reads /etc/passwd once
    per distinct owner instead of once per entry.
    """

    def __init__(self) -> None:
        self._users: dict[int, str] = {}
        self._groups: dict[int, str] = {}

    def user(self, uid: int) -> str:
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)
            self._users[uid] = name
        return name

    def group(self, gid: int) -> str:
        name = self._groups.get(gid)
        if name is None:
            try:
                name = grp.getgrgid(gid).gr_name
            except KeyError:
                name = str(gid)
            self._groups[gid] = name
        return name


def read_metadata(path: str) -> dict[str, str]:
    """The `user.e2b.*` xattrs of `path` (following symlinks); empty when there are none.

    Best effort, as in E2B: a filesystem without xattrs, an unreadable attribute or a value that
    is not UTF-8 (metadata can be set with `setfattr` inside the sandbox) is left out rather than
    failing the whole Stat or ListDir.
    """
    try:
        names = os.listxattr(path)
    except OSError:
        return {}
    metadata: dict[str, str] = {}
    for name in names:
        if not name.startswith(METADATA_XATTR_PREFIX):
            continue
        key = name[len(METADATA_XATTR_PREFIX) :]
        try:
            value = os.getxattr(path, name).decode("utf-8")
            key.encode("utf-8")  # a non-UTF-8 name arrives with surrogate escapes
        except (OSError, UnicodeError):
            continue
        metadata[key] = value
    return metadata


def _link_target(path: str) -> tuple[str, os.stat_result | None]:
    """The fully resolved target of symlink `path` and its stat, or, for a dangling or looping
    link, the link's own text made absolute and None."""
    try:
        target = os.path.realpath(path, strict=True)
        return target, os.stat(target)
    except OSError:
        raw = os.readlink(path)
        return posixpath.normpath(posixpath.join(posixpath.dirname(path), raw)), None


def entry_info(path: str, names: Names | None = None, *, name: str | None = None) -> EntryInfo:
    """The entry for `path` (absolute, as the client should see it); raises OSError from lstat."""
    names = names or Names()
    st = os.lstat(path)
    kind = file_type(st.st_mode)
    mode = stat.S_IMODE(st.st_mode) & 0o777
    target: str | None = None
    if stat.S_ISLNK(st.st_mode):
        target, target_st = _link_target(path)
        # A dangling link stays visible as SYMLINK: the SDK drops UNSPECIFIED entries.
        kind = file_type(target_st.st_mode) if target_st else FileType.SYMLINK
        mode = stat.S_IMODE(target_st.st_mode) & 0o777 if target_st else 0
    return EntryInfo(
        name=wire_text(name if name is not None else (posixpath.basename(path) or "/")),
        type=kind,
        path=wire_text(path),
        size=st.st_size,
        mode=mode,
        permissions=permissions_string(st.st_mode),
        owner=names.user(st.st_uid),
        group=names.group(st.st_gid),
        modified_time=Timestamp.from_nanos(st.st_mtime_ns) if st.st_mtime_ns else None,
        symlink_target=wire_text(target) if target is not None else None,
        metadata=read_metadata(path),
        is_symlink=target is not None,
    )


def entry_info_or_none(path: str) -> EntryInfo | None:
    """`entry_info`, or None when the entry cannot be read (gone, no permission): watch events
    carry entries best effort, as in E2B."""
    try:
        return entry_info(path)
    except OSError:
        return None
