"""`GET /v2/sandboxes`: filters and cursor pagination as the SDK's paginator drives them.

The SDK double-encodes `metadata` (wire protocol 2.1): after normal query decoding the value is
`k%20x=v&k2=v2`, parsed as form data and then percent-decoded once more per key and value.
The cursor (`x-next-token` / `nextToken`) is the position of the last item returned, so pages
stay stable while sandboxes come and go.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from urllib.parse import parse_qsl, unquote

from corral.api.errors import BadRequest
from corral.orchestrator.wire import Sandbox

STATES = ("running", "paused")


def parse_metadata(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise BadRequest(f"invalid metadata filter: {exc}") from exc
    return {unquote(k): unquote(v) for k, v in pairs}


def parse_states(raw: str | None) -> set[str]:
    if not raw:
        return set(STATES)
    states = {s.strip() for s in raw.split(",") if s.strip()}
    unknown = states - set(STATES)
    if unknown:
        raise BadRequest(f"invalid state filter {sorted(unknown)}: expected running or paused")
    return states


def _key(sandbox: Sandbox) -> tuple[str, str]:
    return sandbox.start_time.isoformat(), sandbox.sandbox_id


def encode_cursor(sandbox: Sandbox) -> str:
    start, sandbox_id = _key(sandbox)
    return base64.urlsafe_b64encode(f"{start}|{sandbox_id}".encode()).decode()


def decode_cursor(token: str) -> tuple[str, str]:
    try:
        start, _, sandbox_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("invalid nextToken") from exc
    if not sandbox_id:
        raise BadRequest("invalid nextToken")
    return start, sandbox_id


def page(
    sandboxes: Sequence[Sandbox],
    *,
    metadata: dict[str, str],
    states: set[str],
    order: str,
    limit: int,
    next_token: str | None,
) -> tuple[list[Sandbox], str | None]:
    """One page of the filtered, ordered sandboxes, and the token of the next (None: last)."""
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc")
    chosen = [
        s
        for s in sandboxes
        if s.state in states and all(s.metadata.get(k) == v for k, v in metadata.items())
    ]
    chosen.sort(key=_key, reverse=order == "desc")
    if next_token:
        cursor = decode_cursor(next_token)
        if order == "desc":
            chosen = [s for s in chosen if _key(s) < cursor]
        else:
            chosen = [s for s in chosen if _key(s) > cursor]
    items = chosen[:limit]
    more = len(chosen) > limit
    return items, encode_cursor(items[-1]) if more and items else None
