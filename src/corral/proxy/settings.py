"""`corral proxy`'s settings, from `CORRAL_PROXY_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 3002
"""E2B's client-proxy port."""


class ProxySettings(BaseSettings):
    """Where the proxy listens, how it finds sandboxes, and how it treats both sides' sockets."""

    model_config = SettingsConfigDict(env_prefix="CORRAL_PROXY_", extra="ignore")

    host: str = "127.0.0.1"
    """Address to bind; a proxy that SDKs on other machines reach binds a public interface."""
    port: int = DEFAULT_PORT
    domain: str | None = None
    """Sandbox domain: `{port}-{sandboxID}.{domain}` hosts are routed by their first label."""
    tls_cert: Path | None = None
    """PEM certificate chain (a wildcard `*.{domain}` for host routing); enables TLS and h2."""
    tls_key: Path | None = None
    catalog_url: str = "memory"
    """`memory` (only useful when another component in this process shares it) or `redis://…`."""
    api_url: str | None = None
    """The API's base URL (`http://api:3000`): with `api_secret`, traffic for a paused sandbox
    with auto-resume wakes it through the API's internal route (apiwake.py)."""
    api_secret: SecretStr | None = None
    """The API's `CORRAL_API_INTERNAL_SECRET`."""
    api_timeout: float = Field(default=60.0, gt=0)
    """Seconds a wake may take (a resume, possibly restored from the artifact store)."""
    server: Literal["auto", "uvicorn", "hypercorn"] = "auto"
    """`auto`: uvicorn for plain HTTP (lower per-request cost), hypercorn for TLS (h2 + ALPN)."""

    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    """Seconds to open a connection to a sandbox port before answering "port is not open"."""
    upstream_keepalive_expiry: float = Field(default=4.0, ge=0)
    """Seconds an idle upstream connection is kept: below the 5 s idle timeout of common
    servers in sandboxes (uvicorn, Node), so a reused connection is never one they just closed."""
    upstream_max_keepalive: int = Field(default=512, ge=0)
    """Idle upstream connections kept in total (all sandboxes together)."""
    client_keepalive_timeout: float = Field(default=610.0, gt=0)
    """Seconds an idle client connection stays open: longer than the SDK's 300 s pool expiry,
    so the SDK always closes first and never reuses a connection the proxy just dropped."""
    websocket_max_message: int = Field(default=16 * 1024 * 1024, gt=0)

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("set both CORRAL_PROXY_TLS_CERT and CORRAL_PROXY_TLS_KEY, or neither")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None
