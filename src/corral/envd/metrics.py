"""`GET /metrics`: the sandbox's resource use, in the JSON shape of E2B envd's `host.Metrics`.

E2B's envd runs in a VM, so its gopsutil numbers are the sandbox's own. Ours runs in a
container, where /proc/meminfo and /proc/stat describe the whole host; the sandbox's share lives
in its cgroup (v2 `memory.current`/`memory.max`/`cpu.max`/`cpu.stat`, or v1 `memory/` `cpu/`
`cpuacct/`), read here first, with /proc as the fallback when there is no cgroup to read (a
bare process, as in tests). Memory "used" leaves out inactive page cache, as `docker stats`
does, since the kernel reclaims it before anything is killed.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

CGROUP = "/sys/fs/cgroup"
MIB = 1024 * 1024
UNLIMITED = 1 << 60
"""At or above this a v1 limit means "no limit" (the kernel reports about 2**63)."""


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, ValueError):
        return None


def _int(path: str) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _keyed(path: str) -> dict[str, int]:
    """`key value` lines (cgroup `*.stat` files, /proc/meminfo without the kB)."""
    values: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    return values


def _host_memory() -> tuple[int, int]:
    """(used, total) bytes from /proc/meminfo, as gopsutil counts them."""
    info = {key: kib * 1024 for key, kib in _keyed("/proc/meminfo").items()}
    total = info.get("MemTotal", 0)
    cached = info.get("Cached", 0) + info.get("SReclaimable", 0)
    used = total - info.get("MemFree", 0) - info.get("Buffers", 0) - cached
    return max(used, 0), total


def memory() -> tuple[int, int]:
    """(used, total) bytes of the sandbox's memory."""
    host_used, host_total = _host_memory()
    usage = _int(f"{CGROUP}/memory.current")
    if usage is not None:  # cgroup v2
        limit = _int(f"{CGROUP}/memory.max")  # "max" reads as None
        inactive = _keyed(f"{CGROUP}/memory.stat").get("inactive_file", 0)
    else:
        usage = _int(f"{CGROUP}/memory/memory.usage_in_bytes")
        limit = _int(f"{CGROUP}/memory/memory.limit_in_bytes")
        inactive = _keyed(f"{CGROUP}/memory/memory.stat").get("total_inactive_file", 0)
    if usage is None:
        return host_used, host_total
    total = host_total
    if limit is not None and limit < UNLIMITED:
        total = min(limit, host_total) if host_total else limit
    return max(usage - inactive, 0), total


def cpu_count() -> int:
    """CPUs the sandbox may use: its cgroup quota, rounded up, within the CPUs it can run on."""
    available = len(os.sched_getaffinity(0)) or os.cpu_count() or 1
    quota: int | None = None
    period: int | None = None
    v2 = _read(f"{CGROUP}/cpu.max")
    if v2 is not None:
        fields = v2.split()
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
            quota, period = int(fields[0]), int(fields[1])
    else:
        quota = _int(f"{CGROUP}/cpu/cpu.cfs_quota_us")
        period = _int(f"{CGROUP}/cpu/cpu.cfs_period_us")
    if quota is not None and period and quota > 0:
        return max(1, min(available, math.ceil(quota / period)))
    return available


def _cpu_busy_ns() -> tuple[int, bool] | None:
    """Cumulative CPU time of the cgroup in ns (True), else busy jiffies of the host (False)."""
    usage_usec = _keyed(f"{CGROUP}/cpu.stat").get("usage_usec")
    if usage_usec is not None:
        return usage_usec * 1000, True
    usage_ns = _int(f"{CGROUP}/cpuacct/cpuacct.usage")
    if usage_ns is not None:
        return usage_ns, True
    return None


def _proc_stat() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    first = (_read("/proc/stat") or "cpu 0").splitlines()[0].split()[1:]
    values = [int(v) for v in first if v.isdigit()]
    idle = sum(values[3:5])  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class _Sample:
    at: float
    busy: int
    total: int
    cgroup: bool


class Metrics:
    """CPU percentages need two readings; like gopsutil's `cpu.Percent(0)`, each call is
    measured against the previous one (the first against envd's start)."""

    def __init__(self) -> None:
        self._last = self._sample()

    @staticmethod
    def _sample() -> _Sample:
        now = time.monotonic()
        cgroup = _cpu_busy_ns()
        if cgroup is not None:
            return _Sample(now, cgroup[0], 0, True)
        busy, total = _proc_stat()
        return _Sample(now, busy, total, False)

    def _cpu_percent(self, count: int) -> float:
        previous, current = self._last, self._sample()
        self._last = current
        if current.cgroup and previous.cgroup:
            elapsed_ns = (current.at - previous.at) * 1e9 * count
            share = (current.busy - previous.busy) / elapsed_ns if elapsed_ns > 0 else 0.0
        elif not current.cgroup and not previous.cgroup and current.total > previous.total:
            share = (current.busy - previous.busy) / (current.total - previous.total)
        else:
            share = 0.0
        return round(min(max(share, 0.0), 1.0) * 100, 2)

    def collect(self) -> dict[str, Any]:
        """The JSON body of `/metrics`."""
        count = cpu_count()
        used, total = memory()
        disk = os.statvfs("/")
        disk_total = disk.f_blocks * disk.f_frsize
        return {
            "ts": int(time.time()),
            "cpu_count": count,
            "cpu_used_pct": self._cpu_percent(count),
            "mem_total_mib": total // MIB,
            "mem_used_mib": used // MIB,
            "mem_total": total,
            "mem_used": used,
            "disk_used": disk_total - disk.f_bavail * disk.f_frsize,
            "disk_total": disk_total,
        }
