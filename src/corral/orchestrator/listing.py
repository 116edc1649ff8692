"""Which of a node's sandboxes a `List` call answers with: filtered, in order, one page.

The order is (start time, sandbox id), the control plane's cursor order (`api/listing.py`):
a page of the API is at most `limit` sandboxes from each node past the cursor, merged, so the
node sends what one page needs instead of every sandbox it has, and a page costs about the same
with 10 sandboxes or 10,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from corral.orchestrator.models import SandboxRecord

Cursor = tuple[datetime, str]
"""The start time and id of the last sandbox already listed."""


def _key(record: SandboxRecord) -> Cursor:
    return record.start_time, record.sandbox_id


def select(
    records: Iterable[SandboxRecord],
    *,
    metadata: Mapping[str, str] | None = None,
    ascending: bool = False,
    limit: int = 0,
    after: Cursor | None = None,
) -> list[SandboxRecord]:
    """Records whose metadata has every pair of `metadata`, newest first (or oldest first),
    only those past `after` in that order, at most `limit` of them (0: all)."""
    wanted = list((metadata or {}).items())
    chosen = [r for r in records if all(r.metadata.get(k) == v for k, v in wanted)]
    if after is not None:
        if ascending:
            chosen = [r for r in chosen if _key(r) > after]
        else:
            chosen = [r for r in chosen if _key(r) < after]
    chosen.sort(key=_key, reverse=not ascending)
    return chosen[:limit] if limit > 0 else chosen
