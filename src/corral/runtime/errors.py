"""`corral.runtime`'s exception tree; the orchestrator maps it to gRPC status codes."""

from __future__ import annotations


class DriverError(Exception):
    """Base of every error an isolation driver raises."""


class SandboxNotFound(DriverError):
    """No sandbox with that id exists on this host."""


class SandboxStateError(DriverError):
    """The operation does not fit the sandbox's state (pausing a paused sandbox, …)."""


class ResourceExhausted(DriverError):
    """The host has no room left: addresses, disk, memory."""


class HostSetupError(DriverError):
    """The host lacks something the driver needs (a binary, a cgroup controller, a kernel feature).

    The message names the fix, as `corral doctor` would.
    """


class CommandFailed(DriverError):
    """A host tool (`ip`, `nft`, `crun`, `runsc`, `mount`, …) exited non-zero."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv, self.returncode, self.stderr = argv, returncode, stderr
        super().__init__(f"{' '.join(argv)} exited {returncode}: {stderr.strip()[:2000]}")
