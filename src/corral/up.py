"""`corral up`: the whole platform on one machine, in one process, with embedded defaults.

Orchestrator (gRPC on loopback, with a generated secret), control plane API and client proxy
run side by side on one event loop and share an in-memory routing catalog; the API still
reaches the orchestrator only through its gRPC interface, as it would on another host. The
proxy wakes paused sandboxes with auto-resume through the API's own resume (`wake_hook`). State
lives under the data dir: the SQLite database, the orchestrator's records, images and disks.

With `--domain D` one more listener serves HTTPS (h2) for the SDK's E2B_DOMAIN mode: Host
`api.D` is the API app itself, every other `*.D` host the proxy's host routing; the
certificate is the user's or one from a local CA kept in `<data-dir>/tls/` (corral.tls).
The plain HTTP API and proxy ports stay open either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shlex
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape

from corral import logs
from corral.api.settings import ApiSettings, NodeConfig
from corral.orchestrator.settings import OrchestratorSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from corral.api.context import ApiContext
    from corral.catalog.types import Route
    from corral.proxy.app import WakePaused, WakeRequest
    from corral.tls import ServerCerts

console = Console(stderr=True)


@dataclass(frozen=True)
class UpOptions:
    data_dir: Path
    api_port: int = 3000
    proxy_port: int = 3002
    orchestrator_port: int = 5008
    runtime: str = "runsc"
    pool_size: int = 2
    host: str = "127.0.0.1"
    domain: str | None = None
    """Serve E2B_DOMAIN mode: HTTPS on `https_port` for `api.{domain}` and `*.{domain}`."""
    https_port: int = 443
    tls_cert: Path | None = None
    """With `tls_key`: the user's certificate for `*.{domain}`; else a local CA signs one."""
    tls_key: Path | None = None
    instance: str = "corral"
    build_defaults: bool = True
    """Build the default templates (`base`, …) when they are missing or out of date."""

    @property
    def e2b_domain(self) -> str | None:
        """E2B_DOMAIN as the SDK needs it: the port goes with the domain unless it is 443."""
        if self.domain is None:
            return None
        return self.domain if self.https_port == 443 else f"{self.domain}:{self.https_port}"


