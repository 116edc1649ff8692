"""`corral team …` and `corral keys …`: teams and API keys, on the control plane's database.

For the operator of the host (it reads the database the API uses: `CORRAL_API_DATABASE_URL`,
else SQLite in the data dir). Keys are shown once, when made; only their hashes are stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from corral.api.db.database import Database
from corral.api.db.records import TeamRecord
from corral.api.db.store import Store
from corral.api.settings import ApiSettings

T = TypeVar("T")

team_app = typer.Typer(help="Teams: who owns sandboxes, templates and keys; their limits.")
keys_app = typer.Typer(help="API keys (E2B_API_KEY) of a team.")
console = Console()


def _with_store(action: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database(ApiSettings().database)
        await database.upgrade()
        try:
            return await action(Store(database))
        finally:
            await database.dispose()

    return asyncio.run(run())


async def _team(store: Store, name_or_id: str | None) -> TeamRecord:
    teams = await store.list_teams()
    if name_or_id is None:
        if len(teams) != 1:
            raise typer.BadParameter("several teams exist: name one with --team")
        return teams[0]
    for team in teams:
        if name_or_id in (team.id, team.name):
            return team
    raise typer.BadParameter(f"no team {name_or_id!r}")


@team_app.command("create")
def team_create(
    name: str,
    max_concurrent: Annotated[int, typer.Option(help="Concurrent sandboxes.")] = 20,
    rate: Annotated[float, typer.Option(help="API requests per second.")] = 20.0,
) -> None:
    """Make a team and its first API key."""

    async def action(store: Store) -> tuple[TeamRecord, str]:
        team = await store.create_team(
            name, max_concurrent_sandboxes=max_concurrent, rate_limit_per_s=rate
        )
        _, raw = await store.create_api_key(team.id, "first key")
        return team, raw

    team, raw = _with_store(action)
    console.print(f"team {team.name} ({team.id}); its API key, shown only now:")
    print(raw)


@team_app.command("list")
def team_list() -> None:
    teams = _with_store(lambda store: store.list_teams())
    table = Table("id", "name", "concurrent", "rate/s")
    for t in teams:
        table.add_row(t.id, t.name, str(t.max_concurrent_sandboxes), f"{t.rate_limit_per_s:g}")
    console.print(table)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
    team: Annotated[str | None, typer.Option(help="Team name or id.")] = None,
) -> None:
    """Make a key; it is printed once."""

    async def action(store: Store) -> str:
        owner = await _team(store, team)
        _, raw = await store.create_api_key(owner.id, name)
        return raw

    print(_with_store(action))


@keys_app.command("list")
def keys_list(team: Annotated[str | None, typer.Option(help="Team name or id.")] = None) -> None:
    async def action(store: Store) -> Table:
        owner = await _team(store, team)
        table = Table("id", "name", "key", "created", "last used")
        for k in await store.list_api_keys(owner.id):
            table.add_row(k.id, k.name, k.key_mask, str(k.created_at), str(k.last_used_at or "-"))
        return table

    console.print(_with_store(action))


@keys_app.command("revoke")
def keys_revoke(
    key_id: str, team: Annotated[str | None, typer.Option(help="Team name or id.")] = None
) -> None:
    """Delete a key: requests with it fail from now on (the API forgets cached keys in 10 s)."""

    async def action(store: Store) -> bool:
        owner = await _team(store, team)
        return await store.delete_api_key(owner.id, key_id)

    if not _with_store(action):
        raise typer.BadParameter(f"no key {key_id!r} in that team")
    console.print(f"revoked {key_id}")
