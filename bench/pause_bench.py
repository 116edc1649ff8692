"""What a pause costs and what it keeps, as a user meets it through `corral up` and the e2b SDK.

Per runtime, per mode (`sbx.pause(mode="full")`, `sbx.pause(mode="filesystem")`) and per
workload (an idle sandbox; one running a background python process holding 200 MiB of random,
so incompressible, bytes, resident before the pause), each round is a fresh sandbox:

- `pause_ms`: the SDK's `pause` call;
- `resume_first_exec_ms`: from before `Sandbox.connect(id)` until `commands.run("true")` returns;
- `snapshot_bytes`: what the pause wrote to disk: the growth of the platform's data directory
  (blocks allocated, mounts not crossed, every copy counted: node cache and artifact store)
  while paused, and how much each place grew (`snapshot_where`); `null` and a reason when
  nothing grew (crun's freezer keeps memory in RAM);
- `bomb_alive_after_resume`: whether the memory process survived (a filesystem pause reboots).

A failing SDK call is recorded in the cell's `errors` and the bench goes on.
Run as root: `.venv/bin/python -m bench.pause_bench [--runtime crun|runsc|both] [--runs N]`.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bench.runner import platform, run_per_runtime
from bench.runtime_reference import summary

if TYPE_CHECKING:
    from e2b import Sandbox

Mode = Literal["full", "filesystem"]
MODES: tuple[Mode, ...] = ("full", "filesystem")
WORKLOADS = ("idle", "mem200")
BOMB_MIB = 200
BOMB_TAG = "corral-membomb"
BOMB = (
    f"python3 -c 'import os, time\n"
    f"b = bytearray({BOMB_MIB} << 20)\n"
    f"for i in range(0, len(b), 1 << 20): b[i:i + (1 << 20)] = os.urandom(1 << 20)\n"
    f'open("/tmp/{BOMB_TAG}.ready", "w").close()\n'
    f"time.sleep(86400)' {BOMB_TAG}"
)
BOMB_READY = f"test -e /tmp/{BOMB_TAG}.ready && awk '/VmRSS/ {{print $2}}' /proc/%d/status || true"
BOMB_ALIVE = f"pgrep -f '[{BOMB_TAG[0]}]{BOMB_TAG[1:]}' >/dev/null && echo alive || echo gone"
MIN_GROWTH = 64 << 10
"""Growth below this (logs, records, journal writes) is not counted as a snapshot."""


def allocated(data_dir: Path) -> Counter[str]:
    """Bytes allocated under `data_dir` by place (the first three path parts, e.g.
    `snapshots/<id>/state`), each file once (hard links); sandbox root filesystems mounted
    inside are not entered."""
    sizes: Counter[str] = Counter()
    seen: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(data_dir):
        dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(root, d))]
        place = "/".join(Path(root).relative_to(data_dir).parts[:3]) or "."
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                sizes[place] += st.st_blocks * 512
    return sizes


def start_bomb(sbx: Sandbox) -> None:
    """The 200 MiB process, in the background, until it has written every page and its
    resident size shows them. (gVisor maps pages ahead of the writes: the resident size alone
    reaches 200 MiB while most are still zero.)"""
    handle = sbx.commands.run(BOMB, background=True)
    deadline, rss = time.monotonic() + 60, ""
    while time.monotonic() < deadline:
        rss = sbx.commands.run(BOMB_READY % handle.pid).stdout
        if rss.strip() and int(rss) >= BOMB_MIB * 1024:
            handle.disconnect()
            return
        time.sleep(0.2)
    raise RuntimeError(f"memory process not resident after 60 s (VmRSS {rss.strip()} kB)")


@dataclass
class Cell:
    """The rounds of one runtime, mode and workload."""

    pause_ms: list[float] = field(default_factory=list)
    resume_first_exec_ms: list[float] = field(default_factory=list)
    snapshot_bytes: list[int | None] = field(default_factory=list)
    snapshot_where: dict[str, list[int]] = field(default_factory=dict)
    """Place under the data dir → bytes it grew by, per round."""
    bomb_alive_after_resume: list[bool] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def result(self) -> dict[str, object]:
        out: dict[str, object] = {
            "pause_ms": summary(self.pause_ms),
            "resume_first_exec_ms": summary(self.resume_first_exec_ms),
            "snapshot_bytes": self.snapshot_bytes,
            "snapshot_where": self.snapshot_where,
        }
        if self.snapshot_bytes and all(s is None for s in self.snapshot_bytes):
            out["snapshot_note"] = (
                "the pause wrote nothing to disk (no growth under the data dir: snapshots/,"
                " artifacts/, sandboxes/<id>/checkpoint…)"
            )
        if self.bomb_alive_after_resume:
            out["bomb_alive_after_resume"] = self.bomb_alive_after_resume
        if self.errors:
            out["errors"] = self.errors
        return out


def one_round(data_dir: Path, mode: Mode, workload: str, cell: Cell) -> None:
    from e2b import Sandbox

    sbx = Sandbox.create(timeout=600)
    try:
        if workload == "mem200":
            start_bomb(sbx)
        before = allocated(data_dir)
        t0 = time.perf_counter()
        sbx.pause(mode=mode)
        cell.pause_ms.append((time.perf_counter() - t0) * 1000)
        grown = {k: v - before[k] for k, v in allocated(data_dir).items()}
        grown = {k: v for k, v in grown.items() if v >= MIN_GROWTH}
        cell.snapshot_bytes.append(sum(grown.values()) if grown else None)
        for place, size in grown.items():
            parts = place.split("/")  # sandboxes/<runtime id>/…, snapshots/<snapshot id>/…
            masked = "/".join([parts[0], "<id>", *parts[2:]]) if len(parts) == 3 else place
            cell.snapshot_where.setdefault(masked, []).append(size)
        t0 = time.perf_counter()
        resumed = Sandbox.connect(sbx.sandbox_id, timeout=600)
        resumed.commands.run("true")
        cell.resume_first_exec_ms.append((time.perf_counter() - t0) * 1000)
        if workload == "mem200":
            alive = resumed.commands.run(BOMB_ALIVE).stdout.strip() == "alive"
            cell.bomb_alive_after_resume.append(alive)
    except Exception as exc:  # recorded for this cell; the other cells still run
        cell.errors.append(f"{type(exc).__name__}: {exc}"[:500])
    finally:
        try:
            Sandbox.kill(sbx.sandbox_id)
        except Exception as exc:
            cell.errors.append(f"kill: {type(exc).__name__}: {exc}"[:500])


def local_platform_only() -> None:
    """The SDK falls back to e2b.app for anything unset: refuse unless all points here."""
    needed = ("E2B_API_KEY", "E2B_API_URL", "E2B_SANDBOX_URL")
    if not all(os.environ.get(k) for k in needed) or not all(
        os.environ[k].startswith("http://127.0.0.1:") for k in needed[1:]
    ):
        raise RuntimeError(f"{needed} must all point at the local corral up")


def measure(runtime: str, runs: int) -> dict[str, object]:
    from e2b import Sandbox

    result: dict[str, object] = {}
    with platform(runtime, "corralpb", "10.238.0.0/16", "cpb", pool_size=0) as data_dir:
        local_platform_only()
        for mode in MODES:
            for workload in WORKLOADS:
                cell = Cell()
                for _ in range(runs):
                    one_round(data_dir, mode, workload, cell)
                result[f"{mode}/{workload}"] = done = cell.result()
                print(f"{runtime} {mode}/{workload}: {done}", file=sys.stderr, flush=True)
        for s in Sandbox.list().next_items():  # none should be left; paused ones would be kept
            Sandbox.kill(s.sandbox_id)
    return result


def main() -> None:
    run_per_runtime(__doc__, measure, 3)


if __name__ == "__main__":
    main()
