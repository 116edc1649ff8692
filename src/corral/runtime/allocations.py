"""Which sandbox holds which address slot, kept on disk so no two creates ever share one.

Two kinds of entries live under the state directory:

- `slots/<n>`: a symlink whose target is the owning sandbox id. Creating a symlink is atomic and
  fails if the name exists, so it is the claim itself: two coroutines, or two orchestrator
  processes, racing for slot `n` cannot both win, and no lock file is needed.
- `sandboxes/<id>.json`: the sandbox's record (slot, internet), the way back from an id to its
  slot. It is written to a temporary name and then hard-linked (first write, which must not
  replace a record) or renamed (updates) into place, so a reader never sees half a file.

A slot is released last on destroy and claimed first on create, so a crash anywhere leaves at worst
a claimed slot with no record or no host resources, which `cleanup_orphans` removes. The default
state directory is on /run (tmpfs): the records then vanish on reboot together with the network
namespaces they describe. That is also why nothing here calls fsync.

The file operations are synchronous: each is one or two syscalls on small files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from corral.runtime.errors import ResourceExhausted, SandboxStateError

_SANDBOX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


def check_sandbox_id(sandbox_id: str) -> str:
    """Refuse ids that are unsafe as file and network namespace names."""
    if not _SANDBOX_ID.fullmatch(sandbox_id):
        raise ValueError(f"sandbox id {sandbox_id!r} must match {_SANDBOX_ID.pattern}")
    return sandbox_id


@dataclass(frozen=True)
class Allocation:
    """A sandbox's persisted network record."""

    sandbox_id: str
    slot: int
    internet: bool


class Allocations:
    """Slot claims and per-sandbox records under one state directory."""

    def __init__(self, state_dir: Path, size: int) -> None:
        self._slots = state_dir / "slots"
        self._records = state_dir / "sandboxes"
        self._size = size

    def prepare(self) -> None:
        for d in (self._slots, self._records):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)

    def claim(self, sandbox_id: str, *, internet: bool, busy: Callable[[int], bool]) -> Allocation:
        """Take a free slot for `sandbox_id` and record it.

        The search starts at a random slot rather than the lowest free one, so a freshly released
        address is unlikely to be handed out again while the kernel still has conntrack entries
        (and peers still have connections) for its previous owner. `busy(n)` lets the caller skip
        slots the host still uses although nothing claims them (a half-removed veth).
        """
        self.prepare()
        if self._record(sandbox_id).exists():
            raise SandboxStateError(f"sandbox {sandbox_id} already has a network")
        taken = set(self.slot_owners())
        start = secrets.randbelow(self._size)
        for i in range(self._size):
            n = (start + i) % self._size
            if n in taken or busy(n):
                continue
            try:
                os.symlink(sandbox_id, self._slots / str(n))
            except FileExistsError:
                continue
            allocation = Allocation(sandbox_id, n, internet)
            try:
                self._write(allocation, replace=False)
            except FileExistsError:
                self.release_slot(n, sandbox_id)
                raise SandboxStateError(f"sandbox {sandbox_id} already has a network") from None
            except BaseException:
                self.release_slot(n, sandbox_id)
                raise
            return allocation
        raise ResourceExhausted(f"all {self._size} sandbox address slots are in use")

    def get(self, sandbox_id: str) -> Allocation | None:
        try:
            raw = json.loads(self._record(sandbox_id).read_text())
        except FileNotFoundError:
            return None
        return Allocation(str(raw["sandbox_id"]), int(raw["slot"]), bool(raw["internet"]))

    def update(self, allocation: Allocation) -> None:
        self._write(allocation, replace=True)

    def release(self, allocation: Allocation) -> None:
        """Forget a sandbox: its record first, then its slot (see the module docstring)."""
        self._record(allocation.sandbox_id).unlink(missing_ok=True)
        self.release_slot(allocation.slot, allocation.sandbox_id)

    def release_slot(self, slot: int, sandbox_id: str | None = None) -> None:
        """Free a slot; with `sandbox_id`, only while that sandbox still holds it."""
        link = self._slots / str(slot)
        with contextlib.suppress(FileNotFoundError):
            if sandbox_id is None or os.readlink(link) == sandbox_id:
                link.unlink()

    def all(self) -> list[Allocation]:
        found = []
        for sandbox_id in self.recorded_ids():
            allocation = self.get(sandbox_id)
            if allocation is not None:
                found.append(allocation)
        return found

    def recorded_ids(self) -> list[str]:
        try:
            names = os.listdir(self._records)
        except FileNotFoundError:
            return []
        return sorted(n.removesuffix(".json") for n in names if n.endswith(".json"))

    def slot_owners(self) -> dict[int, str]:
        """Every claimed slot and the sandbox id its claim names."""
        owners = {}
        try:
            names = os.listdir(self._slots)
        except FileNotFoundError:
            return {}
        for name in names:
            if name.isdigit():
                with contextlib.suppress(FileNotFoundError):
                    owners[int(name)] = os.readlink(self._slots / name)
        return owners

    def _record(self, sandbox_id: str) -> Path:
        return self._records / f"{check_sandbox_id(sandbox_id)}.json"

    def _write(self, allocation: Allocation, *, replace: bool) -> None:
        final = self._record(allocation.sandbox_id)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}")
        tmp.write_text(json.dumps(asdict(allocation)))
        try:
            if replace:
                os.replace(tmp, final)
            else:
                os.link(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
