"""Finding and removing whatever the benchmark left on the host.

`purge` goes through the driver's own orphan cleanup (runtime containers, mounts, networks,
cgroups of the benchmark's names), then the nft table, the cgroup parents and the directories;
`leftovers` looks for each kind of trace independently of the driver's bookkeeping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from bench.orchestrator_node import (
    DATA_DIR,
    IFNAME_PREFIX,
    INSTANCE,
    NETNS_PREFIX,
    RUN_DIR,
    TimedDriver,
    bench_networks,
)

CGROUP = Path("/sys/fs/cgroup")


def _ls(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _cgroup_parents() -> list[Path]:
    """The instance's cgroup parent in every hierarchy (one on cgroup v2)."""
    if (CGROUP / "cgroup.controllers").exists():
        return [CGROUP / INSTANCE]
    return [CGROUP / c / INSTANCE for c in _ls(CGROUP) if (CGROUP / c / INSTANCE).is_dir()]


def leftovers() -> dict[str, list[str]]:
    """Whatever of the benchmark's is still on the host (empty when all is clean)."""
    data = str(DATA_DIR)
    procs = []
    for pid in filter(str.isdigit, _ls(Path("/proc"))):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if data in cmdline or str(RUN_DIR) in cmdline:
                procs.append(f"{pid} {cmdline[:80]}")
    found = {
        "netns": [n for n in _ls(Path("/run/netns")) if n.startswith(NETNS_PREFIX)],
        "links": [n for n in _ls(Path("/sys/class/net")) if n.startswith(IFNAME_PREFIX)],
        "mounts": [
            line.split()[4]
            for line in _read(Path("/proc/self/mountinfo")).splitlines()
            if data in line
        ],
        "cgroups": [
            str(parent / d)
            for parent in _cgroup_parents()
            for d in _ls(parent)
            if (parent / d).is_dir()
        ],
        "loop_devices": [
            dev
            for dev in _ls(Path("/sys/block"))
            if dev.startswith("loop") and data in _read(Path(f"/sys/block/{dev}/loop/backing_file"))
        ],
        "processes": procs,
        "runtime_state": [
            f"{state}/{entry}"
            for state in ("crun", "runsc", "raw-crun", "raw-runsc")
            for entry in _ls(RUN_DIR / state)
            if not entry.endswith(".lock")
        ],
    }
    return {key: value for key, value in found.items() if value}


async def purge(runtimes: list[str], envd_dir: Path) -> None:
    """Remove every sandbox, network, cgroup, mount and file the benchmark may have left."""
    for runtime in runtimes:
        await TimedDriver(runtime, envd_dir).cleanup_orphans(set())
        state = RUN_DIR / f"raw-{runtime}"
        if state.exists():
            listed = subprocess.run(
                [runtime, "--root", str(state), "list", "-q"], capture_output=True, text=True
            )
            for container in listed.stdout.split():
                subprocess.run(
                    [runtime, "--root", str(state), "delete", "--force", container],
                    capture_output=True,
                )
    await bench_networks().teardown()
    for parent in _cgroup_parents():
        for child in _ls(parent):
            with contextlib.suppress(OSError):
                (parent / child).rmdir()
        with contextlib.suppress(OSError):
            parent.rmdir()
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
