"""Reading a sandbox's cgroup (v1 hybrid on this host, v2 elsewhere) and cleaning up after it.

The OCI runtime creates and limits the cgroup from `linux.cgroupsPath`; Corral only reads
usage from it (for metrics and stats) and removes leftovers of sandboxes that died uncleanly.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "corral"
"""All sandboxes live under /corral/<id> in every hierarchy."""

V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")


def cgroups_path(sandbox_id: str) -> str:
    return f"/{PARENT}/{sandbox_id}"


def is_v2() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def _read_int(path: Path, default: int = 0) -> int:
    try:
        text = path.read_text().split()[0]
    except (OSError, IndexError):
        return default
    return int(text) if text.isdigit() else default


def cpu_usage_ns(sandbox_id: str) -> int:
    if is_v2():
        stat = CGROUP_ROOT / PARENT / sandbox_id / "cpu.stat"
        with contextlib.suppress(OSError):
            for line in stat.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) * 1000
        return 0
    return _read_int(CGROUP_ROOT / "cpuacct" / PARENT / sandbox_id / "cpuacct.usage")


def memory_bytes(sandbox_id: str) -> tuple[int, int]:
    """(usage, limit) in bytes."""
    if is_v2():
        base = CGROUP_ROOT / PARENT / sandbox_id
        return _read_int(base / "memory.current"), _read_int(base / "memory.max")
    base = CGROUP_ROOT / "memory" / PARENT / sandbox_id
    return _read_int(base / "memory.usage_in_bytes"), _read_int(base / "memory.limit_in_bytes")


def pids_current(sandbox_id: str) -> int:
    if is_v2():
        return _read_int(CGROUP_ROOT / PARENT / sandbox_id / "pids.current")
    return _read_int(CGROUP_ROOT / "pids" / PARENT / sandbox_id / "pids.current")


def memory_events_oom_kills(sandbox_id: str) -> int:
    """How many times the kernel's OOM killer struck inside the sandbox."""
    if is_v2():
        path = CGROUP_ROOT / PARENT / sandbox_id / "memory.events"
    else:
        path = CGROUP_ROOT / "memory" / PARENT / sandbox_id / "memory.oom_control"
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    return 0


def remove(sandbox_id: str) -> None:
    """Remove the sandbox's (empty) cgroups in every hierarchy; missing ones are fine."""
    dirs = (
        [CGROUP_ROOT / PARENT / sandbox_id]
        if is_v2()
        else [CGROUP_ROOT / c / PARENT / sandbox_id for c in V1_CONTROLLERS]
    )
    for d in dirs:
        with contextlib.suppress(OSError):
            os.rmdir(d)


def listed() -> set[str]:
    """Sandbox ids that have a cgroup on this host (leftovers show up here)."""
    base = CGROUP_ROOT / PARENT if is_v2() else CGROUP_ROOT / "pids" / PARENT
    try:
        return {entry.name for entry in base.iterdir() if entry.is_dir()}
    except OSError:
        return set()
