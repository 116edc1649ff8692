"""`corral envd`: start the daemon. Kept free of typer/pydantic so envd starts fast and small."""

from __future__ import annotations

import argparse
import os
import pwd

from corral.envd import ENVD_PORT


def _default_user() -> str:
    """E2B templates run commands as `user`; where that account is missing, as ourselves."""
    try:
        pwd.getpwnam("user")
    except KeyError:
        return pwd.getpwuid(os.geteuid()).pw_name
    return "user"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="corral envd", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("CORRAL_ENVD_HOST", "0.0.0.0"))  # noqa: S104
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("CORRAL_ENVD_PORT", ENVD_PORT))
    )
    parser.add_argument("--default-user", default=os.environ.get("CORRAL_ENVD_DEFAULT_USER"))
    parser.add_argument(
        "--access-token",
        default=os.environ.get("CORRAL_ENVD_ACCESS_TOKEN"),
        help="require this X-Access-Token (normally set later by the orchestrator via POST /init)",
    )
    parser.add_argument("--log-level", default=os.environ.get("CORRAL_LOG_LEVEL", "info"))
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from corral.envd import lean

    lean.prepare()
    from corral.envd import logs
    from corral.envd.app import EnvdApp
    from corral.envd.quiesce import CONNECTIONS
    from corral.envd.server import build_server
    from corral.envd.state import EnvdState

    logs.configure(args.log_level)
    state = EnvdState(
        default_user=args.default_user or _default_user(), access_token=args.access_token
    )
    server = build_server(EnvdApp(state), args.host, args.port)
    CONNECTIONS.attach(server.server_state)
    server.run()
