"""The sandbox's own env vars, as envd holds them (`GET /envs`, set by the control plane's
`/init` from the create request's `envVars`).

Kernels start with the template, before any `/init`, so their environment lacks these. Like
E2B's server, the interpreter asks envd once per kernel, at its first execution, with the
caller's `X-Access-Token` (envd requires it on `/envs` when it has one).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from urllib.error import URLError

from corral import logs

log = logs.get("interpreter.sandbox_env")

TIMEOUT = 2.0


def _fetch(url: str, access_token: str | None) -> dict[str, str]:
    request = urllib.request.Request(f"{url.rstrip('/')}/envs")  # noqa: S310 (our own URL)
    if access_token:
        request.add_header("X-Access-Token", access_token)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
        data = json.loads(response.read() or b"{}")
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


async def sandbox_env(envd_url: str | None, access_token: str | None) -> dict[str, str]:
    """envd's env vars; empty when there is no envd to ask or it does not answer."""
    if not envd_url:
        return {}
    try:
        return await asyncio.to_thread(_fetch, envd_url, access_token)
    except (URLError, OSError, ValueError) as exc:
        log.warning("could not read the sandbox's env vars from envd", error=str(exc))
        return {}
