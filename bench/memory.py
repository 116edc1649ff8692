"""What a sandbox costs the host: memory of its processes and cgroup, and the machine's CPU.

A sandbox's processes are found by cgroup membership (the OCI runtime puts everything it starts
for the sandbox there, runsc's gofer, sentry and systrap stubs included), in the v1 `pids`
hierarchy this host has, or the unified one elsewhere.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
V2 = (CGROUP / "cgroup.controllers").exists()


def _cgroup_dir(controller: str, instance: str, runtime_id: str = "") -> Path:
    base = CGROUP / instance if V2 else CGROUP / controller / instance
    return base / runtime_id if runtime_id else base


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def smaps_kib(pid: int) -> dict[str, int] | None:
    """Rss, Pss and private (clean + dirty) KiB of one process; None once it has gone."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return None
    fields: dict[str, int] = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields[key] = int(value.split()[0])
    return {
        "rss": fields.get("Rss", 0),
        "pss": fields.get("Pss", 0),
        "private": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
    }


def cgroup_pids(instance: str, runtime_id: str) -> list[int]:
    try:
        text = (_cgroup_dir("pids", instance, runtime_id) / "cgroup.procs").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def process_name(pid: int) -> str:
    """argv[0]'s base name, or `[comm]` for processes with no command line (systrap stubs)."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
        if argv0:
            return Path(argv0).name
        return f"[{Path(f'/proc/{pid}/comm').read_text().strip()}]"
    except OSError:
        return "?"


def sandbox_memory(instance: str, runtime_id: str) -> dict[str, object]:
    """The sums over the sandbox's processes, and what its memory cgroup charges."""
    pids = cgroup_pids(instance, runtime_id)
    totals = {"rss": 0, "pss": 0, "private": 0}
    names: dict[str, int] = {}
    for pid in pids:
        one = smaps_kib(pid)
        if one is None:
            continue
        for key in totals:
            totals[key] += one[key]
        name = process_name(pid)
        names[name] = names.get(name, 0) + 1
    memory = _cgroup_dir("memory", instance, runtime_id)
    stat = {}
    for line in _lines(memory / "memory.stat"):
        key, _, value = line.partition(" ")
        stat[key] = int(value) if value.isdigit() else 0
    usage_file = "memory.current" if V2 else "memory.usage_in_bytes"
    return {
        "processes": names,
        "rss_kib": totals["rss"],
        "pss_kib": totals["pss"],
        "private_kib": totals["private"],
        "cgroup_usage_kib": _read_int(memory / usage_file) // 1024,
        "cgroup_rss_kib": stat.get("anon" if V2 else "rss", 0) // 1024,
        "cgroup_cache_kib": stat.get("file" if V2 else "cache", 0) // 1024,
    }


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def mem_available_kib() -> int:
    for line in _lines(Path("/proc/meminfo")):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def instance_cpu_s(instance: str) -> float:
    """CPU seconds used so far by every sandbox under the instance's cgroup parent."""
    if V2:
        for line in _lines(_cgroup_dir("cpu", instance) / "cpu.stat"):
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        return 0.0
    return _read_int(_cgroup_dir("cpuacct", instance) / "cpuacct.usage") / 1e9


@dataclass
class CpuSample:
    """Machine-wide busy CPU seconds, and the share of it that is this benchmark's own."""

    machine: float
    ours: float

    @classmethod
    def take(cls, instance: str) -> CpuSample:
        fields = [int(v) for v in _lines(Path("/proc/stat"))[0].split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
        hz = os.sysconf("SC_CLK_TCK")
        machine = (user + nice + system + irq + softirq + steal) / hz
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        return cls(machine, ours + instance_cpu_s(instance))


def cpu_window(start: CpuSample, end: CpuSample, wall_s: float) -> dict[str, float]:
    """Cores used during a window: by us (process, waited children, sandboxes) and by others.

    "others" also holds kernel threads working for us (loop devices, ext4, network), so it is
    never zero; a large value means another job shared the two cores.
    """
    machine = end.machine - start.machine
    ours = end.ours - start.ours
    wall = max(wall_s, 1e-9)
    return {
        "wall_s": round(wall_s, 2),
        "cores_busy": round(machine / wall, 2),
        "cores_ours": round(ours / wall, 2),
        "cores_others": round(max(machine - ours, 0.0) / wall, 2),
    }
