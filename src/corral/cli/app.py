"""The typer application behind `corral`: one sub-command per component."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corral import __version__

app = typer.Typer(
    name="corral",
    help="Self-hostable sandboxes for untrusted code, compatible with the E2B SDKs.",
    no_args_is_help=True,
    add_completion=False,
)


def _register_subcommands() -> None:
    """The team and key commands (they load the database layer; envd never builds this CLI)."""
    from corral.cli.keys import keys_app, team_app
    from corral.cli.templates import template_app

    app.add_typer(team_app, name="team")
    app.add_typer(keys_app, name="keys")
    app.add_typer(template_app, name="template")


_register_subcommands()


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


@app.command()
def up(
    api_port: Annotated[int, typer.Option(help="Control plane API port.")] = 3000,
    proxy_port: Annotated[int, typer.Option(help="Sandbox proxy port.")] = 3002,
    orchestrator_port: Annotated[int, typer.Option(help="Orchestrator gRPC port.")] = 5008,
    data_dir: Annotated[
        Path, typer.Option(help="Where all state lives.", envvar="CORRAL_DATA_DIR")
    ] = Path("/var/lib/corral"),
    runtime: Annotated[str, typer.Option(help="runsc (gVisor, secure) or crun (fast).")] = "runsc",
    pool_size: Annotated[int, typer.Option(help="Warm sandboxes kept per template.")] = 2,
    host: Annotated[str, typer.Option(help="Address the API and proxy bind.")] = "127.0.0.1",
    domain: Annotated[
        str | None,
        typer.Option(help="Serve E2B_DOMAIN mode: HTTPS for api.DOMAIN and {port}-{id}.DOMAIN."),
    ] = None,
    https_port: Annotated[int, typer.Option(help="HTTPS port for --domain.")] = 443,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="PEM certificate for *.DOMAIN (default: one from a local CA)."),
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM key of --tls-cert.")] = None,
    instance: Annotated[
        str, typer.Option(help="Name of this platform's host resources (netns, nft table).")
    ] = "corral",
    build_defaults: Annotated[
        bool,
        typer.Option(help="Build the default templates (base, …) when missing or out of date."),
    ] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
) -> None:
    """Run the whole platform on this machine: orchestrator, API and proxy, embedded defaults.

    Prints the E2B_API_KEY, E2B_API_URL and E2B_SANDBOX_URL to export for the E2B SDK; with
    --domain, E2B_API_KEY, E2B_DOMAIN and (for the local CA) SSL_CERT_FILE instead.
    """
    if runtime not in ("runsc", "crun"):
        raise typer.BadParameter("runtime must be runsc or crun")
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key, or neither")
    if (tls_cert is not None or https_port != 443) and domain is None:
        raise typer.BadParameter("--tls-cert, --tls-key and --https-port go with --domain")
    if domain is not None:
        from corral.tls import TlsSetupError, check_domain

        try:
            domain = check_domain(domain)
        except TlsSetupError as exc:
            raise typer.BadParameter(str(exc)) from exc
    from corral.up import UpOptions, main

    options = UpOptions(
        data_dir=data_dir,
        api_port=api_port,
        proxy_port=proxy_port,
        orchestrator_port=orchestrator_port,
        runtime=runtime,
        pool_size=pool_size,
        host=host,
        domain=domain,
        https_port=https_port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        instance=instance,
        build_defaults=build_defaults,
    )
    raise typer.Exit(main(options, log_level))


@app.command()
def proxy(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 3002).")] = None,
    domain: Annotated[
        str | None, typer.Option(help="Sandbox domain, for {port}-{id}.{domain} hosts.")
    ] = None,
    catalog_url: Annotated[
        str | None, typer.Option("--catalog", help="Routing catalog: redis://host:6379/0.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the sandbox proxy: routes the SDK's envd and Jupyter traffic to sandboxes.

    Configured by CORRAL_PROXY_* variables (CATALOG_URL, DOMAIN, TLS_CERT, TLS_KEY, SERVER, ...);
    API_URL and API_SECRET (the API's CORRAL_API_INTERNAL_SECRET) turn on auto-resume.
    """
    from corral.proxy.main import run

    raise typer.Exit(run(log_level, host=host, port=port, domain=domain, catalog_url=catalog_url))
