"""`python -m corral.interpreter`: serve the code interpreter (port 49999 by default)."""

from __future__ import annotations

from corral.interpreter.settings import parse_args

KEEP_ALIVE_SECONDS = 75


def run(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    from uvicorn.config import Config
    from uvicorn.server import Server

    from corral import logs
    from corral.interpreter.app import build_app

    logs.configure(settings.log_level)
    config = Config(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        http="h11",
        ws="none",
        loop="asyncio",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
        date_header=False,
    )
    Server(config).run()
