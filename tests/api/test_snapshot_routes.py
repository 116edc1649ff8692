"""Snapshot and fork routes on the tests' fake driver: wire shapes, errors, bookkeeping.

The fake driver saves files only (it has no memory to save), so memory snapshots and forks are
refused with a 409 here, as on a crun node; the real runtimes' snapshots are tested in
tests/orchestrator/test_saved_sandboxes.py and, through the SDK, in tests/e2e.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.harness import Api, serve_api
from tests.api.test_routes import assert_error, create


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with serve_api(database_url, tmp_path) as served:
        yield served


async def test_filesystem_snapshots_listed_used_and_deleted(api: Api) -> None:
    async with api.client() as client:
        source = str((await create(client))["sandboxID"])
        taken = await client.post(
            f"/sandboxes/{source}/snapshots", json={"name": "my-state", "memory": False}
        )
        assert taken.status_code == 201, taken.text
        body = taken.json()
        assert set(body) == {"snapshotID", "names"} and body["names"] == ["my-state"]
        snapshot_id = body["snapshotID"]
        second = await client.post(f"/sandboxes/{source}/snapshots", json={"memory": False})
        assert second.status_code == 201 and second.json()["names"] == []

        listed = await client.get("/snapshots", params={"sandboxID": source, "limit": 1})
        assert listed.status_code == 200 and len(listed.json()) == 1
        token = listed.headers["x-next-token"]
        rest = await client.get("/snapshots", params={"sandboxID": source, "nextToken": token})
        assert len(rest.json()) == 1 and "x-next-token" not in rest.headers
        named = (await client.get("/snapshots", params={"name": "my-state"})).json()
        assert named == [{"snapshotID": snapshot_id, "names": ["my-state"]}]

        for ref in (snapshot_id, "my-state"):
            child = await create(client, templateID=ref)
            assert child["templateID"] == ref and child["sandboxID"] != source

        assert (await client.delete(f"/templates/{snapshot_id}")).status_code == 204
        assert_error(await client.delete(f"/templates/{snapshot_id}"), 404)
        assert_error(
            await client.post(
                "/v2/sandboxes", json={"templateID": snapshot_id, "metadata": {}, "envVars": {}}
            ),
            404,
        )


async def test_refusals_are_clean_and_change_nothing(api: Api) -> None:
    async with api.client() as client:
        source = str((await create(client))["sandboxID"])
        message = assert_error(await client.post(f"/sandboxes/{source}/snapshots", json={}), 409)
        assert "cannot save a sandbox's memory" in message
        assert_error(await client.post(f"/sandboxes/{source}/fork", json={"count": 2}), 409)
        for bad in ({"count": 0}, {"count": 21}, {"count": "2"}, {"timeout": -1}):
            assert_error(await client.post(f"/sandboxes/{source}/fork", json=bad), 400)
        for bad_name in ("has space", "", "x" * 129):
            assert_error(
                await client.post(f"/sandboxes/{source}/snapshots", json={"name": bad_name}), 400
            )
        assert_error(await client.post("/sandboxes/iunknown0000000000000/fork", json={}), 404)
        assert_error(await client.post("/sandboxes/iunknown0000000000000/snapshots"), 404)
        assert (await client.post(f"/sandboxes/{source}/pause", json={})).status_code == 204
        assert_error(
            await client.post(f"/sandboxes/{source}/snapshots", json={"memory": False}), 409
        )
        assert (await client.get("/snapshots")).json() == []
        assert_error(await client.get("/snapshots", params={"nextToken": "x"}), 400)
