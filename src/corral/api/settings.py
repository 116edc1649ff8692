"""`corral api`'s settings, from `CORRAL_API_*` environment variables.

Nodes are listed in configuration for now (`CORRAL_API_NODES='[{"id": "n1", "target":
"127.0.0.1:5008"}]'`); discovery from Nomad/Consul or Kubernetes will fill the same list.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from corral.orchestrator.settings import MIN_SECRET_LENGTH
from corral.settings import DEFAULT_DATA_DIR


class NodeConfig(BaseModel):
    id: str
    target: str
    """host:port of the node's orchestrator gRPC server."""


_PROCESS_KEY = secrets.token_bytes(32)


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CORRAL_API_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = 3000
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        validation_alias=AliasChoices("CORRAL_API_DATA_DIR", "CORRAL_DATA_DIR"),
    )
    database_url: str | None = None
    """SQLAlchemy URL; default: SQLite at `<data_dir>/corral.db`."""
    catalog_url: str = "memory"
    """`memory` (one process) or `redis://host:port/db` (API and proxies apart)."""
    rate_limit_url: str = ""
    """Where team rate limits are counted: `memory` (per API process) or `redis://…` (shared by
    every API process that names it); empty: the catalog's Redis if it is one, else memory."""
    nodes: list[NodeConfig] = Field(
        default_factory=lambda: [NodeConfig(id="local", target="127.0.0.1:5008")]
    )
    orchestrator_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "CORRAL_API_ORCHESTRATOR_SECRET", "CORRAL_ORCHESTRATOR_SECRET"
        ),
    )
    domain: str | None = None
    """Returned to the SDK as the sandbox `domain` (for `{port}-{id}.{domain}` hosts)."""
    default_timeout: int = 300
    """Seconds a sandbox lives when the create request names none (E2B's default)."""
    max_body_bytes: int = 1024 * 1024
    """Largest JSON body accepted; the API takes no uploads."""
    catalog_sync_interval: float = 1.0
    """Seconds between reconciliations of the routing catalog with the nodes' sandboxes."""
    signing_key: SecretStr | None = None
    """Signs upload URLs; set the same one on every API process (default: one per process)."""
    artifacts: str = ""
    """Artifact store URL (shared with the orchestrators); empty: `<data_dir>/artifacts`."""
    max_upload_bytes: int = 4 * 1024**3
    """Largest COPY archive a template build may upload."""
    api_key_cache_seconds: float = 10.0
    """How long a checked API key is trusted without asking the database again."""
    internal_secret: SecretStr | None = None
    """Shared with standalone proxies (`CORRAL_PROXY_API_SECRET`): enables the internal route
    they wake paused sandboxes through (routes/internal.py); unset, that route does not exist."""

    @field_validator("internal_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"CORRAL_API_INTERNAL_SECRET must be at least {MIN_SECRET_LENGTH} characters"
            )
        return secret

    def signing_key_bytes(self) -> bytes:
        if self.signing_key is not None:
            return self.signing_key.get_secret_value().encode()
        return _PROCESS_KEY

    @property
    def artifacts_url(self) -> str:
        return self.artifacts or str(self.data_dir / "artifacts")

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'corral.db'}"
