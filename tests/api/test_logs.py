"""Sandbox logs over HTTP: E2B's v1 and v2 shapes, parsed by the SDK's own generated client.

The sandbox's envd is real (the fake driver's), so the log holds what envd wrote while the SDK
ran a command in it. Logs touch no table of their own: SQLite is enough here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from e2b.api.client.api.sandboxes import (
    get_sandboxes_sandbox_id_logs,
    get_v_2_sandboxes_sandbox_id_logs,
)
from e2b.api.client.client import AuthenticatedClient
from e2b.api.client.models import (
    Error,
    LogLevel,
    LogsDirection,
    SandboxLogs,
    SandboxLogsV2Response,
)

from tests.api.harness import Api, serve_api
from tests.sdk import async_sdk_sandbox


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with serve_api(f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}", tmp_path) as served:
        yield served


def sdk_client(api: Api, key: str | None = None) -> AuthenticatedClient:
    """The REST client `e2b` builds (`e2b/api/__init__.py`): the key in `X-API-KEY`."""
    return AuthenticatedClient(
        base_url=api.url, token=key or api.key, prefix="", auth_header_name="X-API-KEY"
    )


async def sandbox_with_output(api: Api) -> str:
    """A sandbox in which the SDK ran one command that printed to both streams."""
    async with api.client() as client:
        made = (await client.post("/v2/sandboxes", json={"templateID": "base"})).json()
    sandbox_id = str(made["sandboxID"])
    route = await api.catalog.get(sandbox_id)
    assert route is not None
    sdk = async_sdk_sandbox(f"http://{route.address}:49983", made["envdAccessToken"], sandbox_id)
    result = await sdk.commands.run("echo hello from the sandbox; echo warned >&2")
    assert result.stdout == "hello from the sandbox\n"
    return sandbox_id


async def test_v2_logs_newest_first_with_cursor_level_and_search(api: Api) -> None:
    sandbox_id = await sandbox_with_output(api)
    client = sdk_client(api)

    newest = await get_v_2_sandboxes_sandbox_id_logs.asyncio_detailed(sandbox_id, client=client)
    assert newest.status_code == 200, newest.content
    parsed = newest.parsed
    assert isinstance(parsed, SandboxLogsV2Response)
    messages = [e.message for e in parsed.logs]
    assert messages[0] == "process ended"  # backward by default, as E2B's API
    assert messages.index("warned") < messages.index("hello from the sandbox")
    stamps = [e.timestamp for e in parsed.logs]
    assert stamps == sorted(stamps, reverse=True)
    [output] = [e for e in parsed.logs if e.message == "hello from the sandbox"]
    assert output.level == LogLevel.INFO
    assert output.fields["event_type"] == "process_output" and output.fields["stream"] == "stdout"

    cursor = int(output.timestamp.timestamp() * 1000)
    forward = await get_v_2_sandboxes_sandbox_id_logs.asyncio(
        sandbox_id, client=client, cursor=cursor, direction=LogsDirection.FORWARD, limit=3
    )
    assert isinstance(forward, SandboxLogsV2Response) and len(forward.logs) == 3
    assert all(int(e.timestamp.timestamp() * 1000) >= cursor for e in forward.logs)
    assert "hello from the sandbox" in [e.message for e in forward.logs]
    before = await get_v_2_sandboxes_sandbox_id_logs.asyncio(
        sandbox_id, client=client, cursor=cursor
    )
    assert isinstance(before, SandboxLogsV2Response)
    assert all(int(e.timestamp.timestamp() * 1000) <= cursor for e in before.logs)
    assert "process ended" not in [e.message for e in before.logs]

    found = await get_v_2_sandboxes_sandbox_id_logs.asyncio(
        sandbox_id, client=client, search="warn"
    )
    assert isinstance(found, SandboxLogsV2Response)
    assert [e.message for e in found.logs] == ["warned"]
    errors = await get_v_2_sandboxes_sandbox_id_logs.asyncio(
        sandbox_id, client=client, level=LogLevel.ERROR
    )
    assert isinstance(errors, SandboxLogsV2Response) and errors.logs == []


async def test_v1_logs_oldest_first_with_lines(api: Api) -> None:
    sandbox_id = await sandbox_with_output(api)
    client = sdk_client(api)
    logs = await get_sandboxes_sandbox_id_logs.asyncio(sandbox_id, client=client)
    assert isinstance(logs, SandboxLogs)
    assert len(logs.logs) == len(logs.log_entries) > 0
    messages = [e.message for e in logs.log_entries]
    assert messages.index("process started") < messages.index("hello from the sandbox")
    assert [e.timestamp for e in logs.logs] == [e.timestamp for e in logs.log_entries]
    assert all(e.message in line.line for e, line in zip(logs.log_entries, logs.logs, strict=True))

    recent = await get_sandboxes_sandbox_id_logs.asyncio(
        sandbox_id, client=client, start=int(time.time() * 1000) + 60_000
    )
    assert isinstance(recent, SandboxLogs) and recent.logs == [] and recent.log_entries == []
    one = await get_sandboxes_sandbox_id_logs.asyncio(sandbox_id, client=client, limit=1)
    assert isinstance(one, SandboxLogs) and len(one.log_entries) == 1


async def test_unknown_or_foreign_sandboxes_and_bad_queries(api: Api) -> None:
    sandbox_id = await sandbox_with_output(api)
    other = await api.store.create_team("others")
    _, other_key = await api.store.create_api_key(other.id, "others")
    for key, wanted, status in (
        (api.key, "no-such-sandbox", 404),
        (other_key, sandbox_id, 404),  # another team's sandbox is unknown to this one
        ("e2b_" + "0" * 40, sandbox_id, 401),
    ):
        for call in (get_v_2_sandboxes_sandbox_id_logs, get_sandboxes_sandbox_id_logs):
            answer = await call.asyncio_detailed(wanted, client=sdk_client(api, key))
            assert answer.status_code == status
            assert isinstance(answer.parsed, Error) and answer.parsed.code == status
    async with api.client() as client:
        for params in ({"direction": "sideways"}, {"level": "fatal"}, {"limit": -1}):
            response = await client.get(f"/v2/sandboxes/{sandbox_id}/logs", params=params)
            assert response.status_code == 400, params
            assert response.json()["code"] == 400
        response = await client.get(f"/sandboxes/{sandbox_id}/logs", params={"start": 10**18})
        assert response.status_code == 400
        huge = await client.get(f"/v2/sandboxes/{sandbox_id}/logs", params={"limit": 10**12})
        assert huge.status_code == 200


async def test_openapi_describes_the_log_shapes(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert set(schemas["SandboxLogs"]["properties"]) == {"logs", "logEntries"}
    assert set(schemas["SandboxLogEntry"]["properties"]) == {
        "timestamp",
        "message",
        "level",
        "fields",
    }
    v2 = spec["paths"]["/v2/sandboxes/{sandbox_id}/logs"]["get"]
    assert {p["name"] for p in v2["parameters"]} >= {
        "cursor",
        "limit",
        "direction",
        "level",
        "search",
    }
