"""Building the platform's default templates (`base`, …) on the node, as `corral up` does on
first start and `corral template build base` does on demand.

A default template is public and owned by no team, so it is built here rather than through a
team's `POST /v3/templates`. A build is skipped when the template's latest ready build was
made from the same spec; the template keeps serving its previous build until the new one is
ready, and a failed build changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from corral.api.context import ApiContext
from corral.api.template_builds import NODE_PREFIX, start_on_node
from corral.templates.defaults import DefaultTemplate
from corral.templates.spec import parse_spec
from corral.templates.store import open_store

LogSink = Callable[[str], None]


class DefaultBuildFailed(Exception):
    pass


async def needs_build(ctx: ApiContext, template: DefaultTemplate) -> bool:
    builds = await ctx.store.list_builds(template.name)
    return not any(b.status == "ready" and b.spec == _canonical(template) for b in builds)


def _canonical(template: DefaultTemplate) -> dict[str, object]:
    return parse_spec(template.spec).model_dump(by_alias=True, exclude_none=True)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def build_default(
    ctx: ApiContext, template: DefaultTemplate, on_log: LogSink | None = None
) -> str:
    """Build it now and wait; the build id. Raises `DefaultBuildFailed` with the reason."""
    spec = _canonical(template)
    await ctx.store.ensure_platform_template(template.name)
    build = await ctx.store.create_build(
        template.name,
        vcpu=template.vcpu,
        memory_mb=template.memory_mb,
        disk_mb=template.disk_mb,
        spec=spec,
    )
    store = open_store(ctx.settings.artifacts_url)
    for files_hash, archive in template.files.items():
        if not await store.exists(f"files/{files_hash}"):
            await store.put(f"files/{files_hash}", _once(archive()))
    base_template = base_build = ""
    parent = spec.get("fromTemplate")
    if isinstance(parent, str):
        found = await ctx.store.resolve_template(None, parent)
        if found is None:
            raise DefaultBuildFailed(f"template {parent} to build {template.name} from is missing")
        base_template, base_build = found.id, found.build_id
    node = await start_on_node(ctx, build.id, template.name, spec, base_template, base_build)
    await ctx.store.update_build(build.id, status="building", rootfs=f"{NODE_PREFIX}{node.id}")
    ctx.build_watchers.watch(build.id, node)
    offset = 0
    while True:
        for line in await ctx.store.build_logs(build.id, offset):
            offset += 1
            if on_log is not None:
                on_log(line.message)
        current = await ctx.store.get_build(build.id)
        finished = current is not None and current.status in ("ready", "error")
        if finished and offset >= await ctx.store.build_log_count(build.id):
            assert current is not None
            if current.status == "error":
                raise DefaultBuildFailed(current.reason or "the build failed")
            ctx.forget_templates()
            return build.id
        await asyncio.sleep(0.3)
