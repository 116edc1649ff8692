"""Which pause modes (E2B's `sbx.pause(mode="full"|"filesystem")`) each installed runtime offers.

A filesystem pause keeps only the sandbox's disk, so every runtime has it. A full pause also keeps
memory, and how durable that is depends on the runtime:

* runsc: `runsc checkpoint` writes memory to disk: it survives a host restart and can move.
* crun: Corral pauses with the cgroup freezer: memory stays in this node's RAM (it survives
  restarts of Corral's processes, not of the host, and cannot move or become a snapshot). A
  durable checkpoint would need crun built with CRIU (`+CRIU` in `crun --version`) and a CRIU
  that works on this kernel: Debian 12's 3.17 fails `criu check` on kernels with a
  `[vvar_vclock]` mapping (`vdso: Unexpected rt vDSO area bounds`); 4.1 works.

Everything is measured by running the tools, never by starting a container (doctor must stay
side-effect free), each bounded by `PROBE_TIMEOUT`.
"""

from __future__ import annotations

import re

from corral.hostcheck.base import SETUP, Finding, Host

PROBE_TIMEOUT = 5.0
CRIU_MIN = (4, 1)
"""The oldest CRIU seen to pass `criu check` on this project's kernels."""


def check_pause_modes(host: Host) -> Finding:
    """The modes of each installed runtime; `warn` only when none has a durable full pause."""
    parts: list[str] = []
    durable = False
    runsc = host.which("runsc")
    if runsc:
        detail, durable = runsc_modes(host, runsc)
        parts.append(detail)
    crun = host.which("crun")
    if crun:
        parts.append(crun_modes(host, crun))
    if not parts:
        return Finding("pause modes", "warn", "no runtime installed (crun, runsc)", SETUP)
    if durable:
        return Finding("pause modes", "ok", "; ".join(parts))
    return Finding(
        "pause modes",
        "warn",
        "; ".join(parts) + ": no full pause here survives a host restart",
        f"optional: {SETUP} (installs runsc, whose checkpoint is durable)",
    )


def runsc_modes(host: Host, runsc: str) -> tuple[str, bool]:
    """runsc's modes, and whether its full pause is durable: its `checkpoint` command exists.

    A real checkpoint needs a running container, which doctor does not start.
    """
    ran = host.run([runsc, "help", "checkpoint"], PROBE_TIMEOUT)
    # runsc answers an unknown subcommand with "Subcommand X not understood" and exit code 0.
    if ran.code == 0 and "checkpoint" in ran.output and "not understood" not in ran.output:
        return "runsc full+filesystem (checkpoint)", True
    why = "no checkpoint command" if ran.code == 0 else first_error(ran.output)
    return f"runsc filesystem only (runsc help checkpoint: {why})", False


def crun_modes(host: Host, crun: str) -> str:
    """crun's modes: its full pause is always the freezer (Corral does not checkpoint crun);
    what would make a durable CRIU checkpoint possible is said, or what blocks it."""
    ran = host.run([crun, "--version"], PROBE_TIMEOUT)
    blockers = []
    if ran.code is None:
        blockers.append(f"crun --version: {ran.output}")
    elif "+CRIU" not in ran.output.split():
        blockers.append("crun built without CRIU")
    criu = host.which("criu")
    version, problem = criu_status(host, criu) if criu else ("", "criu not installed")
    if problem:
        blockers.append(problem)
    if blockers:
        return f"crun filesystem, full in RAM only (freezer: {', '.join(blockers)})"
    return f"crun filesystem, full in RAM only (freezer; CRIU {version} could checkpoint, unused)"


def criu_status(host: Host, criu: str) -> tuple[str, str | None]:
    """CRIU's version, and why it cannot checkpoint here (None when `criu check` passes and the
    version is recent enough)."""
    ran = host.run([criu, "--version"], PROBE_TIMEOUT)
    match = re.search(r"Version:\s*(\d+)\.(\d+)(\.\d+)?", ran.output)
    version = match.group(0).split()[-1] if match else "?"
    check = host.run([criu, "check"], PROBE_TIMEOUT)
    if check.code != 0:
        return version, f"criu {version} check fails: {first_error(check.output)}"
    if match is None:
        return version, f"criu version unreadable: {ran.output.strip()[:80]!r}"
    if (int(match.group(1)), int(match.group(2))) < CRIU_MIN:
        return version, f"criu {version} older than {'.'.join(map(str, CRIU_MIN))}"
    return version, None


def first_error(output: str) -> str:
    """The first error line of a tool's output, without CRIU's `Error (file.c:123): ` prefix."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    line = next((x for x in lines if x.startswith("Error")), lines[0] if lines else "no output")
    return re.sub(r"^Error \([^)]*\):\s*", "", line)
