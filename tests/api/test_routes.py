"""The REST routes over HTTP, on SQLite and PostgreSQL: success codes, error shapes, isolation.

Every error must be E2B's `{"code": int, "message": str}` JSON with the documented status, and a
rejected request must change nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.harness import Api, serve_api


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with serve_api(database_url, tmp_path) as served:
        yield served


def assert_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"code", "message"} and body["code"] == status
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])


async def create(client: httpx.AsyncClient, **body: object) -> dict[str, object]:
    response = await client.post(
        "/v2/sandboxes", json={"templateID": "base", "metadata": {}, "envVars": {}, **body}
    )
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


async def test_health_needs_no_key_and_everything_else_does(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        assert (await anonymous.get("/health")).status_code == 200
        assert_error(await anonymous.get("/v2/sandboxes"), 401)
    async with api.client("e2b_" + "0" * 40) as wrong:
        assert_error(await wrong.get("/v2/sandboxes"), 401)
        assert_error(await wrong.post("/v2/sandboxes", json={"templateID": "base"}), 401)


async def test_create_get_list_kill(api: Api) -> None:
    async with api.client() as client:
        made = await create(client, metadata={"k": "v"}, timeout=120)
        assert made["templateID"] == "base" and made["clientID"] == "node-1"
        assert made["envdVersion"] and made["envdAccessToken"]
        sandbox_id = str(made["sandboxID"])
        assert (await api.catalog.get(sandbox_id)) is not None
        detail = (await client.get(f"/sandboxes/{sandbox_id}")).json()
        assert detail["state"] == "running" and detail["metadata"] == {"k": "v"}
        assert detail["envdAccessToken"] == made["envdAccessToken"]
        listed = (await client.get("/v2/sandboxes")).json()
        assert [s["sandboxID"] for s in listed] == [sandbox_id]
        assert [s["sandboxID"] for s in (await client.get("/sandboxes")).json()] == [sandbox_id]
        assert (await client.delete(f"/sandboxes/{sandbox_id}")).status_code == 204
        assert (await api.catalog.get(sandbox_id)) is None
        assert_error(await client.delete(f"/sandboxes/{sandbox_id}"), 404)
        assert_error(await client.get(f"/sandboxes/{sandbox_id}"), 404)


async def test_bad_input_is_a_clean_4xx_and_changes_nothing(api: Api) -> None:
    async with api.client() as client:
        cases = [
            ({}, 400),
            ({"templateID": 7}, 400),
            ({"templateID": "base", "timeout": -1}, 400),
            ({"templateID": "base", "timeout": "soon"}, 400),
            ({"templateID": "base", "metadata": {"k": 1}}, 400),
            ({"templateID": "base", "envVars": ["A"]}, 400),
            ({"templateID": "no-such-template"}, 404),
            ({"templateID": "base", "timeout": 10**7}, 400),
        ]
        for body, status in cases:
            assert_error(await client.post("/v2/sandboxes", json=body), status)
        assert_error(
            await client.post(
                "/v2/sandboxes", content=b"{not json", headers={"content-type": "application/json"}
            ),
            400,
        )
        huge = {"templateID": "base", "metadata": {"k": "x" * 2_000_000}}
        assert_error(await client.post("/v2/sandboxes", json=huge), 413)
        assert_error(await client.get("/v2/sandboxes", params={"state": "sleeping"}), 400)
        assert_error(await client.get("/v2/sandboxes", params={"nextToken": "%%%"}), 400)
        assert_error(await client.get("/v2/sandboxes", params={"limit": 0}), 400)
        assert_error(await client.post("/sandboxes/nope/timeout", json={"timeout": -5}), 400)
        assert_error(await client.get("/no/such/route"), 404)
        assert (await client.get("/v2/sandboxes")).json() == []
    assert api.driver.creates == []


async def test_pagination_and_metadata_filter(api: Api) -> None:
    async with api.client() as client:
        ids = [str((await create(client, metadata={"n": str(i), "team": "a b&c"}))["sandboxID"])
               for i in range(3)]  # fmt: skip
        await create(client, metadata={"team": "other"})
        # As the SDK sends it: each key and value percent-quoted, then urlencoded.
        query = {"metadata": "team=a%20b%26c", "limit": 2}
        first = await client.get("/v2/sandboxes", params=query)
        token = first.headers["x-next-token"]
        second = await client.get("/v2/sandboxes", params={**query, "nextToken": token})
        assert "x-next-token" not in second.headers
        seen = [s["sandboxID"] for s in first.json() + second.json()]
        assert sorted(seen) == sorted(ids) and len(seen) == 3
        paused = await client.get("/v2/sandboxes", params={"state": "paused"})
        assert paused.json() == []


async def test_timeout_pause_connect_and_metrics(api: Api) -> None:
    async with api.client() as client:
        sandbox_id = str((await create(client))["sandboxID"])
        assert (
            await client.post(f"/sandboxes/{sandbox_id}/timeout", json={"timeout": 600})
        ).status_code == 204
        metrics = (await client.get(f"/sandboxes/{sandbox_id}/metrics")).json()
        assert len(metrics) == 1 and metrics[0]["cpuCount"] >= 1
        many = (await client.get("/sandboxes/metrics", params={"sandbox_ids": sandbox_id})).json()
        assert set(many["sandboxes"]) == {sandbox_id}
        assert (await client.post(f"/sandboxes/{sandbox_id}/pause", json={})).status_code == 204
        assert_error(await client.post(f"/sandboxes/{sandbox_id}/pause", json={}), 409)
        assert (await api.catalog.get(sandbox_id)).state == "paused"  # type: ignore[union-attr]
        resumed = await client.post(f"/v2/sandboxes/{sandbox_id}/connect", json={"timeout": 60})
        assert resumed.status_code == 201 and resumed.json()["sandboxID"] == sandbox_id
        again = await client.post(f"/v2/sandboxes/{sandbox_id}/connect", json={})
        assert again.status_code == 200
        assert_error(await client.post(f"/sandboxes/{sandbox_id}/resume", json={}), 409)
        refresh = await client.post(f"/sandboxes/{sandbox_id}/refreshes", json={"duration": 30})
        assert refresh.status_code == 204
        assert_error(await client.post("/v2/sandboxes/unknown1/connect", json={}), 404)


async def test_another_team_sees_nothing(api: Api) -> None:
    other = await api.store.create_team("other")
    _, other_key = await api.store.create_api_key(other.id, "other")
    async with api.client() as mine, api.client(other_key) as theirs:
        sandbox_id = str((await create(mine))["sandboxID"])
        assert_error(await theirs.get(f"/sandboxes/{sandbox_id}"), 404)
        assert_error(await theirs.delete(f"/sandboxes/{sandbox_id}"), 404)
        assert_error(await theirs.post(f"/sandboxes/{sandbox_id}/pause", json={}), 404)
        assert (await theirs.get("/v2/sandboxes")).json() == []
        assert (await mine.get(f"/sandboxes/{sandbox_id}")).status_code == 200


async def test_limits(api: Api) -> None:
    team = await api.store.create_team(
        "small", max_concurrent_sandboxes=1, rate_limit_per_s=1.0, rate_limit_burst=3
    )
    _, key = await api.store.create_api_key(team.id, "small")
    async with api.client(key) as client:
        await create(client)
        assert_error(await client.post("/v2/sandboxes", json={"templateID": "base"}), 429)
        for _ in range(10):
            limited = await client.get("/v2/sandboxes")
            if limited.status_code != 200:
                break
        message = assert_error(limited, 429)
        assert "rate limit" in message and int(limited.headers["Retry-After"]) >= 1


async def test_api_keys_and_teams(api: Api) -> None:
    async with api.client() as client:
        teams = (await client.get("/teams")).json()
        assert teams[0]["teamID"] == api.team_id
        made = await client.post("/api-keys", json={"name": "ci"})
        assert made.status_code == 201
        key, key_id = made.json()["key"], made.json()["id"]
        assert key.startswith("e2b_")
        names = {k["name"] for k in (await client.get("/api-keys")).json()}
        assert names == {"tests", "ci"}
        async with api.client(key) as with_new:
            assert (await with_new.get("/v2/sandboxes")).status_code == 200
        assert (await client.patch(f"/api-keys/{key_id}", json={"name": "ci2"})).status_code == 202
        assert (await client.delete(f"/api-keys/{key_id}")).status_code == 204
        async with api.client(key) as revoked:
            assert_error(await revoked.get("/v2/sandboxes"), 401)
        assert_error(await client.delete(f"/api-keys/{key_id}"), 404)


async def test_templates_and_openapi(api: Api) -> None:
    async with api.client() as client:
        templates = (await client.get("/templates")).json()
        assert [t["templateID"] for t in templates] == ["base"]
        assert (await client.get("/templates/base")).json()["aliases"] == ["base"]
        alias = (await client.get("/templates/aliases/base")).json()
        assert alias == {"templateID": "base", "public": True}
        assert_error(await client.get("/templates/aliases/nothing"), 404)
        assert_error(await client.delete("/templates/base"), 404)
        spec = (await client.get("/openapi.json")).json()
        for path in (
            "/v2/sandboxes",
            "/sandboxes/{sandbox_id}",
            "/v2/sandboxes/{sandbox_id}/connect",
            "/sandboxes/{sandbox_id}/pause",
            "/api-keys",
            "/templates",
        ):
            assert path in spec["paths"]
