"""`corral template …`: build, list, delete templates and read build logs, as E2B's CLI does.

User templates go through the control plane's REST API like any E2B client (a Dockerfile is
turned into E2B build steps by the official SDK, so COPY works); `--legacy` uses E2B's old
Dockerfile endpoint instead. The default templates (`base`, …) belong to the platform and are
built on the node directly, as `corral up` does.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from corral.settings import DEFAULT_DATA_DIR

template_app = typer.Typer(help="Build, list and delete sandbox templates.", no_args_is_help=True)
console = Console(stderr=True)

ApiUrl = Annotated[str, typer.Option(envvar="E2B_API_URL", help="Control plane URL.")]
ApiKey = Annotated[
    str | None,
    typer.Option(envvar="E2B_API_KEY", help="API key (default: the one `corral up` made)."),
]
DataDir = Annotated[Path, typer.Option(envvar="CORRAL_DATA_DIR", help="Corral's data directory.")]


def _key(api_key: str | None, data_dir: Path) -> str:
    if api_key:
        return api_key
    stored = data_dir / "up" / "api-key"
    if stored.is_file():
        return stored.read_text().strip()
    raise typer.BadParameter("set E2B_API_KEY (or run `corral up`, which makes one)")


def _client(api_url: str, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=api_url, headers={"X-API-KEY": api_key}, timeout=60)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        console.print(f"[red]✗[/red] {response.status_code}: {message}")
        raise typer.Exit(1)
    return response.json() if response.content else None


def _template_id(api: httpx.Client, name: str) -> str:
    """The id of the team's template with that id or name, whatever its builds' status (the
    alias lookup only finds templates with a ready build)."""
    for template in _check(api.get("/templates")):
        if name == template["templateID"] or name in (template.get("aliases") or []):
            return str(template["templateID"])
    return name


@template_app.command("build")
def build(
    name: Annotated[str, typer.Argument(help="Template name (alias), e.g. my-agent.")],
    dockerfile: Annotated[
        Path | None, typer.Option("--dockerfile", "-f", help="Default: e2b.Dockerfile, Dockerfile.")
    ] = None,
    path: Annotated[
        Path, typer.Option("--path", "-p", help="Build context (COPY sources).")
    ] = Path(),
    start_cmd: Annotated[str | None, typer.Option(help="Started in every new sandbox.")] = None,
    ready_cmd: Annotated[
        str | None, typer.Option(help="Exits 0 once the sandbox is ready.")
    ] = None,
    cpu_count: Annotated[int | None, typer.Option(help="vCPUs of its sandboxes.")] = None,
    memory_mb: Annotated[int | None, typer.Option(help="Memory of its sandboxes (MiB).")] = None,
    no_cache: Annotated[bool, typer.Option(help="Re-run every step.")] = False,
    legacy: Annotated[
        bool, typer.Option(help="E2B's legacy Dockerfile endpoint (no COPY).")
    ] = False,
    api_url: ApiUrl = "http://127.0.0.1:3000",
    api_key: ApiKey = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Build a template from a Dockerfile, or rebuild a default one (e.g. `base`)."""
    from corral.cli.progress import build_progress
    from corral.templates.defaults import DEFAULTS

    if dockerfile is None and name in DEFAULTS:
        raise typer.Exit(asyncio.run(_build_default(name, data_dir)))
    source = dockerfile or next(
        (p for p in (path / "e2b.Dockerfile", path / "Dockerfile") if p.is_file()), None
    )
    if source is None or not source.is_file():
        raise typer.BadParameter(
            "no Dockerfile: give --dockerfile (or put e2b.Dockerfile in --path)"
        )
    key = _key(api_key, data_dir)
    started = time.monotonic()
    with build_progress(console, f"building {name}", echo=True) as on_log:
        if legacy:
            _build_legacy(api_url, key, name, source.read_text(), start_cmd, ready_cmd, on_log)
        else:
            _build_steps(
                api_url,
                key,
                name,
                source,
                path,
                start_cmd,
                ready_cmd,
                cpu_count,
                memory_mb,
                no_cache,
                on_log,
            )
    console.print(f"[green]✓[/green] template {name} built in {time.monotonic() - started:.1f}s")


def _build_steps(
    api_url: str, key: str, name: str, source: Path, context: Path, start_cmd: str | None,
    ready_cmd: str | None, cpu_count: int | None, memory_mb: int | None, no_cache: bool,
    on_log: Any,
) -> None:  # fmt: skip
    from e2b import BuildException, Template

    template: Any = Template(file_context_path=str(context)).from_dockerfile(str(source))
    if start_cmd:
        template = template.set_start_cmd(start_cmd, ready_cmd or "true")
    elif ready_cmd:
        template = template.set_ready_cmd(ready_cmd)
    try:
        Template.build(
            template,
            name,
            cpu_count=cpu_count,
            memory_mb=memory_mb,
            skip_cache=no_cache,
            on_build_logs=lambda entry: on_log(entry.message),
            api_key=key,
            api_url=api_url,
        )
    except BuildException as exc:
        console.print(f"[red]✗[/red] build failed: {exc}")
        raise typer.Exit(1) from exc


def _build_legacy(
    api_url: str, key: str, name: str, dockerfile: str, start_cmd: str | None,
    ready_cmd: str | None, on_log: Any,
) -> None:  # fmt: skip
    body = {"dockerfile": dockerfile, "alias": name, "startCmd": start_cmd, "readyCmd": ready_cmd}
    with _client(api_url, key) as api:
        made = _check(api.post("/templates", json={k: v for k, v in body.items() if v}))
        status = _follow(api, made["templateID"], made["buildID"], on_log)
    if status["status"] != "ready":
        reason = (status.get("reason") or {}).get("message", "the build failed")
        console.print(f"[red]✗[/red] build failed: {reason}")
        raise typer.Exit(1)