def _secret(path: Path) -> str:
    """A secret kept in the data dir (mode 0600), made on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


@contextlib.asynccontextmanager
async def _step(title: str) -> AsyncIterator[None]:
    with console.status(f"[bold]{title}…"):
        yield
    console.print(f"[green]✓[/green] {title}")


async def run_up(
    options: UpOptions, *, ready: Callable[[dict[str, str]], None] | None = None
) -> None:
    """Start everything, print the exports, serve until SIGINT/SIGTERM, stop in order."""
    from corral.api.app import create_app
    from corral.api.bootstrap import DefaultTemplate, first_api_key, register_templates
    from corral.api.db.database import Database
    from corral.api.db.store import Store
    from corral.catalog.memory import MemoryCatalog
    from corral.hostcheck import run_checks
    from corral.orchestrator.server import OrchestratorServer
    from corral.orchestrator.wiring import build_oci_driver
    from corral.proxy.server import serve_proxy
    from corral.proxy.settings import ProxySettings

    data_dir = options.data_dir
    up_dir = data_dir / "up"
    async with _step("checking the host"):
        failed = [f for f in run_checks() if f.status == "fail"]
        if failed:
            for f in failed:
                console.print(f"[red]✗[/red] {f.name}: {f.detail} (fix: {f.fix})")
            raise SystemExit(1)
    certs = None
    if options.domain is not None:
        async with _step(f"TLS certificate for *.{options.domain}"):
            certs = _server_certs(options)
    secret = _secret(up_dir / "orchestrator-secret")
    orch_settings = OrchestratorSettings(
        host="127.0.0.1",
        port=options.orchestrator_port,
        secret=SecretStr(secret),
        data_dir=data_dir,
        runtime=options.runtime,
        pool_size=options.pool_size,
        instance=options.instance,
    )
    async with _step("preparing the base image and envd (first start: about a minute)"):
        driver, templates = await build_oci_driver(orch_settings)
    api_settings = ApiSettings(
        host=options.host,
        port=options.api_port,
        data_dir=data_dir,
        nodes=[NodeConfig(id="local", target=f"127.0.0.1:{orch_settings.port}")],
        orchestrator_secret=SecretStr(secret),
        domain=options.e2b_domain,
    )
    async with _step("database, default templates and the first API key"):
        database = Database(api_settings.database)
        await database.upgrade()
        store = Store(database)
        if await store.get_template(None, "base") is None:
            # The bare debootstrap root filesystem, until the default build replaces it.
            await register_templates(store, [DefaultTemplate("base", templates.rootfs("base"))])
        api_key = await first_api_key(store, up_dir / "api-key")
        await database.dispose()
    orchestrator = OrchestratorServer(orch_settings, driver, templates)
    async with _step(f"orchestrator ({options.runtime}) on 127.0.0.1:{options.orchestrator_port}"):
        await orchestrator.start()
    # For `corral template build base` and other local admin commands.
    (up_dir / "orchestrator-address").write_text(f"127.0.0.1:{options.orchestrator_port}\n")
    catalog = MemoryCatalog()
    import uvicorn

    api_app = create_app(api_settings, catalog=catalog)
    api = uvicorn.Server(
        uvicorn.Config(
            api_app,
            host=options.host,
            port=options.api_port,
            log_level="warning",
            access_log=False,
        )
    )
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with _step(f"API on {options.host}:{options.api_port}"):
            tasks.append(asyncio.create_task(api.serve(), name="api"))
            await _until(lambda: api.started, tasks[-1])
        proxy_settings = ProxySettings(
            host=options.host, port=options.proxy_port, domain=options.domain
        )
        async with _step(f"proxy on {options.host}:{options.proxy_port}"):
            proxy = serve_proxy(proxy_settings, catalog, wake_paused=wake_hook(api_app))
            tasks.append(asyncio.create_task(proxy, name="proxy"))
            await _port_open(options.host, options.proxy_port, tasks[-1])
        if options.build_defaults:
            await _build_defaults(api_app.state.ctx)
        plain = {
            "E2B_API_URL": f"http://{_reachable(options.host)}:{options.api_port}",
            "E2B_SANDBOX_URL": f"http://{_reachable(options.host)}:{options.proxy_port}",
        }
        exports = {"E2B_API_KEY": api_key, **plain}
        if certs is not None and options.domain is not None:
            https_settings = ProxySettings(
                host=options.host,
                port=options.https_port,
                domain=options.domain,
                tls_cert=certs.cert,
                tls_key=certs.key,
            )
            async with _step(
                f"HTTPS for *.{options.domain} on {options.host}:{options.https_port}"
            ):
                https = serve_proxy(
                    https_settings, catalog, wake_paused=wake_hook(api_app), api=api_app
                )
                tasks.append(asyncio.create_task(https, name="https"))
                await _port_open(options.host, options.https_port, tasks[-1])
            exports = {"E2B_API_KEY": api_key, "E2B_DOMAIN": str(options.e2b_domain)}
            if certs.trust_bundle is not None:
                exports["SSL_CERT_FILE"] = str(certs.trust_bundle)
        console.print("[bold]Corral is up.[/bold] Point the E2B SDK at it:")
        for name, value in exports.items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        if certs is not None:
            _explain_domain(options, certs, plain)
        if ready is not None:
            ready(exports)
        await _wait_for_signal(tasks)
    finally:
        api.should_exit = True
        for task in tasks:
            if task.get_name() != "api":
                task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        await orchestrator.stop()
        console.print("Corral stopped; running sandboxes are kept for the next start.")


def wake_hook(api_app: FastAPI) -> WakePaused:
    """The proxy's auto-resume: the API's own (`corral.api.autoresume`, the connect route's
    resume), with its refusal in the proxy's words. The proxy never sees the orchestrator."""
    from corral.api.autoresume import wake
    from corral.api.errors import Forbidden
    from corral.proxy.errors import ResumeDenied

    async def wake_paused(request: WakeRequest) -> Route | None:
        try:
            return await wake(
                api_app.state.ctx,
                request.route,
                port=request.port,
                access_token=request.access_token,
            )
        except Forbidden as exc:
            raise ResumeDenied(exc.message, sandbox_id=request.route.sandbox_id) from exc

    return wake_paused


