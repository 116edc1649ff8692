"""A node's template builder: build spec → buildah image → exported root filesystem → checked.

One build at a time per node (builds are CPU- and disk-heavy; sandbox traffic comes first,
and buildah runs niced). Each build runs as a background task and reports through its
journal; whatever it fails at, it leaves no published template and no image tag behind.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tarfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from corral import logs
from corral.templates.buildah import Buildah, link_tree
from corral.templates.cache import FetchCache
from corral.templates.containerfile import files_dir, render, render_finish
from corral.templates.errors import ArtifactNotFound, BuildFailed, TemplateError
from corral.templates.images import SNAPSHOT, BuiltTemplates, TemplateImage
from corral.templates.journal import BuildJournal, BuildState
from corral.templates.registry import explain_pull_error, from_images, pull_access
from corral.templates.spec import DEFAULT_USER, DEFAULT_WORKDIR, BuildSpec
from corral.templates.store import ArtifactStore, LocalDirStore

log = logs.get("templates.builder")

BASE_ALIASES = ("e2bdev/base", "e2bdev/base:latest", "docker.io/e2bdev/base")
"""`Template().from_base_image()`: E2B's base image is Corral's `base` template."""
STEP_LINE = re.compile(r"^STEP (\d+)/(\d+): ")

CheckTemplate = Callable[[TemplateImage], Awaitable[dict[str, object] | None]]
"""Starts a sandbox from a freshly exported template, runs its start and ready commands, and
raises if the sandbox does not come up ready (the node's launcher provides it). Where the
runtime can, it then saves the sandbox as the template's snapshot (`<build>/snapshot`) and
answers what the manifest must say about it (`snapshot_key`)."""
ResolveTemplate = Callable[[str, str], TemplateImage]
"""(template id, build id) → a template this node can start (for `fromTemplate`)."""


@dataclass(frozen=True)
class BuildRequest:
    build_id: str
    template_id: str
    spec: BuildSpec
    base_template_id: str = ""
    base_build_id: str = ""


def image_tag(build_id: str) -> str:
    return f"localhost/corral/build:{build_id.lower()}"


class Builder:
    def __init__(
        self,
        *,
        buildah: Buildah,
        store: ArtifactStore,
        journal: BuildJournal,
        templates: BuiltTemplates,
        work_dir: Path,
        resolve: ResolveTemplate,
        check: CheckTemplate,
        cache_dir: Path | None = None,
    ) -> None:
        self.buildah = buildah
        self.store = store
        self.fetched = (
            None
            if isinstance(store, LocalDirStore)
            else FetchCache(store, cache_dir or work_dir / ".artifact-cache")
        )
        """A remote store's files are fetched once per node (content-addressed: never stale)."""
        self.journal = journal
        self.templates = templates
        self.work_dir = work_dir
        self.resolve = resolve
        self.check = check
        self._slot = asyncio.Semaphore(1)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.ca_bundle: Path | None = None
        """The node's CA bundle, seen by RUN steps in place of the image's: a build reaches
        what the node reaches (package indexes behind a TLS-inspecting proxy included), and
        the image is left as it was."""
        self.offline_images: dict[str, Path] = {}
        """Image name → root filesystem to import under that name when missing (offline base
        images: `docker.io/library/debian:bookworm` from the node's debootstrap base)."""

    def start(self, request: BuildRequest) -> BuildState:
        """Record the build as waiting and run it in the background; returns at once."""
        existing = self.journal.get(request.build_id)
        if existing is not None:
            return existing
        state = self.journal.open(request.build_id, request.template_id)
        task = asyncio.create_task(self._run(state, request), name=f"build-{request.build_id}")
        self._tasks[request.build_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(request.build_id, None))
        return state

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def delete(self, build_id: str, *, keep_files: bool = False) -> None:
        """Stop the build if it runs, unpublish it and drop its image; its root filesystem
        too unless `keep_files` (sandboxes still run on it: `sweep` removes it later)."""
        task = self._tasks.get(build_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if keep_files:
            self.templates.unpublish(build_id)
        else:
            self.templates.remove(build_id)
        await self.buildah.remove_image(image_tag(build_id))

    async def _run(self, state: BuildState, request: BuildRequest) -> None:
        say = self.journal.log
        started = time.monotonic()
        try:
            async with self._slot:
                self.journal.set_status(state, "building")
                say(state, f"Building template {request.template_id}, build {request.build_id}")
                result = await self._build(state, request)
            elapsed = time.monotonic() - started
            say(state, f"Build finished in {elapsed:.1f}s")
            self.journal.set_status(state, "ready", result=result)
        except asyncio.CancelledError:
            self._fail(state, request, "the build was cancelled", None)
            raise
        except BuildFailed as exc:
            self._fail(state, request, exc.reason, exc.step)
        except Exception as exc:  # every failure must end the build with a reason
            log.exception("build crashed", build_id=request.build_id)
            self._fail(state, request, f"internal error: {exc}", None)

    def _fail(
        self, state: BuildState, request: BuildRequest, reason: str, step: str | None
    ) -> None:
        self.journal.log(state, f"Build failed: {reason}", level="error", step=step)
        self.journal.set_status(state, "error", reason=reason, step=step)
        self.templates.remove(request.build_id)
        cleanup = asyncio.ensure_future(self.buildah.remove_image(image_tag(request.build_id)))
        cleanup.add_done_callback(lambda _: None)

    async def _import_offline_images(self, state: BuildState) -> None:
        for name, rootfs in self.offline_images.items():
            if rootfs.is_dir() and not await self.buildah.exists(name):
                self.journal.log(state, f"Importing the offline base image {name}")
                await self.buildah.import_rootfs(rootfs, name)

    async def _build(self, state: BuildState, request: BuildRequest) -> dict[str, object]:
        spec = request.spec
        await self._import_offline_images(state)
        context = self.work_dir / request.build_id
        shutil.rmtree(context, ignore_errors=True)
        context.mkdir(parents=True)
        try:
            await self._fetch_files(state, spec, context)
            tag = image_tag(request.build_id)
            if spec.dockerfile is not None:
                user, workdir = await self._bud_dockerfile(state, spec, context, tag)
            else:
                base = await self._base_image(state, request)
                rendered = render(spec, base)
                (context / "Containerfile").write_text(rendered.text)
                await self._bud(state, context, tag, rendered.step_names, spec, [base])
                user, workdir = rendered.user, rendered.workdir
        finally:
            shutil.rmtree(context, ignore_errors=True)
        config = await self.buildah.config(tag)
        twin = self.templates.same_image(config.image_id, exclude=request.build_id)
        image = await self._export(state, request, config.env, user, workdir, twin)
        checked: dict[str, object] = {}
        same_commands = twin is not None and (twin.start_cmd, twin.ready_cmd) == (
            image.start_cmd,
            image.ready_cmd,
        )
        if twin is not None and same_commands:
            self.journal.log(state, f"Same image and commands as build {twin.key}: already checked")
            if twin.snapshot is not None:
                await link_tree(twin.snapshot, image.rootfs.parent / SNAPSHOT)
                checked["snapshot_key"] = twin.snapshot_key
        else:
            self.journal.log(state, "Starting a sandbox from the template to check it")
            try:
                checked = await self.check(image) or {}
            except TemplateError:
                raise
            except Exception as exc:
                raise BuildFailed(
                    f"the template's sandbox did not become ready: {exc}", "finalize"
                ) from exc
            if checked.get("snapshot_key"):
                self.journal.log(state, "Saved the ready sandbox as the template's snapshot")
        size = await asyncio.to_thread(_tree_size, image.rootfs)
        result: dict[str, object] = {
            **checked,
            "template_id": request.template_id,
            "image_id": config.image_id,
            "rootfs_bytes": size,
            "user": user,
            "workdir": workdir,
        }
        self.templates.publish(image, result)
        self.journal.log(
            state, f"Template ready: {size / 2**20:.0f} MiB, image {config.image_id[:12]}"
        )
        return result

    async def _fetch_files(self, state: BuildState, spec: BuildSpec, context: Path) -> None:
        hashes = spec.files_hashes()
        if spec.dockerfile is not None and spec.steps == [] and hashes == []:
            return
        cached = 0
        for files_hash in dict.fromkeys(hashes):
            archive = context / f"{files_hash}.tar"
            key = f"files/{files_hash}"
            try:
                if self.fetched is None:
                    await self.store.fetch(key, archive)
                else:
                    cached += await self.fetched.fetch(key, archive)
            except ArtifactNotFound as exc:
                raise BuildFailed(
                    f"COPY files {files_hash[:12]} were never uploaded: {exc}"
                ) from exc
            except TemplateError as exc:
                raise BuildFailed(f"fetching COPY files {files_hash[:12]} failed: {exc}") from exc
            target = context / files_dir(files_hash)
            target.mkdir(parents=True)
            await asyncio.to_thread(_extract, archive, target)
            archive.unlink()
        if hashes:
            from_cache = f" ({cached} from this node's cache)" if self.fetched else ""
            self.journal.log(
                state, f"Fetched {len(set(hashes))} file archive(s) for COPY steps{from_cache}"
            )

    async def _base_image(self, state: BuildState, request: BuildRequest) -> str:
        spec = request.spec
        if spec.from_template or not spec.from_image or spec.from_image in BASE_ALIASES:
            template_id = spec.from_template or request.base_template_id or "base"
            source = self.resolve(request.base_template_id or template_id, request.base_build_id)
            built = image_tag(source.key)
            if await self.buildah.exists(built):
                return built
            imported = f"localhost/corral/template:{source.key.lower()}"
            if not await self.buildah.exists(imported):
                self.journal.log(state, f"Importing template {template_id} as a base image")
                await self.buildah.import_rootfs(source.rootfs, imported)
            return imported
        return spec.from_image

    async def _bud(
        self,
        state: BuildState,
        context: Path,
        tag: str,
        names: list[str],
        spec: BuildSpec,
        images: list[str],
    ) -> None:
        """Build `context/Containerfile`, whose FROM lines name `images` (registry.py says how
        they are pulled and how credentials reach the one registry they are for)."""
        current: list[str | None] = [None]
        with pull_access(images, self.offline_images, spec, self.work_dir) as access:

            def sink(line: str) -> None:
                match = STEP_LINE.match(line)
                if match:
                    index = int(match.group(1)) - 1
                    current[0] = names[index] if index < len(names) else None
                self.journal.log(state, access.redact(line), step=current[0])

            try:
                await self.buildah.bud(
                    context,
                    context / "Containerfile",
                    tag,
                    sink=sink,
                    no_cache=spec.force,
                    pull=access.pull,
                    authfile=access.authfile,
                    tls_verify=access.tls_verify,
                    ca_bundle=self.ca_bundle,
                )
            except BuildFailed as exc:
                reason = _failure_reason(state, exc.reason)
                reason = explain_pull_error(reason, access.authfile is not None)
                raise BuildFailed(access.redact(reason), current[0]) from exc

    async def _bud_dockerfile(
        self, state: BuildState, spec: BuildSpec, context: Path, tag: str
    ) -> tuple[str, str]:
        assert spec.dockerfile is not None
        (context / "Containerfile").write_text(spec.dockerfile)
        await self._bud(state, context, f"{tag}-user", [], spec, from_images(spec.dockerfile))
        (context / "Containerfile").write_text(render_finish(f"{tag}-user"))
        await self._bud(state, context, tag, ["finalize"] * 3, spec, [f"{tag}-user"])
        return DEFAULT_USER, DEFAULT_WORKDIR

    async def _export(
        self,
        state: BuildState,
        request: BuildRequest,
        env: dict[str, str],
        user: str,
        workdir: str,
        twin: TemplateImage | None,
    ) -> TemplateImage:
        target = self.templates.directory / request.build_id
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        if twin is not None:
            # Root filesystems are read-only lower layers: hard links share them safely, and
            # outlive the other build's deletion.
            self.journal.log(state, f"Same image as build {twin.key}: linking its root filesystem")
            await link_tree(twin.rootfs, target / "rootfs")
        else:
            self.journal.log(state, "Exporting the root filesystem")
            await self.buildah.export_rootfs(image_tag(request.build_id), target / "rootfs")
        return TemplateImage(
            key=request.build_id,
            rootfs=target / "rootfs",
            env=env,
            user=user,
            workdir=workdir,
            start_cmd=request.spec.start_cmd,
            ready_cmd=request.spec.ready_cmd,
        )


def _failure_reason(state: BuildState, reason: str) -> str:
    """buildah's own last error line says more than its exit code."""
    for entry in reversed(state.logs[-30:]):
        text = entry.message.strip()
        if text.startswith(("error", "Error")) or "error building at STEP" in text:
            return text
    return reason


def _extract(archive: Path, target: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")


def _tree_size(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.lstat().st_size
        except OSError:
            continue
    return total
