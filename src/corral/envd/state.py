"""What envd knows about its sandbox: set at start, then by the orchestrator via `POST /init`."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field

from corral.envd.users import User, UserExecutors, lookup


@dataclass
class EnvdState:
    """Per-sandbox configuration shared by every envd handler."""

    default_user: str
    access_token: str | None = None
    env_vars: dict[str, str] = field(default_factory=dict)
    default_workdir: str | None = None
    started_at: float = field(default_factory=time.time)
    init_timestamp: float | None = None
    """`timestamp` of the newest `/init` applied: an older one arriving late is ignored."""
    executors: UserExecutors = field(default_factory=UserExecutors)

    def user(self, name: str | None) -> User:
        """The account a request acts as: the one it names, else the sandbox's default user."""
        return lookup(name or self.default_user)

    def token_matches(self, presented: str | None) -> bool:
        """True when no token is configured, or `presented` is it (compared in constant time)."""
        if self.access_token is None:
            return True
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.access_token.encode()
        )
