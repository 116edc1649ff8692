"""Everything a request handler may need, built once per API process (see `app.py`)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from corral.api.db.database import Database
from corral.api.db.records import TeamRecord, TemplateRecord
from corral.api.db.store import Store
from corral.api.nodes import NodeDirectory, Placement
from corral.api.ratelimit import MemoryRateLimiter, RateLimiter
from corral.api.settings import ApiSettings
from corral.catalog.types import RoutingCatalog

if TYPE_CHECKING:
    from corral.api.template_builds import BuildWatchers

TEMPLATE_CACHE_SECONDS = 5.0


@dataclass
class ApiContext:
    settings: ApiSettings
    database: Database
    store: Store
    nodes: NodeDirectory
    catalog: RoutingCatalog
    placement: Placement
    limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    build_watchers: BuildWatchers = field(init=False)
    _keys: dict[str, tuple[TeamRecord, float]] = field(default_factory=dict)
    _templates: dict[tuple[str, str], tuple[TemplateRecord, float]] = field(default_factory=dict)

    async def template(self, team_id: str, ref: str) -> TemplateRecord | None:
        """A template as the team names it, cached briefly: every create resolves one."""
        now = time.monotonic()
        cached = self._templates.get((team_id, ref))
        if cached is not None and cached[1] > now:
            return cached[0]
        template = await self.store.resolve_template(team_id, ref)
        if template is not None:
            self._templates[(team_id, ref)] = (template, now + TEMPLATE_CACHE_SECONDS)
        return template

    def forget_templates(self) -> None:
        """Drop cached templates (after one is deleted or rebuilt)."""
        self._templates.clear()

    async def team_for_key(self, raw_key: str) -> TeamRecord | None:
        """The team an API key belongs to, cached briefly: it is checked on every request."""
        digest = hashlib.sha256(raw_key.encode()).hexdigest()
        cached = self._keys.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        team = await self.store.team_for_api_key(raw_key)
        if team is None:
            self._keys.pop(digest, None)
            return None
        self._keys[digest] = (team, now + self.settings.api_key_cache_seconds)
        return team

    def forget_keys(self) -> None:
        """Drop cached keys (after a key is deleted, so it stops working at once)."""
        self._keys.clear()
