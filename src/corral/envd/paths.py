"""Resolving the paths clients send, as E2B's envd does.

`~` and relative paths are taken from the acting user's home (or the sandbox's default workdir);
the result is normalised but symlinks are left for the kernel to follow with the user's own
permissions (see `users.py`), which is what decides whether `../../etc` may be read.
"""

from __future__ import annotations

import os.path

from corral.envd.errors import InvalidArgument
from corral.envd.users import User


def resolve(path: str, user: User, default_workdir: str | None = None) -> str:
    """The absolute, normalised form of `path` for `user`."""
    if "\x00" in path:
        raise InvalidArgument("path contains a NUL byte")
    base = default_workdir or user.home or "/"
    if path == "~" or path.startswith("~/"):
        path = user.home + path[1:]
    if not path:
        path = base
    if not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.normpath(path)
