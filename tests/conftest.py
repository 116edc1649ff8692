"""Shared fixtures: real processes on loopback, driven by the official SDK."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from corral.runtime.envd_dist import ensure_envd_dist_sync
from corral.runtime.rootfs import default_base_rootfs, ensure_base_rootfs_sync

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise TimeoutError(url)


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
