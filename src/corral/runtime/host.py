"""Running host tools (`ip`, `nft`, `mount`, `crun`, …) without blocking the event loop."""

from __future__ import annotations

import asyncio

from corral.runtime.errors import CommandFailed


async def run(*argv: str, input: bytes | None = None, check: bool = True) -> str:
    """Run `argv`, return its stdout; raise `CommandFailed` with its stderr when it fails."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(input)
    if check and proc.returncode != 0:
        raise CommandFailed(list(argv), proc.returncode or 0, err.decode(errors="replace"))
    return out.decode(errors="replace")