def _follow(api: httpx.Client, template_id: str, build_id: str, on_log: Any) -> dict[str, Any]:
    offset = 0
    while True:
        status: dict[str, Any] = _check(
            api.get(
                f"/templates/{template_id}/builds/{build_id}/status", params={"logsOffset": offset}
            )
        )
        for entry in status["logEntries"]:
            on_log(entry["message"])
        offset += len(status["logEntries"])
        if status["status"] in ("ready", "error") and not status["logEntries"]:
            return status
        if not status["logEntries"]:
            time.sleep(0.3)


async def _build_default(name: str, data_dir: Path) -> int:
    """A platform template, built on the node through the same path as `corral up`."""
    from pydantic import SecretStr

    from corral.api.context import ApiContext
    from corral.api.db.database import Database
    from corral.api.db.store import Store
    from corral.api.defaults import DefaultBuildFailed, build_default
    from corral.api.nodes import Placement, StaticNodes
    from corral.api.settings import ApiSettings, NodeConfig
    from corral.api.template_builds import BuildWatchers
    from corral.catalog.memory import MemoryCatalog
    from corral.cli.progress import build_progress
    from corral.templates.defaults import DEFAULTS

    settings = ApiSettings(data_dir=data_dir)
    address_file = data_dir / "up" / "orchestrator-address"
    if "CORRAL_API_NODES" not in os.environ and address_file.is_file():
        settings.nodes = [NodeConfig(id="local", target=address_file.read_text().strip())]
    secret_file = data_dir / "up" / "orchestrator-secret"
    if settings.orchestrator_secret is None and secret_file.is_file():
        settings.orchestrator_secret = SecretStr(secret_file.read_text().strip())
    database = Database(settings.database)
    nodes = StaticNodes(settings)
    ctx = ApiContext(
        settings=settings,
        database=database,
        store=Store(database),
        nodes=nodes,
        catalog=MemoryCatalog(),
        placement=Placement(nodes),
    )
    ctx.build_watchers = BuildWatchers(ctx)
    try:
        with build_progress(console, f"building template {name}", echo=True) as on_log:
            await build_default(ctx, DEFAULTS[name], on_log)
    except DefaultBuildFailed as exc:
        console.print(f"[red]✗[/red] template {name}: {exc}")
        return 1
    finally:
        await ctx.build_watchers.close()
        await nodes.close()
        await database.dispose()
    console.print(f"[green]✓[/green] template {name} built")
    return 0


@template_app.command("list")
def list_templates(
    api_url: ApiUrl = "http://127.0.0.1:3000",
    api_key: ApiKey = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """The team's templates and the public ones."""
    with _client(api_url, _key(api_key, data_dir)) as api:
        templates = _check(api.get("/templates"))
    table = Table("ID", "names", "status", "vCPU", "memory", "build", "public")
    for t in templates:
        table.add_row(
            t["templateID"], ", ".join(t.get("aliases") or []), str(t.get("buildStatus", "")),
            str(t["cpuCount"]), f"{t['memoryMB']} MiB", t["buildID"][:8],
            "yes" if t["public"] else "",
        )  # fmt: skip
    Console().print(table)


@template_app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Template id or name.")],
    api_url: ApiUrl = "http://127.0.0.1:3000",
    api_key: ApiKey = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Delete one of the team's templates with all its builds."""
    with _client(api_url, _key(api_key, data_dir)) as api:
        _check(api.delete(f"/templates/{_template_id(api, name)}"))
    console.print(f"[green]✓[/green] template {name} deleted")


@template_app.command("logs")
def logs(
    name: Annotated[str, typer.Argument(help="Template id or name.")],
    build_id: Annotated[
        str | None, typer.Option("--build", help="Default: the latest build.")
    ] = None,
    api_url: ApiUrl = "http://127.0.0.1:3000",
    api_key: ApiKey = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Print a build's log (following it while it runs)."""
    with _client(api_url, _key(api_key, data_dir)) as api:
        template_id = _template_id(api, name)
        build = build_id or _check(api.get(f"/templates/{template_id}"))["buildID"]
        status = _follow(api, template_id, build, lambda line: print(line, flush=True))
    console.print(f"build {build}: {status['status']}")
    if status["status"] == "error":
        raise typer.Exit(1)


@template_app.command("base")
def base(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Make the offline Debian bookworm image with debootstrap (from this machine's apt
    sources) and import it into the node's image storage as `debian:bookworm`."""
    from corral.runtime.rootfs import ensure_base_rootfs_sync
    from corral.templates.buildah import Buildah, pick_driver

    rootfs = ensure_base_rootfs_sync(data_dir / "images" / "base" / "rootfs")

    async def do_import() -> None:
        root, runroot = (
            data_dir / "buildah",
            Path("/run") / os.environ.get("CORRAL_ORCHESTRATOR_INSTANCE", "corral") / "buildah",
        )
        driver = await pick_driver(root, runroot)
        buildah = Buildah(root / driver, runroot / driver, driver)
        await buildah.remove_image("docker.io/library/debian:bookworm")
        await buildah.import_rootfs(rootfs, "docker.io/library/debian:bookworm")
        await buildah.release_mounts()

    with console.status("importing debian:bookworm"):
        asyncio.run(do_import())
    console.print(f"[green]✓[/green] debian:bookworm imported from {rootfs}")
