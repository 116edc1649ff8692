"""User-defined file metadata on uploads: `X-Metadata-<key>: <value>` headers stored as
`user.e2b.<key>` extended attributes (E2B envd's upload.go and shared/pkg/filesystem/xattr.go).

Keys are lowercased (HTTP header names are case-insensitive, so only one spelling can be
meant); the first value of a repeated header wins. Validation matches E2B so that what one
accepts, the other does too, and runs before any byte is written: printable ASCII only, keys
within the 255-byte xattr name limit, and the whole set within one ext4 xattr block.

Writing *replaces* the file's metadata: an overwrite keeps the file's xattrs across `O_TRUNC`,
so keys absent from the new upload would otherwise linger from the previous one.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from corral.envd import logs
from corral.envd.entry import METADATA_XATTR_PREFIX
from corral.envd.errors import InvalidArgument, NotEnoughSpace, from_os_error

log = logs.get("envd.metadata")

HEADER_PREFIX = b"x-metadata-"
MAX_KEY_LEN = 255 - len(METADATA_XATTR_PREFIX)
MAX_TOTAL_LEN = 4096
_UNSUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP)


def from_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The metadata an upload carries in its `X-Metadata-*` headers (raw ASGI header pairs)."""
    metadata: dict[str, str] = {}
    for name, value in raw_headers:
        lowered = name.lower()
        if not lowered.startswith(HEADER_PREFIX):
            continue
        key = lowered[len(HEADER_PREFIX) :].decode("latin-1")
        if key and key not in metadata:
            metadata[key] = value.decode("latin-1")
    return metadata


def _check_printable(label: str, text: str) -> None:
    for offset, char in enumerate(text):
        if not " " <= char <= "~":
            raise InvalidArgument(
                f"invalid metadata: metadata {label} contains non-printable-ASCII byte "
                f"0x{ord(char):02x} at offset {offset}"
            )


def validate(metadata: dict[str, str]) -> None:
    """Raise InvalidArgument (400) for a set E2B would refuse."""
    total = 0
    for key, value in metadata.items():
        if not key:
            raise InvalidArgument("invalid metadata: metadata key must not be empty")
        if len(key) > MAX_KEY_LEN:
            raise InvalidArgument(f"invalid metadata: metadata key {key!r} exceeds {MAX_KEY_LEN}")
        _check_printable("key", key)
        _check_printable(f"value for key {key!r}", value)
        total += len(METADATA_XATTR_PREFIX) + len(key) + len(value)
    if total > MAX_TOTAL_LEN:
        raise InvalidArgument(
            f"invalid metadata: total metadata size {total} exceeds {MAX_TOTAL_LEN} bytes"
        )


def replace(fd: int, path: str, metadata: dict[str, str]) -> None:
    """Make `metadata` the file's whole `user.e2b.*` set, through its open descriptor (so a
    concurrent rename cannot redirect it). Blocking: run on the acting user's thread.

    A filesystem without xattrs (e.g. /proc, some network mounts) is not an error: the content
    is already written, and the response reads the metadata back, so it claims nothing false.
    """
    try:
        for name in os.listxattr(fd):
            key = name[len(METADATA_XATTR_PREFIX) :]
            if name.startswith(METADATA_XATTR_PREFIX) and key not in metadata:
                _remove(fd, name)
        for key, value in metadata.items():
            os.setxattr(fd, METADATA_XATTR_PREFIX + key, value.encode("ascii"))
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            log.warning("filesystem does not support xattrs; metadata not stored", path=path)
            return
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.E2BIG):
            raise NotEnoughSpace(f"not enough space for file metadata: {path}") from None
        raise from_os_error(exc, f"error writing file metadata: {path}") from None


def _remove(fd: int, name: str) -> None:
    try:
        os.removexattr(fd, name)
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            raise
