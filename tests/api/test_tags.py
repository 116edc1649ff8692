"""Template tags over HTTP, on SQLite and PostgreSQL: `POST /v3/templates` with `name:tag` and
`tags`, `POST`/`DELETE /templates/tags`, `GET /templates/{id}/tags`, `name:tag` in alias checks
and sandbox creates; answers parsed with the official SDK's generated models.

A build's end is played by the store calls `BuildWatchers._end` makes (the harness's node has
no builder); tests/e2e/test_template_tags.py builds for real.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2b.api.client import models as sdk

from tests.api.harness import Api, serve_api
from tests.api.test_openapi import PATHS, body_schema
from tests.api.test_routes import assert_error


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with serve_api(database_url, tmp_path) as served:
        yield served


async def _finish(api: Api, build_id: str) -> None:
    """What `BuildWatchers._end` does when the node reports the build ready."""
    await api.store.update_build(build_id, status="ready", rootfs="/built", finished=True)
    await api.store.tag_ready_build(build_id)


async def _request(client: httpx.AsyncClient, **body: Any) -> sdk.TemplateRequestResponseV3:
    response = await client.post("/v3/templates", json=body)
    assert response.status_code == 202, response.text
    return sdk.TemplateRequestResponseV3.from_dict(response.json())


async def _tags(client: httpx.AsyncClient, template: str) -> dict[str, str]:
    response = await client.get(f"/templates/{template}/tags")
    assert response.status_code == 200, response.text
    tags = [sdk.TemplateTag.from_dict(item) for item in response.json()]
    return {t.tag: str(t.build_id) for t in tags}


def test_the_document_has_the_sdk_s_tag_routes() -> None:
    assert set(PATHS["/templates/tags"]["post"]["responses"]) >= {"201", "400", "403", "404"}
    assert "204" in PATHS["/templates/tags"]["delete"]["responses"]
    assert "200" in PATHS["/templates/{template_id}/tags"]["get"]["responses"]
    sent = sdk.AssignTemplateTagsRequest(target="a:b", tags=["c"]).to_dict()
    assert set(sent) == set(body_schema("/templates/tags", "post")["required"])
    sent = sdk.DeleteTemplateTagsRequest(name="a", tags=["c"]).to_dict()
    assert set(sent) == set(body_schema("/templates/tags", "delete")["required"])


async def test_builds_tags_and_what_they_start(api: Api) -> None:
    async with api.client() as client:
        first = await _request(client, name="app:v1", tags=["Stable", "v1"])
        assert first.tags == ["v1", "stable"] and first.names == ["app"]
        template_id = first.template_id
        assert await _tags(client, "app") == {}  # nothing is ready: no tag yet
        assert_error(await client.get("/templates/aliases/app:v1"), 404)
        await _finish(api, first.build_id)
        assert await _tags(client, "app") == {"stable": first.build_id, "v1": first.build_id}

        second = await _request(client, name="app", tags=["v2"])
        assert (second.template_id, second.tags) == (template_id, ["v2"])
        await _finish(api, second.build_id)
        untagged = await _request(client, name="app")
        assert untagged.tags == ["default"]  # E2B: `default` only when no tag is asked for
        assert (await _request(client, name="app:default")).tags == ["default"]

        # `Template.exists("app:v1")`: the tag is checked too.
        alias = (await client.get("/templates/aliases/app:v1")).json()
        assert sdk.TemplateAliasResponse.from_dict(alias).template_id == template_id
        assert (await client.get("/templates/aliases/app:v2")).status_code == 200
        assert_error(await client.get("/templates/aliases/app:v9"), 404)

        # Assigning moves a tag; the answer is the SDK's `AssignedTemplateTags`.
        moved = await client.post("/templates/tags", json={"target": "app:v1", "tags": ["prod"]})
        assert moved.status_code == 201, moved.text
        assigned = sdk.AssignedTemplateTags.from_dict(moved.json())
        assert (assigned.tags, str(assigned.build_id)) == (["prod"], first.build_id)
        moved = await client.post(
            "/templates/tags", json={"target": f"{template_id}:v2", "tags": ["prod", "PROD"]}
        )
        assert moved.json() == {"tags": ["prod"], "buildID": second.build_id}
        # No build asked for `default` yet: a bare name is the latest ready build.
        latest = await client.post("/templates/tags", json={"target": "app", "tags": ["x"]})
        assert latest.json()["buildID"] == second.build_id
        tags = await _tags(client, template_id)
        assert tags == {
            "prod": second.build_id,
            "stable": first.build_id,
            "v1": first.build_id,
            "v2": second.build_id,
            "x": second.build_id,
        }

        for gone in ({"name": "app", "tags": ["prod", "x"]}, {"name": "app", "tags": ["prod"]}):
            response = await client.request("DELETE", "/templates/tags", json=gone)
            assert response.status_code == 204, response.text  # the second time: nothing left
        assert set(await _tags(client, "app")) == {"stable", "v1", "v2"}
        assert_error(await client.get("/templates/aliases/app:prod"), 404)


async def test_name_tag_at_sandbox_create(api: Api) -> None:
    """`Sandbox.create("base:edge")` resolves that tag's build (the harness's node serves
    every build of `base` from one root filesystem, so the build chosen is checked in the
    store; the e2e test checks it inside the sandbox)."""
    build = await api.store.create_build("base", tags=["edge"])
    await _finish(api, build.id)
    edge = await api.store.resolve_template(api.team_id, "base:edge")
    assert edge is not None and edge.build_id == build.id
    default = await api.store.resolve_template(api.team_id, "base")
    assert default is not None and default.build_id != build.id  # `default` stays
    async with api.client() as client:
        for ref in ("base:edge", "base:default", "base", f"base:{build.id}"):
            made = await client.post("/v2/sandboxes", json={"templateID": ref})
            assert made.status_code == 201, (ref, made.text)
            assert made.json()["templateID"] == "base"
            await client.delete(f"/sandboxes/{made.json()['sandboxID']}")
        for ref in ("base:nope", "base:bad tag", f"base:{uuid.uuid4()}"):
            assert_error(await client.post("/v2/sandboxes", json={"templateID": ref}), 404)


async def test_errors_are_e2b_shaped(api: Api) -> None:
    async with api.client() as client:
        made = await _request(client, name="app", tags=["v1"])
        await _finish(api, made.build_id)
        for body in (
            {"name": "app:bad tag"},
            {"name": "app:"},
            {"name": "app", "tags": ["ok", "a/b"]},
            {"name": "app", "tags": [str(uuid.uuid4())]},
        ):
            assert_error(await client.post("/v3/templates", json=body), 400)

        def assign(target: str, tags: list[str]) -> Any:
            return client.post("/templates/tags", json={"target": target, "tags": tags})

        assert_error(await assign("app:v1", []), 400)
        assert_error(await assign("app:v1", ["bad tag"]), 400)
        assert_error(await assign("app:v1", [str(uuid.uuid4())]), 400)
        assert_error(await assign("app:a:b", ["x"]), 400)
        assert_error(await assign("app:nope", ["x"]), 404)
        assert_error(await assign("nothing:v1", ["x"]), 404)
        assert_error(await assign("base", ["mine"]), 403)  # the platform's

        def remove(name: str, tags: list[str]) -> Any:
            return client.request("DELETE", "/templates/tags", json={"name": name, "tags": tags})

        assert_error(await remove("app:v1", ["v1"]), 400)
        assert_error(await remove("app", ["default"]), 400)
        assert_error(await remove("app", []), 400)
        assert_error(await remove("nothing", ["v1"]), 404)
        assert_error(await remove("base", ["x"]), 403)
        assert_error(await client.get("/templates/base/tags"), 403)
        assert_error(await client.get("/templates/nothing/tags"), 404)
        assert set(await _tags(client, "app")) == {"v1"}  # nothing changed

    other = await api.store.create_team("other")
    _, key = await api.store.create_api_key(other.id, "other")
    async with api.client(key) as theirs:
        assert_error(await theirs.get("/templates/app/tags"), 403)
        assert_error(await theirs.get(f"/templates/{made.template_id}/tags"), 403)
        response = await theirs.post("/templates/tags", json={"target": "app:v1", "tags": ["x"]})
        assert_error(response, 403)
        response = await theirs.request(
            "DELETE", "/templates/tags", json={"name": "app", "tags": ["v1"]}
        )
        assert_error(response, 403)
        assert_error(await theirs.get("/templates/aliases/app:v1"), 403)
        assert_error(await theirs.post("/v2/sandboxes", json={"templateID": "app:v1"}), 404)