async def _build_defaults(ctx: ApiContext) -> None:
    """Build the default templates that are missing, with a progress bar per build."""
    from corral.api.defaults import DefaultBuildFailed, build_default, needs_build
    from corral.cli.progress import build_progress
    from corral.templates.defaults import DEFAULTS

    for template in DEFAULTS.values():
        if not await needs_build(ctx, template):
            continue
        with build_progress(console, f"building template {template.name}") as on_log:
            try:
                await build_default(ctx, template, on_log)
            except DefaultBuildFailed as exc:
                console.print(f"[red]✗[/red] template {template.name}: {exc}")
                continue
        console.print(f"[green]✓[/green] template {template.name} built")


def _server_certs(options: UpOptions) -> ServerCerts:
    from corral.tls import TlsSetupError, check_domain, given_certs, local_certs

    try:
        domain = check_domain(str(options.domain))
        if options.tls_cert is not None and options.tls_key is not None:
            return given_certs(options.tls_cert, options.tls_key, domain)
        return local_certs(options.data_dir / "tls", domain)
    except TlsSetupError as exc:
        console.print(f"[red]✗[/red] {exc}")
        raise SystemExit(2) from exc


def _explain_domain(options: UpOptions, certs: ServerCerts, plain: dict[str, str]) -> None:
    """What the exports above leave unsaid: DNS, trusting the CA, the plain HTTP ports.

    Commands go on lines of their own, never wrapped, so that they can be pasted.
    """

    def note(text: str) -> None:
        console.print(f"[dim]{escape(text)}[/dim]", soft_wrap=True)

    def command(text: str) -> None:
        console.print(f"  {text}", soft_wrap=True, markup=False, highlight=False)

    note(
        f"api.{options.domain} and *.{options.domain} must resolve to this machine (wildcard DNS)."
    )
    if certs.ca is not None:
        note(
            f"The certificate comes from Corral's local CA {certs.ca}; SSL_CERT_FILE above "
            "trusts it (and this machine's CAs) in one shell. To trust it machine-wide:"
        )
        command(
            f"cp {certs.ca} /usr/local/share/ca-certificates/corral.crt && update-ca-certificates"
        )
    note("Plain HTTP still answers too; the SDK prefers these over E2B_DOMAIN when they are set:")
    command("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in plain.items()))


def _reachable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104


async def _until(check: Callable[[], bool], task: asyncio.Task[Any], within: float = 30) -> None:
    for _ in range(int(within / 0.02)):
        if check():
            return
        if task.done():
            task.result()
            raise RuntimeError(f"{task.get_name()} stopped while starting")
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{task.get_name()} did not start within {within}s")


async def _port_open(host: str, port: int, task: asyncio.Task[Any]) -> None:
    async def probe() -> bool:
        try:
            _, writer = await asyncio.open_connection(_reachable(host), port)
        except OSError:
            return False
        writer.close()
        return True

    for _ in range(1500):
        if await probe():
            return
        if task.done():
            task.result()
            raise RuntimeError(f"{task.get_name()} stopped while starting")
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{task.get_name()} did not open port {port}")


async def _wait_for_signal(tasks: list[asyncio.Task[Any]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter:
                task.result()  # a component died: surface why
    finally:
        waiter.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(options: UpOptions, log_level: str = "warning") -> int:
    logs.configure(log_level)
    try:
        asyncio.run(run_up(options))
    except KeyboardInterrupt:
        return 130
    return 0
