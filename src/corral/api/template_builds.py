"""Template builds on the control plane's side: signed upload URLs, starting builds on a node,
and one watcher per build that copies its log and final status into the database.

The database is what `GET …/status` answers from, so a poller never waits on a node, a build
outlives the client that started it, and a restarted API picks up the builds still running
(`resume_watchers`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from itertools import groupby

from corral import logs
from corral.api.context import ApiContext
from corral.api.errors import BadRequest, Unavailable
from corral.api.nodes import Node
from corral.envd import ENVD_VERSION
from corral.orchestrator.errors import BuildNotFound, OrchestratorError

log = logs.get("api.builds")

UPLOAD_URL_SECONDS = 3600
POLL_SECONDS = 0.25
NODE_PREFIX = "node:"


def _key(ctx: ApiContext) -> bytes:
    return ctx.settings.signing_key_bytes()


def upload_signature(ctx: ApiContext, template_id: str, files_hash: str, expires: int) -> str:
    message = f"{template_id}:{files_hash}:{expires}".encode()
    return hmac.new(_key(ctx), message, hashlib.sha256).hexdigest()


def check_upload(
    ctx: ApiContext, template_id: str, files_hash: str, expires: int, signature: str
) -> None:
    if expires < time.time():
        raise BadRequest("the upload URL has expired")
    wanted = upload_signature(ctx, template_id, files_hash, expires)
    if not hmac.compare_digest(wanted, signature):
        raise BadRequest("the upload URL's signature is not valid")


def node_of(rootfs: str | None) -> str | None:
    """Which node a build runs (or ran) on: kept in the build's `rootfs` reference."""
    if rootfs and rootfs.startswith(NODE_PREFIX):
        return rootfs.removeprefix(NODE_PREFIX)
    return None


async def start_on_node(
    ctx: ApiContext,
    build_id: str,
    template_id: str,
    spec: dict[str, object],
    base_template_id: str = "",
    base_build_id: str = "",
) -> Node:
    node = await ctx.placement.pick()
    try:
        await node.client.start_build(
            build_id,
            template_id,
            json.dumps(spec),
            base_template_id=base_template_id,
            base_build_id=base_build_id,
        )
    except OrchestratorError as exc:
        if type(exc).__name__ == "InvalidRequest":
            raise BadRequest(str(exc)) from exc
        raise Unavailable(f"the build could not start: {exc}") from exc
    return node


async def remove_from_nodes(ctx: ApiContext, builds: list[tuple[str, str | None]]) -> None:
    """Stop and remove builds on the nodes that have them; a node that cannot be reached is
    logged (its leftovers are unreachable: nothing names those builds any more)."""
    for build_id, node_id in builds:
        node = ctx.nodes.node(node_id) if node_id else None
        if node is None:
            continue
        try:
            await node.client.delete_build(build_id)
        except OrchestratorError as exc:
            log.warning("removing a build from its node failed", build_id=build_id, error=str(exc))


class BuildWatchers:
    """One task per build in progress, polling its node until the build ends."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, build_id: str, node: Node) -> None:
        if build_id in self._tasks:
            return
        task = asyncio.create_task(self._follow(build_id, node), name=f"watch-build-{build_id}")
        self._tasks[build_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(build_id, None))

    async def resume(self) -> None:
        for build in await self.ctx.store.builds_in_progress():
            node = self.ctx.nodes.node(node_of(build.rootfs) or "")
            if node is None:
                await self._end(build.id, "error", "the node that ran this build is gone")
                continue
            self.watch(build.id, node)

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _follow(self, build_id: str, node: Node) -> None:
        store = self.ctx.store
        offset = await store.build_log_count(build_id)
        failures = 0
        while True:
            try:
                info = await node.client.get_build(build_id, offset, 500)
            except BuildNotFound:
                await self._end(build_id, "error", "the node lost this build (restarted?)")
                return
            except OrchestratorError as exc:
                failures += 1
                if failures % 20 == 1:
                    log.warning("build status unavailable", build_id=build_id, error=str(exc))
                await asyncio.sleep(min(5.0, POLL_SECONDS * failures))
                continue
            failures = 0
            for (level, step), entries in groupby(info.logs, key=lambda e: (e.level, e.step)):
                messages = [e.message for e in entries]
                await store.append_build_logs(build_id, level, messages, step=step or None)
            offset += len(info.logs)
            if info.status in ("ready", "error") and offset >= info.logs_total:
                reason = info.reason or None
                await self._end(build_id, info.status, reason)
                return
            if not info.logs:
                await asyncio.sleep(POLL_SECONDS)

    async def _end(self, build_id: str, status: str, reason: str | None) -> None:
        await self.ctx.store.update_build(
            build_id,
            status="ready" if status == "ready" else "error",
            reason=reason,
            envd_version=ENVD_VERSION if status == "ready" else None,
            finished=True,
        )
        if status == "ready":
            await self.ctx.store.tag_ready_build(build_id)  # its tags now name it
        self.ctx.forget_templates()
        log.info("build ended", build_id=build_id, status=status, reason=reason)
