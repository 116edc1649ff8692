"""`List` pages on the node: filters, order and cursor through the real gRPC server and client.

The node knows 240 sandboxes re-adopted from records (`parked.py`), some started at the same
moment (the id breaks the tie), of two teams, some paused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from corral.orchestrator.client import OrchestratorClient
from corral.orchestrator.listing import select
from corral.orchestrator.models import SandboxRecord, utcnow
from tests.orchestrator.conftest import Harness
from tests.orchestrator.parked import park, parked_record


def records(now: datetime) -> list[SandboxRecord]:
    return [
        parked_record(
            f"sbx-{i:03d}",
            now - timedelta(seconds=i // 3),  # three sandboxes per start time
            team_id="t1" if i % 4 else "t2",
            metadata={"shard": str(i % 5), "app": "web"},
            state="paused" if i % 7 == 0 else "running",
        )
        for i in range(240)
    ]


def order_key(record: SandboxRecord) -> tuple[datetime, str]:
    return record.start_time, record.sandbox_id


def test_select_filters_orders_and_cuts() -> None:
    every = records(utcnow())
    newest = select(every, limit=5)
    assert newest == sorted(every, key=order_key, reverse=True)[:5]
    assert [r.sandbox_id for r in newest] == ["sbx-002", "sbx-001", "sbx-000", "sbx-005", "sbx-004"]
    oldest = select(every, ascending=True, limit=2)
    assert [r.sandbox_id for r in oldest] == ["sbx-237", "sbx-238"]
    after = order_key(newest[-1])
    assert select(every, limit=2, after=after) == sorted(every, key=order_key, reverse=True)[5:7]
    shard = select(every, metadata={"shard": "3", "app": "web"})
    assert len(shard) == 48 and all(r.metadata["shard"] == "3" for r in shard)
    assert select(every, metadata={"shard": "3", "app": "db"}) == []
    assert len(select(every)) == 240


async def walk(client: OrchestratorClient, limit: int, **query: Any) -> list[str]:
    """Every page of a listing, each asked past the last one seen, as the API asks."""
    seen: list[str] = []
    after = None
    while True:
        page = await client.list(limit=limit, after=after, **query)
        assert len(page) <= limit
        seen += [s.sandbox_id for s in page]
        if len(page) < limit:
            return seen
        after = (page[-1].start_time, page[-1].sandbox_id)


async def test_pages_through_grpc(harness: Harness) -> None:
    every = records(utcnow())
    await park(harness.driver, harness.data_dir / "orchestrator", every)
    client = await harness.start()
    assert len(await client.list()) == 240

    def expected(team: str, state: str | None, shard: str | None, ascending: bool) -> list[str]:
        chosen = [
            r
            for r in every
            if r.team_id == team
            and (state is None or r.state == state)
            and (shard is None or r.metadata["shard"] == shard)
        ]
        chosen.sort(key=order_key, reverse=not ascending)
        return [r.sandbox_id for r in chosen]

    assert await walk(client, 7, team_id="t1") == expected("t1", None, None, False)
    assert await walk(client, 7, team_id="t1", ascending=True) == expected("t1", None, None, True)
    assert await walk(client, 4, team_id="t1", metadata={"shard": "2"}, state="running") == (
        expected("t1", "running", "2", False)
    )
    assert await walk(client, 5, team_id="t2", state="paused", ascending=True) == (
        expected("t2", "paused", None, True)
    )
    first = await client.list(team_id="t2", limit=3)
    assert [s.sandbox_id for s in first] == expected("t2", None, None, False)[:3]
    assert first[0].metadata == {"shard": "0", "app": "web"}
    assert first[0].start_time == next(r.start_time for r in every if r.sandbox_id == "sbx-000")
