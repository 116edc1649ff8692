"""The interpreter's settings: command line first, then `CORRAL_INTERPRETER_*` variables.

Kept to argparse and a dataclass (no pydantic): the server runs in every code-interpreter
sandbox, next to the user's code, and should start and stay small.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from corral.interpreter import INTERPRETER_PORT

DEFAULT_CWD = "/home/user"
"""E2B's default working directory for contexts; where it is missing, the user's home."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"CORRAL_INTERPRETER_{name}", default)


def find_deno() -> str | None:
    """Deno, for JavaScript and TypeScript: on PATH, or the binary of PyPI's `deno` package."""
    found = shutil.which("deno")
    if found:
        return found
    try:
        import deno  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    path: str = deno.find_deno_bin()
    return path if os.access(path, os.X_OK) else None


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"  # noqa: S104 (inside a sandbox: reached through the sandbox's address)
    port: int = INTERPRETER_PORT
    cwd: str = DEFAULT_CWD
    python: str = sys.executable
    """Interpreter of the Python and bash kernels (needs ipykernel; bash_kernel for bash)."""
    deno: str | None = None
    """Deno binary for JavaScript/TypeScript contexts; None: those languages are unavailable."""
    envd_url: str | None = "http://127.0.0.1:49983"
    """envd, asked once per kernel for the sandbox's env vars (`GET /envs`); None: not asked."""
    access_token: str | None = None
    """When set, `/execute` requires this `X-Access-Token`; `/contexts*` check it if sent."""
    start_languages: tuple[str, ...] = ("python",)
    """Default contexts started with the server; `/health` answers once they are ready."""
    interrupt_grace: float = 5.0
    """Seconds an interrupted kernel gets to stop before it is restarted instead."""
    kernel_start_timeout: float = 60.0
    log_level: str = "info"

    def default_cwd(self) -> str:
        if os.path.isdir(self.cwd):
            return self.cwd
        return str(Path.home())


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m corral.interpreter",
        description="E2B's code interpreter server (port 49999), backed by Jupyter kernels.",
    )
    parser.add_argument("--host", default=_env("HOST", Settings.host))
    parser.add_argument("--port", type=int, default=int(_env("PORT", str(INTERPRETER_PORT)) or 0))
    parser.add_argument("--cwd", default=_env("CWD", DEFAULT_CWD), help="default working dir")
    parser.add_argument("--python", default=_env("PYTHON", sys.executable))
    parser.add_argument("--deno", default=_env("DENO"), help="Deno binary (default: found)")
    parser.add_argument(
        "--envd-url",
        default=_env("ENVD_URL", Settings.envd_url),
        help="envd to read the sandbox's env vars from; empty: none",
    )
    parser.add_argument("--access-token", default=_env("ACCESS_TOKEN"))
    parser.add_argument(
        "--start",
        default=_env("START", "python"),
        help="comma-separated languages whose default context starts with the server",
    )
    parser.add_argument(
        "--interrupt-grace", type=float, default=float(_env("INTERRUPT_GRACE", "5") or 5)
    )
    parser.add_argument("--log-level", default=os.environ.get("CORRAL_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    return Settings(
        host=args.host,
        port=args.port,
        cwd=args.cwd,
        python=args.python,
        deno=args.deno or find_deno(),
        envd_url=args.envd_url or None,
        access_token=args.access_token or None,
        start_languages=tuple(lang.strip() for lang in args.start.split(",") if lang.strip()),
        interrupt_grace=args.interrupt_grace,
        log_level=args.log_level,
    )
