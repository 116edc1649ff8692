from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.templates.errors import ArtifactNotFound, TemplateError
from corral.templates.images import BuiltTemplates, TemplateImage
from corral.templates.journal import BuildJournal
from corral.templates.store import LocalDirStore, open_store


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_local_store_round_trip(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "a")
    assert not await store.exists("files/x")
    assert await store.put("files/x", _chunks(b"he", b"llo")) == 5
    assert await store.exists("files/x")
    await store.fetch("files/x", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b"hello"
    await store.delete("files/x")
    with pytest.raises(ArtifactNotFound):
        await store.fetch("files/x", tmp_path / "copy2")


async def test_failed_upload_leaves_nothing(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await store.put("files/y", broken())
    assert not await store.exists("files/y")
    assert list((tmp_path / "files").iterdir()) == []


@pytest.mark.parametrize("key", ["", "/abs", "files/../x", "files//x", "./x"])
async def test_keys_cannot_escape(tmp_path: Path, key: str) -> None:
    with pytest.raises(TemplateError):
        await LocalDirStore(tmp_path).exists(key)


def test_open_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store(f"file://{tmp_path}"), LocalDirStore)
    assert isinstance(open_store(str(tmp_path)), LocalDirStore)
    with pytest.raises(TemplateError):
        open_store("ftp://x/y")


def test_journal_survives_a_restart_and_ends_interrupted_builds(tmp_path: Path) -> None:
    journal = BuildJournal(tmp_path)
    done = journal.open("b1", "t1")
    journal.log(done, "step one", step="step-0")
    journal.set_status(done, "ready", result={"user": "user"})
    running = journal.open("b2", "t1")
    journal.set_status(running, "building")
    journal.log(running, "halfway")

    again = BuildJournal(tmp_path)
    b1 = again.get("b1")
    assert b1 is not None and b1.status == "ready" and b1.result == {"user": "user"}
    assert [(e.message, e.step) for e in b1.logs] == [("step one", "step-0")]
    b2 = again.get("b2")
    assert b2 is not None and b2.status == "error"
    assert "interrupted" in (b2.reason or "")
    assert b2.logs[-1].level == "error"
    assert again.get("../b1") is None and again.get("missing") is None


def test_built_templates_are_found_only_once_published(tmp_path: Path) -> None:
    built = BuiltTemplates(tmp_path)
    (tmp_path / "b1" / "rootfs").mkdir(parents=True)
    assert built.find("b1") is None  # exported, not yet published
    image = TemplateImage("b1", tmp_path / "b1" / "rootfs", {"A": "1"}, "user", "/w", "s", "r")
    built.publish(image, {"image_id": "abc"})
    assert BuiltTemplates(tmp_path).find("b1") == image
    built.remove("b1")
    assert built.find("b1") is None and not (tmp_path / "b1").exists()
