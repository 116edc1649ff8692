"""`GET /v2/sandboxes`: filters and cursor pagination as the SDK's paginator drives them.

The SDK double-encodes `metadata` (wire protocol 2.1): after normal query decoding the value is
`k%20x=v&k2=v2`, parsed as form data and then percent-decoded once more per key and value.
The cursor (`x-next-token` / `nextToken`) is the position of the last item returned, so pages
stay stable while sandboxes come and go. Nodes filter, order and cut for us (`ListRequest`):
each sends at most one page plus one past the cursor, and `page` merges their answers, so a
page's cost does not grow with the number of sandboxes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote

from corral.api.errors import BadRequest
from corral.orchestrator.wire import Sandbox
from corral.runtime.types import SandboxState

STATES: tuple[SandboxState, ...] = ("running", "paused")

Cursor = tuple[datetime, str]
"""The start time and id of the last sandbox of the previous page."""


def parse_metadata(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise BadRequest(f"invalid metadata filter: {exc}") from exc
    return {unquote(k): unquote(v) for k, v in pairs}


def parse_states(raw: str | None) -> set[SandboxState]:
    if not raw:
        return set(STATES)
    asked = {s.strip() for s in raw.split(",") if s.strip()}
    unknown = asked - set(STATES)
    if unknown:
        raise BadRequest(f"invalid state filter {sorted(unknown)}: expected running or paused")
    return {s for s in STATES if s in asked}


def node_state(states: set[SandboxState]) -> SandboxState | None:
    """The state a node is asked for: None (every state) unless exactly one is wanted."""
    return next(iter(states)) if len(states) == 1 else None


def _key(sandbox: Sandbox) -> Cursor:
    return sandbox.start_time, sandbox.sandbox_id


def encode_cursor(sandbox: Sandbox) -> str:
    start = sandbox.start_time.isoformat()
    return base64.urlsafe_b64encode(f"{start}|{sandbox.sandbox_id}".encode()).decode()


def decode_cursor(token: str) -> Cursor:
    try:
        start, _, sandbox_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        moment = datetime.fromisoformat(start)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("invalid nextToken") from exc
    if not sandbox_id:
        raise BadRequest("invalid nextToken")
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)), sandbox_id


def page(
    sandboxes: Sequence[Sandbox],
    *,
    metadata: dict[str, str],
    states: set[SandboxState],
    order: str,
    limit: int,
    after: Cursor | None,
) -> tuple[list[Sandbox], str | None]:
    """One page of the filtered, ordered sandboxes, and the token of the next (None: last).

    `sandboxes` are the nodes' answers: already filtered and cut by each node, but checked
    again here, so a node that ignores the filters (an older one) still gives right pages."""
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc")
    chosen = [
        s
        for s in sandboxes
        if s.state in states and all(s.metadata.get(k) == v for k, v in metadata.items())
    ]
    chosen.sort(key=_key, reverse=order == "desc")
    if after is not None:
        if order == "desc":
            chosen = [s for s in chosen if _key(s) < after]
        else:
            chosen = [s for s in chosen if _key(s) > after]
    items = chosen[:limit]
    more = len(chosen) > limit
    return items, encode_cursor(items[-1]) if more and items else None
