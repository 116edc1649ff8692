"""Code that sets a run's env vars inside a kernel, and puts the previous values back after.

`run_code(envs=…)` applies to that one execution (E2B: "Custom environment variables"), but a
kernel is a long-lived process, so the variables are set by a silent execution sent just
before the user's code and restored by another sent once it has finished. E2B prepends its
snippet to the user's code instead, which shifts traceback line numbers and restores by
deleting (a value the kernel had before is lost); here the old value comes back.

Values are embedded as literals (Python `repr`, JSON for Deno, `shlex.quote` for bash), never
by pasting raw text into code.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping

from corral.interpreter.errors import InvalidRequest

_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def validate(env: Mapping[str, str], family: str) -> None:
    for key, value in env.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise InvalidRequest(f"invalid environment variable {key!r}")
        if family == "bash" and not _SHELL_NAME.match(key):
            raise InvalidRequest(f"{key!r} is not a valid name for a bash variable")


def set_for_run(env: Mapping[str, str], family: str) -> str:
    """Set `env`, remembering what each variable was."""
    env = dict(env)
    if family == "python":
        return (
            "def __corral_env(new):\n"
            "    import os\n"
            "    os._corral_saved_env = {k: os.environ.get(k) for k in new}\n"
            "    os.environ.update(new)\n"
            f"__corral_env({env!r})\n"
            "del __corral_env\n"
        )
    if family == "bash":
        parts = []
        for key, value in env.items():
            parts.append(
                f"__corral_had_{key}=${{{key}+1}}; __corral_old_{key}=${{{key}-}}; "
                f"export {key}={shlex.quote(value)}"
            )
        return "; ".join(parts)
    return (
        "void (() => { const n = " + json.dumps(env) + "; const s = Object.create(null); "
        "for (const k of Object.keys(n)) { s[k] = Deno.env.get(k) ?? null; "
        "Deno.env.set(k, n[k]); } globalThis.__corralSavedEnv = s; })();"
    )


def restore_after_run(env: Mapping[str, str], family: str) -> str:
    """Put back what `set_for_run` replaced: the old value, or no variable at all."""
    if family == "python":
        return (
            "def __corral_env():\n"
            "    import os\n"
            "    for k, v in getattr(os, '_corral_saved_env', {}).items():\n"
            "        if v is None:\n"
            "            os.environ.pop(k, None)\n"
            "        else:\n"
            "            os.environ[k] = v\n"
            "    os._corral_saved_env = {}\n"
            "__corral_env()\n"
            "del __corral_env\n"
        )
    if family == "bash":
        parts = []
        for key in env:
            parts.append(
                f'if [ -n "$__corral_had_{key}" ]; then export {key}="$__corral_old_{key}"; '
                f"else unset {key}; fi; unset __corral_had_{key} __corral_old_{key}"
            )
        return "; ".join(parts)
    return (
        "void (() => { const s = globalThis.__corralSavedEnv ?? {}; "
        "for (const k of Object.keys(s)) { if (s[k] === null) Deno.env.delete(k); "
        "else Deno.env.set(k, s[k]); } globalThis.__corralSavedEnv = {}; })();"
    )


def set_for_kernel(env: Mapping[str, str], family: str) -> str:
    """Set `env` for the kernel's lifetime (the sandbox's own env vars, from envd)."""
    env = dict(env)
    if family == "python":
        return f"__import__('os').environ.update({env!r})\n"
    if family == "bash":
        return "; ".join(
            f"export {key}={shlex.quote(value)}"
            for key, value in env.items()
            if _SHELL_NAME.match(key)
        )
    return "void Object.entries(" + json.dumps(env) + ").forEach(([k, v]) => Deno.env.set(k, v));"
