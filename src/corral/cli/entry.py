"""Console-script entry point.

`corral envd` runs inside every sandbox, so it takes a fast path that never imports typer,
rich or pydantic; every other command goes through the typer application.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["envd"] and not {"-h", "--help"} & set(sys.argv[2:]):
        from corral.envd.main import run

        run(sys.argv[2:])
        return
    from corral.cli.app import app

    app()
