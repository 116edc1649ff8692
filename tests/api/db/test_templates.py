"""Templates: registration, name resolution, visibility, builds and their logs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from corral.api.db.errors import AlreadyExists, ReferenceNotFound
from corral.api.db.records import TeamRecord
from corral.api.db.store import Store, template_name

BASE: dict[str, Any] = {
    "team_id": None,
    "public": True,
    "aliases": ["base"],
    "vcpu": 2,
    "memory_mb": 512,
    "disk_mb": 2048,
    "envd_version": "0.6.5",
    "rootfs": "/var/lib/corral/templates/base",
}


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("base", "base"),
        ("rki5dems9wqfm4r03t7g", "rki5dems9wqfm4r03t7g"),
        ("base:default", "base"),
        ("acme/base", "base"),
        ("acme/base:default", "base"),
        (" base ", "base"),
        ("base:v2", "base"),
        ("acme/base:V1.2 ", "base"),
        ("base:no/tag", None),
        ("base:", None),
        ("acme/", None),
        ("", None),
    ],
)
def test_template_name(ref: str, name: str | None) -> None:
    assert template_name(ref) == name


async def test_register_and_resolve(store: Store) -> None:
    team = await store.create_team("t")
    made = await store.register_template("base-v1", **BASE, start_cmd="jupyter", ready_cmd="true")
    assert (made.id, made.team_id, made.public, made.aliases) == ("base-v1", None, True, ("base",))
    assert (made.vcpu, made.memory_mb, made.disk_mb) == (2, 512, 2048)
    assert (made.envd_version, made.rootfs) == ("0.6.5", BASE["rootfs"])
    assert (made.start_cmd, made.ready_cmd, made.build_status) == ("jupyter", "true", "ready")
    assert (made.spawn_count, made.last_spawned_at, made.build_count) == (0, None, 1)
    for ref in ("base-v1", "base", "base:default", "e2b/base", "e2b/base:default"):
        assert await store.resolve_template(team.id, ref) == made, ref
    assert await store.resolve_template(None, "base") == made
    assert await store.resolve_template(team.id, "base:v2") is None
    assert await store.resolve_template(team.id, "missing") is None


async def test_register_is_idempotent_and_records_changes(store: Store) -> None:
    first = await store.register_template("base-v1", **BASE)
    again = await store.register_template("base-v1", **BASE)
    assert again == first
    changed = await store.register_template("base-v1", **{**BASE, "rootfs": "/new", "vcpu": 4})
    assert changed.build_id != first.build_id
    assert (changed.rootfs, changed.vcpu, changed.build_count) == ("/new", 4, 2)
    assert changed.created_at == first.created_at
    assert changed.updated_at >= first.updated_at
    renamed = await store.register_template("base-v1", **{**BASE, "rootfs": "/new", "vcpu": 4})
    assert renamed.build_id == changed.build_id
    moved = await store.register_template("base-v1", **{**BASE, "aliases": ["b", "base2"]})
    assert moved.aliases == ("b", "base2")
    assert await store.alias_owner("base") is None
    assert await store.resolve_template(None, "base") is None


async def test_register_refuses_taken_or_bad_names(store: Store) -> None:
    await store.register_template("base-v1", **BASE)
    with pytest.raises(AlreadyExists):
        await store.register_template("other", **BASE)  # alias "base" is taken
    with pytest.raises(AlreadyExists):
        await store.register_template("other", **{**BASE, "aliases": ["base-v1"]})
    assert await store.get_template(None, "other") is None
    with pytest.raises(ValueError, match="invalid template name"):
        await store.register_template("x", **{**BASE, "aliases": ["a:b"]})
    with pytest.raises(ValueError, match="invalid template name"):
        await store.register_template("ns/x", **BASE)
    with pytest.raises(ReferenceNotFound):
        await store.register_template("x", **{**BASE, "team_id": "missing", "aliases": []})


async def _two_teams(store: Store) -> tuple[TeamRecord, TeamRecord]:
    return await store.create_team("mine"), await store.create_team("theirs")


async def test_visibility(store: Store) -> None:
    mine, theirs = await _two_teams(store)
    await store.register_template("base-v1", **BASE)
    await store.register_template("hidden", **{**BASE, "public": False, "aliases": ["hid"]})
    await store.register_template(
        "private", **{**BASE, "team_id": mine.id, "public": False, "aliases": ["priv"]}
    )
    await store.register_template(
        "shared", **{**BASE, "team_id": theirs.id, "public": True, "aliases": ["pub"]}
    )
    for ref in ("private", "priv", "shared", "pub", "base"):
        assert await store.resolve_template(mine.id, ref) is not None, ref
    for template_id in ("private", "shared", "base-v1"):
        assert await store.get_template(mine.id, template_id) is not None, template_id
    for ref in ("private", "priv", "hidden", "hid"):
        assert await store.resolve_template(theirs.id, ref) is None, ref
    assert await store.get_template(theirs.id, "private") is None
    assert await store.get_template(None, "hidden") is None

    assert [t.id for t in await store.list_templates(mine.id)] == ["base-v1", "private", "shared"]
    assert [t.id for t in await store.list_templates(theirs.id)] == ["base-v1", "shared"]
    assert [t.id for t in await store.list_templates(mine.id, include_public=False)] == ["private"]
    assert [t.id for t in await store.list_templates(None, include_public=False)] == [
        "base-v1",
        "hidden",
    ]

    assert await store.alias_owner("priv") == (mine.id, False)
    assert await store.alias_owner("pub") == (theirs.id, True)
    assert await store.alias_owner("base") == (None, True)
    assert await store.alias_owner("private") is None  # an id, not an alias
    assert await store.alias_owner("nope") is None


async def test_delete_template_of_the_team_only(store: Store) -> None:
    mine, theirs = await _two_teams(store)
    await store.register_template("base-v1", **BASE)
    made = await store.register_template(
        "private", **{**BASE, "team_id": mine.id, "public": False, "aliases": ["priv"]}
    )
    await store.append_build_log(made.build_id, "info", "done")
    assert not await store.delete_template(theirs.id, "private")
    assert not await store.delete_template(mine.id, "base-v1")  # the platform's
    assert await store.delete_template(mine.id, "private")
    assert not await store.delete_template(mine.id, "private")
    assert await store.get_template(mine.id, "private") is None
    assert await store.alias_owner("priv") is None
    assert await store.get_build(made.build_id) is None  # builds and logs go with it
    assert await store.build_logs(made.build_id) == []
    assert await store.resolve_template(mine.id, "base") is not None


async def test_record_spawn(store: Store) -> None:
    await store.register_template("base-v1", **BASE)
    await store.record_spawn("base-v1")
    await store.record_spawn("base-v1")
    await store.record_spawn("missing")  # nothing to count: no error
    got = await store.get_template(None, "base-v1")
    assert got is not None and got.spawn_count == 2
    assert got.last_spawned_at is not None and got.last_spawned_at >= got.created_at


async def test_build_lifecycle(store: Store) -> None:
    team, other = await _two_teams(store)
    made = await store.create_template(
        team.id, aliases=["mine"], vcpu=4, memory_mb=2048, spec={"steps": [{"type": "RUN"}]}
    )
    assert len(made.id) == 20 and made.id.isalnum()
    assert (made.build_status, made.rootfs, made.envd_version) == ("waiting", "", "")
    assert (made.vcpu, made.memory_mb, made.public, made.build_count) == (4, 2048, False, 1)
    assert await store.resolve_template(team.id, "mine") is None  # nothing ready yet
    assert await store.get_template(team.id, made.id) == made
    assert await store.get_template(other.id, made.id) is None

    build = await store.get_build(made.build_id)
    assert build is not None and build.template_id == made.id
    assert (build.status, build.spec, build.finished_at) == (
        "waiting",
        {"steps": [{"type": "RUN"}]},
        None,
    )
    building = await store.update_build(build.id, status="building")
    assert building is not None and building.status == "building"
    assert building.spec == build.spec and building.finished_at is None
    ready = await store.update_build(
        build.id, status="ready", rootfs="/t/mine", envd_version="0.6.5", finished=True
    )
    assert ready is not None and ready.finished_at is not None
    resolved = await store.resolve_template(team.id, "mine")
    assert resolved is not None
    assert (resolved.build_id, resolved.rootfs, resolved.envd_version) == (
        build.id,
        "/t/mine",
        "0.6.5",
    )

    # A rebuild: the ready build keeps serving until the new one is ready.
    rebuild = await store.create_build(made.id, vcpu=8, start_cmd="serve")
    assert rebuild.status == "waiting"
    current = await store.get_template(team.id, made.id)
    assert current is not None and (current.build_id, current.build_count) == (build.id, 2)
    failed = await store.update_build(rebuild.id, status="error", reason="boom", finished=True)
    assert failed is not None and (failed.status, failed.reason) == ("error", "boom")
    assert [b.id for b in await store.list_builds(made.id)] == [rebuild.id, build.id]
    assert [b.id for b in await store.list_builds(made.id, limit=1)] == [rebuild.id]

    assert await store.update_build("missing", status="ready") is None
    with pytest.raises(ValueError, match="unknown build status"):
        await store.update_build(build.id, status="done")  # type: ignore[arg-type]
    with pytest.raises(ReferenceNotFound):
        await store.create_build("missing")
    with pytest.raises(ReferenceNotFound):
        await store.create_template("missing")
    with pytest.raises(AlreadyExists):
        await store.create_template(team.id, template_id=made.id)
    with pytest.raises(AlreadyExists):
        await store.create_template(team.id, aliases=["mine"])


async def test_update_template(store: Store) -> None:
    team, other = await _two_teams(store)
    made = await store.create_template(team.id, aliases=["a"])
    assert not await store.update_template(other.id, made.id, public=True)
    assert await store.update_template(team.id, made.id, public=True, aliases=["b", "c"])
    got = await store.get_template(other.id, made.id)
    assert got is not None and got.public and got.aliases == ("b", "c")
    assert not await store.update_template(team.id, "missing", public=True)


async def test_build_logs_by_offset(store: Store) -> None:
    team = await store.create_team("t")
    made = await store.create_template(team.id)
    other = await store.create_template(team.id)
    await store.append_build_log(made.build_id, "info", "one", step="0")
    await store.append_build_log(other.build_id, "info", "elsewhere")
    await store.append_build_logs(made.build_id, "warn", ["two", "three"])
    logs = await store.build_logs(made.build_id)
    assert [(e.offset, e.level, e.message, e.step) for e in logs] == [
        (0, "info", "one", "0"),
        (1, "warn", "two", None),
        (2, "warn", "three", None),
    ]
    assert all(e.at.tzinfo is not None for e in logs)
    assert [e.message for e in await store.build_logs(made.build_id, 2)] == ["three"]
    assert [e.offset for e in await store.build_logs(made.build_id, 1, limit=1)] == [1]
    assert await store.build_logs(made.build_id, 3) == []
    assert await store.build_logs("missing") == []
    with pytest.raises(ReferenceNotFound):
        await store.append_build_log("missing", "info", "lost")


async def test_concurrent_registration_of_the_same_template(store: Store) -> None:
    """Several API processes starting at once all register the default templates."""
    made = await asyncio.gather(*(store.register_template("base-v1", **BASE) for _ in range(8)))
    assert {t.build_id for t in made} == {made[0].build_id}
    assert made[0].build_count == 1


async def test_concurrent_creates_of_one_alias(store: Store) -> None:
    team = await store.create_team("t")
    results = await asyncio.gather(
        *(store.create_template(team.id, aliases=["same"]) for _ in range(6)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if isinstance(r, BaseException))
