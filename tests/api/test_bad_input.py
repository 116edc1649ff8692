"""Bad input to the REST routes, on SQLite and PostgreSQL: a 4xx in E2B's shape, no state change.

Each test snapshots what a request could change (sandboxes started, templates, API keys and
their names, a sandbox's end time), sends the bad requests, and checks the snapshot again.
PostgreSQL matters here: it refuses NUL characters in text, which SQLite stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.api.harness import Api, serve_api
from tests.api.test_routes import assert_error, create

MAX_BODY = 1024 * 1024
"""`ApiSettings.max_body_bytes`, the default the harness serves with."""


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The served API, as a team whose rate limit these many requests never reach."""
    async with serve_api(database_url, tmp_path) as served:
        team = await served.store.create_team(
            "bad-input", rate_limit_per_s=1e6, rate_limit_burst=10**6
        )
        _, key = await served.store.create_api_key(team.id, "bad-input")
        yield replace(served, key=key, team_id=team.id)


async def snapshot(api: Api) -> tuple[object, ...]:
    """Everything a rejected request must leave as it was."""
    templates = await api.store.list_templates(api.team_id)
    keys = await api.store.list_api_keys(api.team_id)
    return (
        len(api.driver.creates),
        sorted(api.driver.sandboxes),
        sorted((t.id, t.aliases) for t in templates),
        sorted((k.id, k.name) for k in keys),
    )


async def test_create_rejects_missing_fields_wrong_types_and_bad_values(api: Api) -> None:
    before = await snapshot(api)
    async with api.client() as client:
        cases: list[tuple[object, int]] = [
            ({}, 400),  # templateID missing
            ({"metadata": {}, "envVars": {}}, 400),
            ({"templateID": ""}, 400),
            ({"templateID": 7}, 400),
            ({"templateID": None}, 400),
            ({"templateID": ["base"]}, 400),
            ({"templateID": "base", "timeout": -1}, 400),
            ({"templateID": "base", "timeout": -(2**70)}, 400),
            ({"templateID": "base", "timeout": 2**70}, 400),  # no int64 in any database
            ({"templateID": "base", "timeout": 10**7}, 400),  # over the team's lifetime
            ({"templateID": "base", "timeout": "60"}, 400),  # a string is not a number
            ({"templateID": "base", "timeout": 60.5}, 400),
            ({"templateID": "base", "timeout": True}, 400),
            ({"templateID": "base", "autoPause": "yes"}, 400),
            ({"templateID": "base", "autoPause": 1}, 400),
            ({"templateID": "base", "metadata": {"k": 1}}, 400),
            ({"templateID": "base", "metadata": ["k"]}, 400),
            ({"templateID": "base", "envVars": ["A"]}, 400),
            ({"templateID": "base", "envVars": {"A=B": "1"}}, 400),
            ({"templateID": "base", "envVars": {"": "1"}}, 400),
            ({"templateID": "base", "autoResume": {"enabled": "no"}}, 400),
            ({"templateID": "ba\0se"}, 400),
            ({"templateID": "base", "metadata": {"k": "v\0"}}, 400),
            ({"templateID": "base", "envVars": {"A": "\0"}}, 400),
            ({"templateID": "base", "network": {"allowOut": ["1.1.1.1\0"]}}, 400),
            ([], 400),
            ("base", 400),
            (None, 400),
            ({"templateID": "no-such-template"}, 404),
            ({"templateID": "x" * 256}, 404),
            ({"templateID": "x" * 257}, 400),
        ]
        for path in ("/v2/sandboxes", "/sandboxes"):
            for body, status in cases:
                message = assert_error(await client.post(path, json=body), status)
                assert "internal" not in message, (body, message)
        not_json = {"content-type": "application/json"}
        for raw in (b"{not json", b"", b'{"templateID": "base"', b"[" * 100_000):
            assert_error(await client.post("/v2/sandboxes", content=raw, headers=not_json), 400)
        unknown = await client.post("/v2/sandboxes", json={"templateID": "no-such-template"})
        assert "no-such-template" in assert_error(unknown, 404)
        assert (await client.get("/v2/sandboxes")).json() == []
    assert await snapshot(api) == before


async def test_sandbox_routes_reject_bad_bodies_without_touching_the_sandbox(api: Api) -> None:
    async with api.client() as client:
        sandbox_id = str((await create(client, timeout=300))["sandboxID"])
        url = f"/sandboxes/{sandbox_id}"
        end_at = (await client.get(url)).json()["endAt"]
        before = await snapshot(api)
        bad_timeouts: list[object] = [
            {},
            {"timeout": -5},
            {"timeout": "600"},
            {"timeout": None},
            {"timeout": 2**63},
            {"timeout": 10**7},
            [600],
            None,
        ]
        for body in bad_timeouts:
            assert_error(await client.post(f"{url}/timeout", json=body), 400)
        for body in ({"duration": -1}, {"duration": 3601}, {"duration": "60"}, [1]):
            assert_error(await client.post(f"{url}/refreshes", json=body), 400)
        for path in (f"/v2{url}/connect", f"{url}/connect", f"{url}/resume"):
            assert_error(await client.post(path, json={"timeout": -1}), 400)
            assert_error(await client.post(path, json={"timeout": "1"}), 400)
        assert_error(await client.post(f"{url}/pause", json={"memory": "yes"}), 400)
        assert_error(await client.post("/sandboxes/nope/timeout", json={"timeout": -5}), 400)
        assert_error(await client.post("/sandboxes/nope/timeout", json={"timeout": 5}), 404)
        detail = (await client.get(url)).json()
        assert detail["state"] == "running" and detail["endAt"] == end_at
    assert await snapshot(api) == before


