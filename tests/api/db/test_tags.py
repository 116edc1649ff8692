"""Template tags in the store, on SQLite and PostgreSQL: what `name:tag` starts, and moving,
listing and removing tags (E2B's semantics: a tag names one ready build of its template)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from corral.api.db.records import TemplateRecord
from corral.api.db.store import Store
from corral.api.db.store.names import clean_tags, parse_ref
from tests.api.db.test_templates import BASE


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("app", ("app", "default")),
        ("app:v1", ("app", "v1")),
        ("acme/app:V1.2-rc_3", ("app", "v1.2-rc_3")),
        (" app : prod ", ("app", "prod")),
        ("app:default", ("app", "default")),
        ("app:", None),
        ("app:a b", None),
        ("app:" + "x" * 129, None),
        (":v1", None),
    ],
)
def test_parse_ref(ref: str, parsed: tuple[str, str] | None) -> None:
    assert parse_ref(ref) == parsed


def test_clean_tags() -> None:
    assert clean_tags([" V1 ", "v1", "stable", "default"]) == ["v1", "stable", "default"]
    assert clean_tags([]) == []
    for bad in ("", "a/b", "a:b", "ü", "x" * 129, "0f8e6a0e-1d7b-4b8e-9a39-4b5d7cd1e0f2"):
        with pytest.raises(ValueError, match="invalid tag"):
            clean_tags(["ok", bad])


async def _ready(store: Store, template_id: str, tags: Sequence[str] = ()) -> str:
    """A new build of the template that the builder finished, as `BuildWatchers._end` does."""
    build = await store.create_build(template_id, tags=tags)
    await store.update_build(build.id, status="ready", rootfs=f"/t/{build.id}", finished=True)
    await store.tag_ready_build(build.id)
    return build.id


async def _build_of(store: Store, team_id: str, ref: str) -> str | None:
    found: TemplateRecord | None = await store.resolve_template(team_id, ref)
    return None if found is None else found.build_id


async def test_builds_take_their_tags_when_ready(store: Store) -> None:
    team = await store.create_team("t")
    made = await store.create_template(team.id, aliases=["app"], tags=["v1"])
    assert await store.tag_ready_build(made.build_id) == []  # still waiting: no tag yet
    assert await _build_of(store, team.id, "app:v1") is None
    await store.update_build(made.build_id, status="ready", rootfs="/t/1", finished=True)
    assert await store.tag_ready_build(made.build_id) == ["v1"]
    first = made.build_id

    # No build asked for `default` yet: a bare name starts the latest ready build.
    assert await _build_of(store, team.id, "app") == first
    second = await _ready(store, made.id, ["v2", "latest"])
    resolved = await store.resolve_template(team.id, "app:v1")
    assert resolved is not None and (resolved.build_id, resolved.rootfs) == (first, "/t/1")
    assert resolved.build_count == 2 and resolved.aliases == ("app",)
    for ref in ("app:v2", "app:LATEST", f"{made.id}:v2", "acme/app:v2", "app"):
        assert await _build_of(store, team.id, ref) == second, ref

    # A build that asks for no tag takes `default`, which then stays put while builds
    # tagged otherwise come (E2B: `default` only when no tag is given).
    third = await _ready(store, made.id)
    fourth = await _ready(store, made.id, ["v4"])
    assert await _build_of(store, team.id, "app") == third
    assert await _build_of(store, team.id, "app:default") == third
    assert await _build_of(store, team.id, "app:v4") == fourth
    tags = await store.list_tags(made.id)
    assert [(t.tag, t.build_id) for t in tags] == [
        ("default", third),
        ("latest", second),
        ("v1", first),
        ("v2", second),
        ("v4", fourth),
    ]
    assert all(t.template_id == made.id for t in tags)

    # A failed build takes no tag, and the tag keeps naming the previous build.
    failed = await store.create_build(made.id, tags=["v1"])
    await store.update_build(failed.id, status="error", reason="boom", finished=True)
    assert await store.tag_ready_build(failed.id) == []
    assert await _build_of(store, team.id, "app:v1") == first
    assert await store.tag_ready_build("missing") == []


async def test_build_ids_as_tags(store: Store) -> None:
    team = await store.create_team("t")
    made = await store.create_template(team.id, aliases=["app"])
    other = await store.create_template(team.id, aliases=["other"])
    first = await _ready(store, made.id)
    await _ready(store, made.id)
    other_build = await _ready(store, other.id)
    assert await _build_of(store, team.id, f"app:{first}") == first
    assert await _build_of(store, team.id, f"app:{first.upper()}") == first
    assert await _build_of(store, team.id, f"app:{other_build}") is None
    # The first build never became ready.
    assert await _build_of(store, team.id, f"other:{other.build_id}") is None


async def test_assign_moves_and_delete_removes(store: Store) -> None:
    team = await store.create_team("t")
    made = await store.create_template(team.id, aliases=["app"], tags=["v1"])
    await store.update_build(made.build_id, status="ready", finished=True)
    await store.tag_ready_build(made.build_id)
    second = await _ready(store, made.id, ["v2"])

    assert await store.assign_tags(made.id, "v1", ["prod", "stable"]) == made.build_id
    assert await _build_of(store, team.id, "app:prod") == made.build_id
    before = {t.tag: t for t in await store.list_tags(made.id)}
    assert await store.assign_tags(made.id, "v2", ["prod"]) == second  # moves
    after = {t.tag: t for t in await store.list_tags(made.id)}
    assert after["prod"].build_id == second
    assert after["prod"].created_at >= before["prod"].created_at
    assert after["stable"] == before["stable"]
    assert await _build_of(store, team.id, "app:prod") == second
    assert await store.assign_tags(made.id, "default", ["x"]) == second  # latest ready
    assert await store.assign_tags(made.id, "nope", ["y"]) is None
    assert await store.assign_tags(made.id, second, ["by-id"]) == second

    assert await store.delete_tags(made.id, ["prod", "never-there"]) == 1
    assert await _build_of(store, team.id, "app:prod") is None
    assert await store.delete_tags(made.id, ["prod"]) == 0
    assert {t.tag for t in await store.list_tags(made.id)} == {"v1", "v2", "stable", "x", "by-id"}


async def test_concurrent_assignments_of_one_tag(store: Store) -> None:
    team = await store.create_team("t")
    made = await store.create_template(team.id, aliases=["app"], tags=["a"])
    await store.update_build(made.build_id, status="ready", finished=True)
    await store.tag_ready_build(made.build_id)
    other = await _ready(store, made.id, ["b"])
    results = await asyncio.gather(
        *(store.assign_tags(made.id, "a" if i % 2 else "b", ["prod"]) for i in range(8))
    )
    assert set(results) == {made.build_id, other}
    prod = [t for t in await store.list_tags(made.id) if t.tag == "prod"]
    assert len(prod) == 1 and prod[0].build_id in results


async def test_registered_templates_are_tagged_default(store: Store) -> None:
    made = await store.register_template("base-v1", **BASE)
    assert [(t.tag, t.build_id) for t in await store.list_tags("base-v1")] == [
        ("default", made.build_id)
    ]
    changed = await store.register_template("base-v1", **{**BASE, "rootfs": "/new"})
    assert [(t.tag, t.build_id) for t in await store.list_tags("base-v1")] == [
        ("default", changed.build_id)
    ]
    assert await store.resolve_template(None, "base:default") == changed


async def test_owner_visibility_and_deletion(store: Store) -> None:
    mine, theirs = await store.create_team("mine"), await store.create_team("theirs")
    await store.register_template("base-v1", **BASE)
    made = await store.create_template(mine.id, aliases=["app"], tags=["v1"])
    await store.update_build(made.build_id, status="ready", finished=True)
    await store.tag_ready_build(made.build_id)
    assert await store.template_owner("app") == (made.id, mine.id)
    assert await store.template_owner(made.id) == (made.id, mine.id)
    assert await store.template_owner("base") == ("base-v1", None)
    assert await store.template_owner("nothing") is None
    assert await _build_of(store, theirs.id, "app:v1") is None  # private to its team
    assert await _build_of(store, mine.id, "base:default") is not None

    assert await store.delete_template(mine.id, made.id)
    assert await store.list_tags(made.id) == []
    assert await store.template_owner("app") is None
