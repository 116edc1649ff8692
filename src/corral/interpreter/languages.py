"""Which kernel runs which language, and how it is started.

- python: ipykernel, what Jupyter and E2B use.
- bash: bash_kernel (PyPI), through `kernelside/bash_kernel_launcher.py`; stdout and stderr
  share its pty, so both arrive as stdout.
- javascript, typescript: Deno's built-in kernel (`deno jupyter`), as in E2B's template. Deno
  is one static binary, installed from PyPI's `deno` package; the npm kernels (ijavascript,
  tslab) need the `zeromq` addon, whose install fetches or compiles native code.

Kernel-side helpers live in `kernelside/` and are run by path, so a kernel's interpreter does
not need Corral installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corral.interpreter.errors import InvalidRequest, KernelFailed
from corral.interpreter.settings import Settings

KERNELSIDE = Path(__file__).resolve().parent / "kernelside"

ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "ts": "typescript",
    "deno": "typescript",
    "sh": "bash",
}
SUPPORTED = ("python", "javascript", "typescript", "bash")


def normalize(language: str | None) -> str:
    """E2B's normalization (lower case, `js`/`ts` short names); no language means Python."""
    if not language or not language.strip():
        return "python"
    name = language.strip().lower()
    name = ALIASES.get(name, name)
    if name not in SUPPORTED:
        raise InvalidRequest(
            f"language {language!r} is not supported here (supported: {', '.join(SUPPORTED)})"
        )
    return name


@dataclass(frozen=True)
class KernelCommand:
    argv: list[str]
    env: dict[str, str]
    family: str
    """`python`, `bash` or `deno`: decides how env vars are set in the kernel (`envcode.py`)."""
    interrupt_mode: str = "signal"
    """How to interrupt it: SIGINT to its process group, or an `interrupt_request` message."""
    late_results: bool = False
    """Whether outputs may follow the `idle` status (Deno's do; see `execution.py`)."""


def kernel_command(language: str, settings: Settings) -> KernelCommand:
    """The command line of a kernel for `language` (`{connection_file}` filled in later)."""
    if language == "python":
        return KernelCommand(
            argv=[
                settings.python,
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
                # Plain tracebacks, as E2B's template configures IPython.
                "--InteractiveShell.colors=nocolor",
                # IPython's SQLite history costs about 1.5 ms per execution; nobody reads it.
                "--HistoryManager.enabled=False",
                "--IPKernelApp.log_level=ERROR",
                f"--IPKernelApp.exec_files={KERNELSIDE / 'python_startup.py'}",
            ],
            env={},
            family="python",
        )
    if language == "bash":
        return KernelCommand(
            argv=[
                settings.python,
                str(KERNELSIDE / "bash_kernel_launcher.py"),
                "-f",
                "{connection_file}",
                "--IPKernelApp.log_level=ERROR",
            ],
            env={"PAGER": "cat"},
            family="bash",
        )
    if settings.deno is None:
        raise KernelFailed(
            f"{language} needs Deno, which is not installed (pip install deno, or --deno PATH)"
        )
    return KernelCommand(
        # -q: no "deno jupyter is unstable" warning in the server's log at every start
        argv=[settings.deno, "jupyter", "-q", "--kernel", "--conn", "{connection_file}"],
        # Deno colours its inspected values with ANSI escapes unless told not to.
        env={"NO_COLOR": "1"},
        family="deno",
        # SIGINT ends Deno's kernel; an `interrupt_request` stops the running code (a busy
        # loop included) and keeps the kernel's state.
        interrupt_mode="message",
        late_results=True,
    )
