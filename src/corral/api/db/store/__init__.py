"""`Store`: every read and write of the control plane's durable state, one method each.

Each method is one short transaction and returns frozen records (`corral.api.db.records`),
never ORM objects. The parts live in their own modules; `Store` combines them.
"""

from __future__ import annotations

from corral.api.db.store.builds import Builds
from corral.api.db.store.keys import ACCESS_TOKEN_PREFIX, API_KEY_PREFIX, Keys
from corral.api.db.store.names import template_name
from corral.api.db.store.nodes import Events, Nodes
from corral.api.db.store.snapshots import Snapshots
from corral.api.db.store.tags import Tags
from corral.api.db.store.teams import Teams
from corral.api.db.store.templates import Templates


class Store(Teams, Keys, Templates, Builds, Tags, Snapshots, Nodes, Events):
    """The control plane's state over one `Database` (SQLite or PostgreSQL)."""


__all__ = ["ACCESS_TOKEN_PREFIX", "API_KEY_PREFIX", "Store", "template_name"]
