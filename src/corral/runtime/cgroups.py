"""Reading a sandbox's cgroup (v1 hybrid on this host, v2 elsewhere) and cleaning up after it.

The OCI runtime creates and limits the cgroup from `linux.cgroupsPath`; Corral only reads
usage from it (for metrics and stats) and removes leftovers of sandboxes that died uncleanly.
Every sandbox of one driver lives under `/<parent>/<sandbox id>` in each hierarchy.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def is_v2() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def _hierarchies() -> list[Path]:
    """The cgroup hierarchies mounted under /sys/fs/cgroup (v1: one per controller)."""
    try:
        return [d for d in CGROUP_ROOT.iterdir() if d.is_dir() and not d.is_symlink()]
    except OSError:
        return []


def _read_int(path: Path, default: int = 0) -> int:
    try:
        text = path.read_text().split()[0]
    except (OSError, IndexError):
        return default
    return int(text) if text.isdigit() else default


class CgroupReader:
    """The cgroups of one driver's sandboxes, all under `/<parent>`."""

    def __init__(self, parent: str = "corral") -> None:
        self.parent = parent
        self.v2 = is_v2()

    def path(self, sandbox_id: str) -> str:
        """The OCI `linux.cgroupsPath` of a sandbox."""
        return f"/{self.parent}/{sandbox_id}"

    def _dir(self, controller: str, sandbox_id: str) -> Path:
        if self.v2:
            return CGROUP_ROOT / self.parent / sandbox_id
        return CGROUP_ROOT / controller / self.parent / sandbox_id

    def cpu_usage_ns(self, sandbox_id: str) -> int:
        if self.v2:
            with contextlib.suppress(OSError):
                for line in (self._dir("cpu", sandbox_id) / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) * 1000
            return 0
        return _read_int(self._dir("cpuacct", sandbox_id) / "cpuacct.usage")

    def memory_bytes(self, sandbox_id: str) -> tuple[int, int]:
        """(usage, limit) in bytes."""
        base = self._dir("memory", sandbox_id)
        if self.v2:
            return _read_int(base / "memory.current"), _read_int(base / "memory.max")
        return _read_int(base / "memory.usage_in_bytes"), _read_int(base / "memory.limit_in_bytes")

    def pids_current(self, sandbox_id: str) -> int:
        return _read_int(self._dir("pids", sandbox_id) / "pids.current")

    def oom_kills(self, sandbox_id: str) -> int:
        """How many times the kernel's OOM killer struck inside the sandbox."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        with contextlib.suppress(OSError):
            for line in (self._dir("memory", sandbox_id) / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def remove(self, sandbox_id: str) -> None:
        """Remove the sandbox's (empty) cgroups in every hierarchy; missing ones are fine.

        Every mounted hierarchy, not a fixed list: the runtimes also make them under
        `hugetlb`, `systemd` (name=systemd) and `unified` on a v1 hybrid host.
        """
        if self.v2:
            dirs = [CGROUP_ROOT / self.parent / sandbox_id]
        else:
            dirs = [h / self.parent / sandbox_id for h in _hierarchies()]
        for d in dirs:
            with contextlib.suppress(OSError):
                os.rmdir(d)

    def listed(self) -> set[str]:
        """Sandbox ids that have a cgroup under this parent (leftovers show up here)."""
        base = CGROUP_ROOT / self.parent if self.v2 else CGROUP_ROOT / "pids" / self.parent
        try:
            return {entry.name for entry in base.iterdir() if entry.is_dir()}
        except OSError:
            return set()