async def test_api_key_bodies_are_checked_before_the_database(api: Api) -> None:
    before = await snapshot(api)
    key_id = (await api.store.list_api_keys(api.team_id))[0].id
    bodies: list[object] = [
        {},
        {"name": ""},
        {"name": 5},
        {"name": "x" * 201},
        {"name": "a\0b"},
        [],
    ]
    async with api.client() as client:
        for body in bodies:
            assert_error(await client.post("/api-keys", json=body), 400)
            assert_error(await client.patch(f"/api-keys/{key_id}", json=body), 400)
        assert_error(await client.patch("/api-keys/unknown", json={"name": "n"}), 404)
        assert_error(await client.delete("/api-keys/unknown"), 404)
    assert await snapshot(api) == before


async def test_bodies_over_the_limit_are_413_announced_or_chunked(api: Api) -> None:
    before = await snapshot(api)
    huge = {"templateID": "base", "metadata": {"k": "x" * (MAX_BODY + 1)}}

    async def chunked(total: int) -> AsyncIterator[bytes]:
        """A JSON body of `total` bytes, sent without Content-Length."""
        head, tail = b'{"name": "', b'"}'
        yield head
        left = total - len(head) - len(tail)
        while left > 0:
            yield b"x" * min(left, 64 * 1024)
            left -= 64 * 1024
        yield tail

    async with api.client() as client:
        client.headers["content-type"] = "application/json"
        assert_error(await client.post("/v2/sandboxes", json=huge), 413)
        assert_error(await client.post("/api-keys", json={"name": "x" * (MAX_BODY + 1)}), 413)
        assert_error(await client.post("/api-keys", content=chunked(MAX_BODY + 1)), 413)
        small = await client.post("/api-keys", content=chunked(300))
        assert_error(small, 400)  # got through the guard: the name is just too long
        made = await client.post("/api-keys", content=chunked(len('{"name": "xxxx"}')))
        assert made.status_code == 201, made.text
        await client.delete(f"/api-keys/{made.json()['id']}")
    assert await snapshot(api) == before


async def test_paths_and_queries(api: Api) -> None:
    before = await snapshot(api)
    async with api.client() as client:
        for path in (
            "/templates/ba%00se",
            "/templates/aliases/ba%00se",
            "/sandboxes/x%00y",
            "/sandboxes/x%00y/metrics",
            "/api-keys/a%00b",
        ):
            method = "DELETE" if path.startswith("/api-keys") else "GET"
            assert_error(await client.request(method, path), 404)
        assert_error(await client.delete("/templates/ba%00se"), 404)
        assert_error(await client.get("/sandboxes/../../etc/passwd"), 404)
        assert_error(await client.get("/sandboxes/" + "a" * 5000), 404)
        assert_error(await client.get("/v2/sandboxes", params={"metadata": "=&&="}), 400)
        assert_error(await client.get("/v2/sandboxes", params={"state": "sleeping"}), 400)
        assert_error(await client.get("/v2/sandboxes", params={"order": "sideways"}), 400)
        assert_error(await client.get("/v2/sandboxes", params={"limit": 10**30}), 400)
        assert_error(await client.get("/v2/sandboxes", params={"limit": -1}), 400)
        assert_error(await client.get("/v2/sandboxes", params={"nextToken": "%%%"}), 400)
        assert_error(await client.get("/v2/sandboxes?limit=1&limit=2"), 400)
        assert_error(await client.get("/sandboxes", params={"metadata": "a=1&a"}), 400)
        assert_error(await client.get("/sandboxes/metrics"), 400)
        assert_error(await client.get("/sandboxes/metrics", params={"sandbox_ids": ""}), 400)
        metrics = await client.get("/sandboxes/x/metrics", params={"start": 10**30})
        assert_error(metrics, 400)
        assert_error(await client.get("/no/such/route"), 404)
        wrong_method = await client.put("/v2/sandboxes")
        assert_error(wrong_method, 405)
        assert wrong_method.headers["allow"] == "GET, HEAD, POST"
    assert await snapshot(api) == before


async def test_missing_or_bad_key_is_401_and_changes_nothing(api: Api) -> None:
    before = await snapshot(api)
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        assert_error(await anonymous.post("/v2/sandboxes", json={"templateID": "base"}), 401)
        assert_error(await anonymous.post("/api-keys", json={"name": "n"}), 401)
    for key in ("", "e2b_", "e2b_" + "0" * 40, "not-a-key"):
        async with api.client(key) as client:
            assert_error(await client.post("/api-keys", json={"name": "n"}), 401)
            assert_error(await client.delete("/templates/base"), 401)
    assert await snapshot(api) == before
