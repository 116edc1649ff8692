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


def process_cpu() -> dict[int, tuple[str, int, float]]:
    """pid → (name, parent pid, CPU seconds so far) of every process."""
    hz = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(pid)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / hz)
    return found


def kernel_threads_cpu_s(processes: dict[int, tuple[str, int, float]]) -> float:
    """CPU seconds of every kernel thread (kworkers doing netns cleanup, loop and ext4 I/O)."""
    return sum(cpu for pid, (_, ppid, cpu) in processes.items() if pid == 2 or ppid == 2)


def own_pids() -> set[int]:
    """This process and its ancestors."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return pids


def top_others(
    start: dict[int, tuple[str, int, float]],
    end: dict[int, tuple[str, int, float]],
    instance: str,
) -> list[str]:
    """The processes not ours (nor our sandboxes') that used the most CPU between two looks."""
    used, ours = [], own_pids()
    for pid, (name, ppid, cpu) in end.items():
        if pid in ours or pid == 2 or ppid == 2:
            continue
        if f"/{instance}/" in "".join(_lines(Path(f"/proc/{pid}/cgroup"))):
            continue
        delta = cpu - start[pid][2] if pid in start else cpu  # new ones: all of it
        if delta >= 0.1:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                cmd = name
            used.append((delta, f"{pid} {cmd[:60].strip() or name}: {delta:.1f} s"))
    return [text for _, text in sorted(used, reverse=True)[:4]]


@dataclass
class CpuSample:
    """Busy CPU seconds: the machine's, this benchmark's own, and the kernel threads'."""

    machine: float
    ours: float
    kernel: float
    processes: dict[int, tuple[str, int, float]]

    @classmethod
    def take(cls, instance: str) -> CpuSample:
        fields = [int(v) for v in _lines(Path("/proc/stat"))[0].split()[1:]]
        user, nice, system = fields[:3]
        hz = os.sysconf("SC_CLK_TCK")
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        processes = process_cpu()
        return cls(
            (user + nice + system) / hz,
            ours + instance_cpu_s(instance),
            kernel_threads_cpu_s(processes),
            processes,
        )


def cpu_window(start: CpuSample, end: CpuSample, wall_s: float, instance: str) -> dict[str, object]:
    """Cores used during a window: by us (process, waited children, sandboxes), by kernel
    threads (much of it on our behalf: netns cleanup, loop devices) and by everything else.

    "others" is what is left of the machine's user+system time: mostly another job sharing the
    two cores, plus a little accounting slack (a few hundredths of a core when alone).
    """
    wall = max(wall_s, 1e-9)
    ours = end.ours - start.ours
    kernel = max(end.kernel - start.kernel, 0.0)  # exited kernel threads take theirs along
    others = end.machine - start.machine - ours - kernel
    return {
        "wall_s": round(wall_s, 2),
        "cores_busy": round((end.machine - start.machine) / wall, 2),
        "cores_ours": round(ours / wall, 2),
        "cores_kernel_threads": round(kernel / wall, 2),
        "cores_others": round(max(others, 0.0) / wall, 2),
        "top_others": top_others(start.processes, end.processes, instance),
    }
