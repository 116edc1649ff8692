"""`GET /v2/sandboxes` over two nodes: each sends one page past the cursor, the API merges.

Two real orchestrators, each re-adopting its own sandboxes from records (`parked.py`, no envd
behind them), start times interleaved between the nodes; the API pages through them with
the SDK's paginator and raw requests, and every listing must equal the one ordered list.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from e2b import AsyncSandbox, SandboxQuery, SandboxState
from pydantic import SecretStr

from corral.api.db.database import Database
from corral.api.db.store import Store
from corral.api.settings import ApiSettings, NodeConfig
from corral.catalog.memory import MemoryCatalog
from corral.orchestrator.models import SandboxRecord, utcnow
from corral.orchestrator.server import OrchestratorServer
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import StaticTemplates
from tests.api.harness import SECRET, serve_app
from tests.conftest import free_port
from tests.orchestrator.fake_driver import FakeDriver
from tests.orchestrator.parked import park, parked_record

PER_NODE = 90


@dataclass
class Cluster:
    url: str
    key: str
    records: list[SandboxRecord]

    def expected(self, *, state: str | None = None, **metadata: str) -> list[str]:
        """Ids newest first, as every listing must return them."""
        chosen = [
            r
            for r in self.records
            if state in (None, r.state) and all(r.metadata[k] == v for k, v in metadata.items())
        ]
        chosen.sort(key=lambda r: (r.start_time, r.sandbox_id), reverse=True)
        return [r.sandbox_id for r in chosen]


@contextlib.asynccontextmanager
async def node(tmp_path: Path, records: list[SandboxRecord]) -> AsyncIterator[str]:
    (tmp_path / "logs").mkdir(parents=True)
    (tmp_path / "rootfs").mkdir()
    driver = FakeDriver(user="root", log_dir=tmp_path / "logs")
    settings = OrchestratorSettings(
        host="127.0.0.1",
        port=0,
        secret=SecretStr(SECRET),
        data_dir=tmp_path / "data",
        sandbox_user="root",
        pool_size=0,
    )
    await park(driver, settings.state_dir, records)
    server = OrchestratorServer(settings, driver, StaticTemplates({"base": tmp_path / "rootfs"}))
    port = await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=0)
        await driver.close()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}"
    database = Database(database_url)
    await database.upgrade()
    store = Store(database)
    team = await store.create_team("lister", rate_limit_per_s=1e6, rate_limit_burst=10**6)
    _, key = await store.create_api_key(team.id, "lister")
    other = await store.create_team("other")
    now = utcnow()
    made: list[list[SandboxRecord]] = [[], []]
    for i in range(2 * PER_NODE):
        made[i % 2].append(  # consecutive start times alternate between the nodes
            parked_record(
                f"sbx{i:04d}",
                now - timedelta(seconds=i // 4),  # four at each moment: ids break the tie
                team_id=team.id if i % 9 else other.id,
                metadata={"shard": str(i % 3), "node": f"n{i % 2 + 1}"},
                state="paused" if i % 5 == 0 else "running",
            )
        )
    async with node(tmp_path / "n1", made[0]) as first, node(tmp_path / "n2", made[1]) as second:
        settings = ApiSettings(
            port=free_port(),
            database_url=database_url,
            nodes=[NodeConfig(id="n1", target=first), NodeConfig(id="n2", target=second)],
            orchestrator_secret=SecretStr(SECRET),
        )
        async with serve_app(settings, MemoryCatalog()) as url:
            mine = [r for r in made[0] + made[1] if r.team_id == team.id]
            yield Cluster(url, key, mine)
    await database.dispose()


async def raw_walk(client: httpx.AsyncClient, **params: str) -> list[str]:
    seen: list[str] = []
    token = None
    while True:
        answer = await client.get(
            "/v2/sandboxes", params={**params, **({"nextToken": token} if token else {})}
        )
        assert answer.status_code == 200, answer.text
        seen += [s["sandboxID"] for s in answer.json()]
        token = answer.headers.get("x-next-token")
        if token is None:
            return seen


async def test_pages_merge_across_nodes(cluster: Cluster) -> None:
    headers = {"X-API-KEY": cluster.key}
    async with httpx.AsyncClient(base_url=cluster.url, headers=headers, timeout=30) as client:
        everything = cluster.expected()
        assert len(everything) == 2 * PER_NODE - 20  # every ninth is the other team's
        assert await raw_walk(client, limit="7") == everything
        assert await raw_walk(client, limit="7", order="asc") == everything[::-1]
        assert await raw_walk(client, limit="1000") == everything
        assert await raw_walk(client, limit="4", metadata="shard=1") == cluster.expected(shard="1")
        assert await raw_walk(client, limit="6", state="paused") == cluster.expected(state="paused")
        both = await raw_walk(client, limit="5", state="running,paused", metadata="shard=2")
        assert both == cluster.expected(shard="2")
        # all on one node: its pages must still say whether there is another
        assert await raw_walk(client, limit="5", metadata="node=n2") == cluster.expected(node="n2")
        listed = (await client.get("/v2/sandboxes", params={"limit": "1"})).json()[0]
        assert listed["sandboxID"] == everything[0]
        assert listed["metadata"] == next(
            r.metadata for r in cluster.records if r.sandbox_id == everything[0]
        )


async def test_sdk_paginator_across_nodes(cluster: Cluster) -> None:
    opts = {"api_key": cluster.key, "api_url": cluster.url}

    async def walk(paginator: object) -> list[str]:
        seen: list[str] = []
        while paginator.has_next:  # type: ignore[attr-defined]
            seen += [s.sandbox_id for s in await paginator.next_items()]  # type: ignore[attr-defined]
        return seen

    assert await walk(AsyncSandbox.list(limit=10, **opts)) == cluster.expected()
    query = SandboxQuery(metadata={"shard": "0"}, state=[SandboxState.RUNNING])
    shard = await walk(AsyncSandbox.list(query=query, limit=3, **opts))
    assert shard == cluster.expected(shard="0", state="running")
