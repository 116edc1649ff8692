"""A proxy in its own process with a fixed in-memory route, for measurements free of the test
process's GIL: `python -m tests.proxy.proxy_process PORT ENGINE SANDBOX_ID ADDRESS`."""

from __future__ import annotations

import asyncio
import sys

from corral.catalog.memory import MemoryCatalog
from corral.catalog.types import Route
from corral.proxy.server import ProxyServer
from corral.proxy.settings import ProxySettings


async def main(port: int, engine: str, sandbox_id: str, address: str) -> None:
    catalog = MemoryCatalog()
    await catalog.put(Route(sandbox_id=sandbox_id, address=address))
    settings = ProxySettings(host="127.0.0.1", port=port, server=engine)  # type: ignore[arg-type]
    async with ProxyServer(settings, catalog):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]))
