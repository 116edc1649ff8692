"""Runtime fixtures: the base rootfs and the envd distribution, built once on this host.

Both are cached in the data dir (`CORRAL_DATA_DIR`, default /var/lib/corral) across test runs:
the first run builds them (debootstrap ~40 s, the envd distribution a few seconds), later runs
find them ready.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from corral.runtime.envd_dist import ensure_envd_dist_sync
from corral.runtime.rootfs import default_base_rootfs, ensure_base_rootfs_sync


@pytest.fixture(scope="session")
def base_rootfs() -> Path:
    """The Debian bookworm base rootfs at its default location (built on first use)."""
    if os.geteuid() != 0:
        pytest.skip("building the base rootfs needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (scripts/setup-host.sh installs it)")
    return ensure_base_rootfs_sync(default_base_rootfs())


@pytest.fixture(scope="session")
def envd_dist() -> Path:
    """The envd distribution of this checkout, to bind-mount at /opt/corral in sandboxes."""
    return ensure_envd_dist_sync()
