"""`corral orchestrator`'s settings, from `CORRAL_ORCHESTRATOR_*` environment variables.

The prefix is the component's own (`CORRAL_ORCHESTRATOR_PORT`, `…_SECRET`, …) so that the API,
proxy and orchestrator can share one environment file without their ports and secrets colliding.
`data_dir` is the exception: it is the host's, shared by every component, so `CORRAL_DATA_DIR`
sets it too (`CORRAL_ORCHESTRATOR_DATA_DIR` wins when both are set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from corral.runtime.types import RuntimeName
from corral.settings import DEFAULT_DATA_DIR

DEFAULT_PORT = 5008
MIN_SECRET_LENGTH = 16


class OrchestratorSettings(BaseSettings):
    """One node's orchestrator: where it listens, who may call it, how it keeps sandboxes warm."""

    model_config = SettingsConfigDict(
        env_prefix="CORRAL_ORCHESTRATOR_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    """Address to bind; a cluster node binds the interface the control plane reaches."""
    port: int = DEFAULT_PORT
    secret: SecretStr | None = None
    """Shared with the control plane, sent as `authorization: Bearer <secret>` on every call."""
    dev: bool = False
    """Development mode: allows running without a secret (every caller is then trusted)."""
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        validation_alias=AliasChoices("CORRAL_ORCHESTRATOR_DATA_DIR", "CORRAL_DATA_DIR"),
    )
    """The host's Corral directory; sandbox records live in `<data_dir>/orchestrator/`."""
    runtime: RuntimeName = "runsc"
    instance: str = Field(default="corral", pattern=r"^[a-z][a-z0-9-]{0,15}$")
    """Names everything this orchestrator makes on the host (nft table, netns prefix, runtime
    state, cgroup parent), so two instances (a test run beside a real one) never collide."""
    address_pool: str = "10.254.0.0/16"
    """Sandbox addresses, a /30 per sandbox; must not overlap a network the host uses."""
    ifname_prefix: str = Field(default="crl", pattern=r"^[a-z]{2,5}$")
    """Host-side veth names: `<prefix><slot>`; distinct per instance on one host."""
    templates: dict[str, Path] = Field(default_factory=dict)
    """Template id → root filesystem (JSON in the environment). `base` defaults to the base
    rootfs that `corral.runtime.rootfs` builds, when not given here."""
    pool_templates: list[str] = Field(default_factory=lambda: ["base"])
    """Templates kept warm from the start; others get a pool on their first create."""
    pool_size: int = Field(default=2, ge=0)
    """Ready sandboxes kept per template and resource shape; 0 turns warm pools off."""
    pool_refill_concurrency: int = Field(default=1, ge=1)
    """Pool sandboxes started at once: refills share the host with live creates."""
    pool_max_shapes: int = Field(default=8, ge=0)
    """Most (template, resources) pairs that get a pool, so odd shapes cannot fill the host."""

    default_vcpu: int = Field(default=2, ge=1)
    default_memory_mb: int = Field(default=512, ge=64)
    default_disk_mb: int = Field(default=1024, ge=64)
    default_timeout: int = Field(default=300, ge=1)
    """Seconds a sandbox lives when the request sets no lifetime (E2B's default)."""
    sandbox_user: str = "user"
    """The account envd runs commands as when the SDK names none (E2B templates have `user`)."""

    readiness_timeout: float = Field(default=30.0, gt=0)
    artifacts: str = ""
    """Artifact store URL (COPY files, template exports); empty: `<data_dir>/artifacts`."""
    build_ca_bundle: str = "/etc/ssl/certs/ca-certificates.crt"
    """The host's trusted CAs, which template builds' RUN steps use (empty: the image's own)."""
    template_snapshots: bool = True
    """Save each built template's ready sandbox where the runtime can (gVisor), so that its
    sandboxes start from it instead of booting and running the start command."""
    template_ready_timeout: float = Field(default=120.0, gt=0)
    """How long a template's ready command may take to succeed (E2B waits as long)."""
    """Seconds a new or resumed sandbox has to answer envd's `/health` before it is torn down."""
    health_poll_interval: float = Field(default=0.005, gt=0)
    reaper_interval: float = Field(default=1.0, gt=0)
    """Seconds between sweeps for sandboxes past their end time."""
    liveness_interval: float = Field(default=5.0, gt=0)
    """Seconds between checks for sandboxes that died on their own (one runtime `list`)."""
    shutdown_grace: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _secret_required(self) -> Self:
        """Refuse to serve an open control port outside development."""
        if self.dev:
            return self
        if self.secret is None:
            raise ValueError(
                "CORRAL_ORCHESTRATOR_SECRET is not set: set it to the secret the control plane"
                " sends, or set CORRAL_ORCHESTRATOR_DEV=1 to run without authentication"
            )
        if len(self.secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"CORRAL_ORCHESTRATOR_SECRET must be at least {MIN_SECRET_LENGTH} characters"
            )
        return self

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "orchestrator"

    @property
    def templates_dir(self) -> Path:
        """Templates this node built (or fetched): `<build_id>/rootfs` and its manifest."""
        return self.data_dir / "templates"
