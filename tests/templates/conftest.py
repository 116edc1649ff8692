"""Fixtures for builds against real components: buildah on the base root filesystem, a loopback
OCI registry (tests/templates/registry.py) and an S3-compatible server (tests/templates/s3.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from corral.templates.buildah import Buildah, pick_driver, unmount_under
from corral.templates.builder import Builder, BuildRequest
from corral.templates.images import BuiltTemplates, TemplateImage
from corral.templates.journal import BuildJournal, BuildState
from corral.templates.spec import parse_spec
from corral.templates.store import ArtifactStore, LocalDirStore
from tests.templates.registry import oci_layout, private_registry, public_registry
from tests.templates.s3 import aws_env, s3_server

__all__ = ["aws_env", "oci_layout", "private_registry", "public_registry", "s3_server"]

MakeBuilder = Callable[..., Awaitable[Builder]]


@pytest.fixture
async def make_builder(tmp_path: Path, base_rootfs: Path) -> AsyncIterator[MakeBuilder]:
    """`await make_builder(store=…)`: a Builder with real buildah in this test's directory
    (the sandbox check only records what it was given)."""
    if os.geteuid() != 0 or shutil.which("buildah") is None:
        pytest.skip("needs root and buildah (scripts/setup-host.sh installs it)")
    made: list[Builder] = []

    async def make(store: ArtifactStore | None = None) -> Builder:
        root, runroot = tmp_path / "storage", Path("/run/corral-test-buildah") / tmp_path.name
        driver = await pick_driver(root, runroot)
        checked: list[TemplateImage] = []

        async def check(image: TemplateImage) -> None:
            checked.append(image)

        builder = Builder(
            buildah=Buildah(root / driver, runroot / driver, driver),
            store=store or LocalDirStore(tmp_path / "artifacts"),
            journal=BuildJournal(tmp_path / "builds"),
            templates=BuiltTemplates(tmp_path / "templates"),
            work_dir=tmp_path / "work",
            resolve=lambda t, b: TemplateImage(key="base", rootfs=base_rootfs),
            check=check,
        )
        builder.checked = checked  # type: ignore[attr-defined]
        made.append(builder)
        return builder

    yield make
    for builder in made:
        await builder.close()
    unmount_under(tmp_path)
    shutil.rmtree(Path("/run/corral-test-buildah") / tmp_path.name, ignore_errors=True)


async def finish(builder: Builder, build_id: str, raw: dict[str, object]) -> BuildState:
    """Start a build and wait for it to end."""
    state = builder.start(BuildRequest(build_id, "tpl", parse_spec(raw)))
    for _ in range(1800):
        if state.status in ("ready", "error"):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError("build did not end")
