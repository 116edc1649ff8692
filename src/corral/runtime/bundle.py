"""The OCI runtime spec (`config.json`) of a sandbox: one function, shared by runsc and crun.

What makes a sandbox a sandbox is here: its namespaces (pid, ipc, uts, mount, cgroup, and the
network namespace the orchestrator made for it), cgroup limits from its resources, Docker's
default capability set, a seccomp deny-list, masked /proc and /sys paths, and envd as the entry
process. The runtime binary does the isolating; this only describes it.
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

from corral.runtime.seccomp import seccomp_profile
from corral.runtime.types import Resources

CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
"""Docker's default set: enough for envd to switch users and for `sudo`, nothing to reach out."""

CPU_PERIOD_US = 100_000

MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

_DEV_MOUNTS: list[dict[str, Any]] = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {
        "destination": "/dev",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "shm",
        "options": ["nosuid", "nodev", "mode=1777", "size=65536k"],
    },
    {
        "destination": "/dev/mqueue",
        "type": "mqueue",
        "source": "mqueue",
        "options": ["nosuid", "noexec", "nodev"],
    },
    {
        "destination": "/sys",
        "type": "sysfs",
        "source": "sysfs",
        "options": ["nosuid", "noexec", "nodev", "ro"],
    },
]


def bind(source: Path, destination: str, *, readonly: bool = True) -> dict[str, Any]:
    options = ["rbind", "nosuid", "nodev"] + (["ro"] if readonly else ["rw"])
    return {"destination": destination, "type": "bind", "source": str(source), "options": options}


def oci_config(
    *,
    rootfs: Path,
    argv: list[str],
    env: dict[str, str],
    resources: Resources,
    netns_path: str | None,
    cgroups_path: str,
    hostname: str,
    binds: list[dict[str, Any]],
    host_pids: int | None = None,
    nproc: int | None = None,
) -> dict[str, Any]:
    """The `config.json` for one sandbox whose entry process is `argv` (envd), run as root.

    `netns_path` is None for a runtime that is started inside the sandbox's netns instead.
    `host_pids` overrides the cgroup pids limit (default: `resources.pids`) and `nproc` adds an
    RLIMIT_NPROC, for a runtime whose own threads count in the host cgroup (gVisor).
    """
    memory = resources.memory_mb * 1024 * 1024
    # Raising a hard limit needs CAP_SYS_RESOURCE, which the orchestrator may not have.
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": argv,
            "env": [f"{k}={v}" for k, v in env.items()],
            "cwd": "/",
            "capabilities": {key: CAPABILITIES for key in ("bounding", "effective", "permitted")},
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile},
                *([{"type": "RLIMIT_NPROC", "hard": nproc, "soft": nproc}] if nproc else []),
            ],
            "noNewPrivileges": False,  # `sudo` inside the sandbox is a feature E2B users expect
        },
        "root": {"path": str(rootfs), "readonly": False},
        "hostname": hostname,
        "mounts": [*_DEV_MOUNTS, *binds],
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "cgroup"},
                *([{"type": "network", "path": netns_path}] if netns_path else []),
            ],
            "cgroupsPath": cgroups_path,
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}],
                "memory": {"limit": memory, "swap": memory},
                "cpu": {"quota": resources.vcpu * CPU_PERIOD_US, "period": CPU_PERIOD_US},
                "pids": {"limit": host_pids or resources.pids},
            },
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": seccomp_profile(),
        },
    }
