"""The typer application behind `corral`: one sub-command per component."""

from __future__ import annotations

from typing import Annotated

import typer

from corral import __version__

app = typer.Typer(
    name="corral",
    help="Self-hostable sandboxes for untrusted code, compatible with the E2B SDKs.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print Corral's version."""
    typer.echo(__version__)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def envd(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 49983,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",  # noqa: S104
    default_user: Annotated[str | None, typer.Option(help="User for requests naming none.")] = None,
) -> None:
    """Run envd, the in-sandbox daemon (normally started by the orchestrator)."""
    from corral.envd.main import run

    argv = ["--port", str(port), "--host", host]
    if default_user:
        argv += ["--default-user", default_user]
    run(argv)


@app.command()
def doctor() -> None:
    """Check this host for what the platform needs, with a fix for each problem."""
    from corral.cli.doctor import run_doctor

    raise typer.Exit(run_doctor())


@app.command()
def orchestrator(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="gRPC port (default 5008).")] = None,
    dev: Annotated[
        bool | None,
        typer.Option("--dev", help="Allow running without a secret.", show_default=False),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the orchestrator: this host's sandboxes, served to the control plane over gRPC.

    Configured by CORRAL_ORCHESTRATOR_* variables (SECRET is required unless --dev).
    """
    from corral.orchestrator.main import run

    raise typer.Exit(run(log_level, host=host, port=port, dev=dev))
