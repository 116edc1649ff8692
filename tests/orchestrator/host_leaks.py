"""What a test's sandboxes left on the host, measured on the host itself.

Other tests (and other people's test runs) share the test driver's names — the `corraltest-`
netns prefix, the `/corral-test` cgroup parent, `/run/corral-test/<runtime>` — so a leak is
counted only for what is this test's: anything under its node's data directory, and anything
named after a runtime sandbox id the node used. Those ids are random (`rt-…`) and made inside
the node; `RuntimeIds` learns them by watching the node's `sandboxes/` directory, where every
runtime sandbox has a directory from the first step of its create to the last of its
teardown.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

CGROUP_ROOT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")


class RuntimeIds:
    """`with RuntimeIds(data_dir / "sandboxes") as ids:` every runtime sandbox id seen there.

    Polled from a thread, so a busy event loop cannot make it miss a short-lived sandbox."""

    def __init__(self, sandboxes_dir: Path, interval: float = 0.005) -> None:
        self.sandboxes_dir = sandboxes_dir
        self.interval = interval
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        self.seen.update(_listdir(self.sandboxes_dir))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()


@dataclass(frozen=True)
class HostScope:
    """Where a test node's driver puts things (see `tests/runtime/drivers.py`)."""

    data_dir: Path
    runtime: str
    artifacts: Path
    instance: str = "corral-test"
    netns_prefix: str = "corraltest-"
    network_state: Path = field(default=Path("/run/corral-test-runsc/network"))

    @classmethod
    def of_test_driver(cls, data_dir: Path, runtime: str, artifacts: Path) -> HostScope:
        return cls(
            data_dir=data_dir,
            runtime=runtime,
            artifacts=artifacts,
            network_state=Path(f"/run/corral-test-{runtime}/network"),
        )


def leaks(scope: HostScope, runtime_ids: Iterable[str]) -> dict[str, list[str]]:
    """Everything of the scope still on the host, by kind; empty lists when clean."""
    ids = sorted(set(runtime_ids))
    data = str(scope.data_dir)
    return {
        "processes": _processes(data, ids, scope.instance),
        "mounts": _mounts(data, ids),
        "netns": [n for n in _listdir(NETNS_DIR) if _named(n, scope.netns_prefix, ids)],
        "cgroups": _cgroups(scope.instance, ids),
        "runtime_state": _runtime_state(Path("/run") / scope.instance / scope.runtime, ids),
        "network_records": _network_records(scope.network_state, ids),
        "sandbox_dirs": _listdir(scope.data_dir / "sandboxes"),
        "snapshot_cache": _listdir(scope.data_dir / "snapshots"),
        "stored_snapshots": _listdir(scope.artifacts / "snapshots"),
    }


def found(report: dict[str, list[str]]) -> dict[str, list[str]]:
    """Only the kinds that leaked: `assert not found(leaks(...))` shows what and where."""
    return {kind: items for kind, items in report.items() if items}


def _named(name: str, prefix: str, ids: list[str]) -> bool:
    return name.startswith(prefix) and name.removeprefix(prefix) in ids


def _listdir(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _processes(data_dir: str, ids: list[str], instance: str) -> list[str]:
    """Processes whose command line names the data dir or a sandbox id (runsc's sandbox and
    gofer, a runtime command), or that sit in a sandbox's cgroup (crun's container init,
    which is envd and names neither)."""
    me = os.getpid()
    in_cgroup = re.compile(rf"/{re.escape(instance)}/([^/\s]+)")
    out = []
    for pid in _listdir(Path("/proc")):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        why = [i for i in ids if i in cmdline]
        why += sorted({m for m in in_cgroup.findall(cgroup) if m in ids} - set(why))
        if why or data_dir in cmdline:
            out.append(f"{pid} [{' '.join(why) or 'data dir'}]: {cmdline.strip()[:160]}")
    return out


def _mounts(data_dir: str, ids: list[str]) -> list[str]:
    """Mount points under the data dir or naming a sandbox id (this process's view; the
    runtimes mount in the host's namespace, which the tests share)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point.startswith(data_dir) or any(i in point for i in ids):
                out.append(point)
    return out


def _cgroups(instance: str, ids: list[str]) -> list[str]:
    """A sandbox's cgroup in any hierarchy (v1 has one per controller, and the runtimes also
    make them under `hugetlb`, `systemd` and `unified`), or under a v2 root."""
    out = []
    hierarchies = [CGROUP_ROOT, *(p for p in CGROUP_ROOT.iterdir() if p.is_dir())]
    for hierarchy in hierarchies:
        for sandbox_id in ids:
            path = hierarchy / instance / sandbox_id
            if path.is_dir():
                out.append(str(path))
    return out


def _runtime_state(root: Path, ids: list[str]) -> list[str]:
    """The runtime's own state: crun's `<id>/` directories, runsc's `<id>_sandbox:<id>.state`
    files and their locks."""
    return [name for name in _listdir(root) if any(i in name for i in ids)]


def _network_records(state: Path, ids: list[str]) -> list[str]:
    """The address slot claims (`slots/<n>` → id) and records (`sandboxes/<id>.json`)."""
    out = [f"sandboxes/{n}" for n in _listdir(state / "sandboxes") if n.split(".")[0] in ids]
    for slot in _listdir(state / "slots"):
        try:
            owner = os.readlink(state / "slots" / slot)
        except OSError:
            continue
        if owner in ids:
            out.append(f"slots/{slot} -> {owner}")
    return out
