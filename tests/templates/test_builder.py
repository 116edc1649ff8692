"""The builder with real buildah (chroot isolation, this host's storage driver) on the base
root filesystem; the sandbox check is the node's job and is replaced by a recorder here."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.templates.buildah import Buildah, pick_driver, unmount_under
from corral.templates.builder import Builder, BuildRequest, image_tag
from corral.templates.errors import BuildFailed
from corral.templates.images import BuiltTemplates, TemplateImage
from corral.templates.journal import BuildJournal, BuildState
from corral.templates.spec import parse_spec
from corral.templates.store import LocalDirStore

pytestmark = pytest.mark.root
HASH = "cd" * 32


@pytest.fixture
async def builder(tmp_path: Path, base_rootfs: Path) -> AsyncIterator[Builder]:
    if os.geteuid() != 0 or shutil.which("buildah") is None:
        pytest.skip("needs root and buildah (scripts/setup-host.sh installs it)")
    root, runroot = tmp_path / "storage", Path("/run/corral-test-buildah") / tmp_path.name
    driver = await pick_driver(root, runroot)
    checked: list[TemplateImage] = []

    async def check(image: TemplateImage) -> None:
        checked.append(image)
        if image.ready_cmd == "false":
            raise BuildFailed("ready command did not succeed", "finalize")

    b = Builder(
        buildah=Buildah(root / driver, runroot / driver, driver),
        store=LocalDirStore(tmp_path / "artifacts"),
        journal=BuildJournal(tmp_path / "builds"),
        templates=BuiltTemplates(tmp_path / "templates"),
        work_dir=tmp_path / "work",
        resolve=lambda t, b: TemplateImage(key="base", rootfs=base_rootfs),
        check=check,
    )
    b.checked = checked  # type: ignore[attr-defined]
    yield b
    await b.close()
    unmount_under(tmp_path)
    shutil.rmtree(runroot, ignore_errors=True)


async def _finish(builder: Builder, build_id: str, raw: dict[str, object]) -> BuildState:
    state = builder.start(BuildRequest(build_id, "tpl", parse_spec(raw)))
    for _ in range(1200):
        if state.status in ("ready", "error"):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError("build did not end")


async def _upload(builder: Builder, files: dict[str, bytes]) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))

    async def one() -> AsyncIterator[bytes]:
        yield data.getvalue()

    await builder.store.put(f"files/{HASH}", one())


async def test_build_exports_a_published_template(builder: Builder) -> None:
    await _upload(builder, {"conf/a.txt": b"A", "conf/b.txt": b"B"})
    state = await _finish(
        builder,
        "b-ok",
        {
            "steps": [
                {"type": "COPY", "args": ["conf", "/etc/app"], "filesHash": HASH},
                {"type": "ENV", "args": ["K", "v"]},
                {"type": "RUN", "args": ["cat /etc/app/a.txt /etc/app/b.txt > /tmp/ab"]},
            ],
            "startCmd": "sleep 5",
            "readyCmd": "true",
        },
    )
    assert state.status == "ready", state.reason
    image = builder.templates.find("b-ok")
    assert image is not None and image.env["K"] == "v"
    assert (image.rootfs / "tmp" / "ab").read_text() == "AB"
    assert (image.rootfs / "home" / "user").is_dir()
    assert image.start_cmd == "sleep 5" and image.user == "user"
    assert builder.checked == [image]  # type: ignore[attr-defined]
    assert {e.step for e in state.logs if e.message.startswith("STEP")} >= {
        "base",
        "step-0",
        "step-2",
    }


async def test_failed_check_leaves_no_template_or_image(builder: Builder) -> None:
    state = await _finish(builder, "b-notready", {"startCmd": "sleep 1", "readyCmd": "false"})
    assert state.status == "error" and state.reason_step == "finalize"
    assert builder.templates.find("b-notready") is None
    assert not (builder.templates.directory / "b-notready").exists()
    for _ in range(50):  # the image is removed in the background
        if not await builder.buildah.exists(image_tag("b-notready")):
            break
        await asyncio.sleep(0.1)
    assert not await builder.buildah.exists(image_tag("b-notready"))


async def test_failing_step_is_named_in_the_reason(builder: Builder) -> None:
    state = await _finish(
        builder,
        "b-fail",
        {"steps": [{"type": "RUN", "args": ["true"]}, {"type": "RUN", "args": ["exit 7"]}]},
    )
    assert state.status == "error"
    assert state.reason_step == "step-1"
    assert "exit status 7" in (state.reason or "")
    assert state.logs[-1].level == "error"


async def test_identical_rebuild_shares_the_root_filesystem(builder: Builder) -> None:
    spec = {"steps": [{"type": "RUN", "args": ["echo same > /tmp/same"]}], "readyCmd": "true"}
    first = await _finish(builder, "b-first", spec)
    second = await _finish(builder, "b-second", spec)
    assert first.status == second.status == "ready", (first.reason, second.reason)
    assert any("linking its root filesystem" in e.message for e in second.logs)
    assert any("already checked" in e.message for e in second.logs)
    a = builder.templates.find("b-first")
    b = builder.templates.find("b-second")
    assert a is not None and b is not None
    assert (a.rootfs / "tmp/same").stat().st_ino == (b.rootfs / "tmp/same").stat().st_ino
    builder.templates.remove("b-first")  # the other build keeps its files
    assert (b.rootfs / "tmp/same").read_text() == "same\n"
    assert len(builder.checked) == 1  # type: ignore[attr-defined]
