"""Request and response bodies, with E2B's JSON keys exactly as the SDK sends and parses them.

Keys follow wire protocol 2.2, including its inconsistencies: `allow_internet_access` is
snake_case in requests and `allowInternetAccess` camelCase in `SandboxDetail`.

Request bodies are validated strictly (a `"10"` is not a number, a `1` not a boolean, as in
E2B's Go server) and may not carry NUL characters anywhere: PostgreSQL cannot store them and
no process takes them in an environment variable, so they are a 400 here rather than a
failure further in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Wire(BaseModel):
    """Accepts both the wire key and the field name; unknown keys are ignored, as E2B does."""

    model_config = ConfigDict(
        populate_by_name=True,
        extra="ignore",
        # Answers always carry every field (null included): the schema says so.
        json_schema_serialization_defaults_required=True,
    )


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class Request(Wire):
    """A request body: strict types, no NUL characters in any string, key or nested value."""

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("strings must not contain NUL (\\u0000) characters")
        return data


class Error(Wire):
    """E2B's error body, of every 4xx and 5xx answer (wire protocol 2.2 `Error`)."""

    code: int
    message: str


class AutoResume(Request):
    enabled: bool = False


class NewSandbox(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"templateID": "base", "timeout": 60, "metadata": {"user": "a"}, "envVars": {}}
            ]
        }
    )

    template_id: str = Field(alias="templateID", min_length=1, max_length=256)
    timeout: int | None = Field(default=None, ge=0, le=2_592_000)
    auto_pause: bool = Field(default=False, alias="autoPause")
    auto_pause_memory: bool | None = Field(default=None, alias="autoPauseMemory")
    auto_resume: AutoResume | None = Field(default=None, alias="autoResume")
    allow_internet_access: bool | None = None
    network: dict[str, Any] | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    env_vars: dict[str, str] = Field(default_factory=dict, alias="envVars")
    secure: bool | None = None
    mcp: dict[str, Any] | None = None

    @field_validator("env_vars")
    @classmethod
    def _env_names(cls, env_vars: dict[str, str]) -> dict[str, str]:
        for name in env_vars:
            if not name or "=" in name:
                raise ValueError(f"invalid environment variable name {name!r}")
        return env_vars


class SandboxOut(Wire):
    template_id: str = Field(alias="templateID")
    sandbox_id: str = Field(alias="sandboxID")
    client_id: str = Field(alias="clientID")
    envd_version: str = Field(alias="envdVersion")
    alias: str | None = None
    envd_access_token: str | None = Field(default=None, alias="envdAccessToken")
    traffic_access_token: str | None = Field(default=None, alias="trafficAccessToken")
    domain: str | None = None


SandboxStateName = Literal["running", "paused"]


class Lifecycle(Wire):
    auto_resume: bool = Field(alias="autoResume")
    on_timeout: Literal["kill", "pause"] = Field(alias="onTimeout")


class ListedSandbox(Wire):
    template_id: str = Field(alias="templateID")
    sandbox_id: str = Field(alias="sandboxID")
    client_id: str = Field(alias="clientID")
    alias: str | None = None
    started_at: datetime = Field(alias="startedAt")
    end_at: datetime = Field(alias="endAt")
    cpu_count: int = Field(alias="cpuCount")
    memory_mb: int = Field(alias="memoryMB")
    disk_size_mb: int = Field(alias="diskSizeMB")
    state: SandboxStateName
    envd_version: str = Field(alias="envdVersion")
    metadata: dict[str, str] = Field(default_factory=dict)


class SandboxDetail(ListedSandbox):
    envd_access_token: str | None = Field(default=None, alias="envdAccessToken")
    allow_internet_access: bool | None = Field(default=None, alias="allowInternetAccess")
    domain: str | None = None
    lifecycle: Lifecycle | None = None
    pause_mode: Literal["full", "filesystem"] | None = Field(
        default=None, alias="pauseMode", exclude_if=lambda mode: mode is None
    )
    """A paused sandbox's: what its pause kept; a running one's: what a pause at its end time
    will keep. Left out when there is none (killed at its end time): the SDK reads a null as
    a mode and fails."""


class Timeout(Request):
    timeout: int = Field(ge=0, le=2_592_000)


class Refresh(Request):
    duration: int | None = Field(default=None, ge=0, le=3600)


class Connect(Request):
    timeout: int | None = Field(default=None, ge=0, le=2_592_000)
    memory: bool | None = None


class Resume(Request):
    timeout: int | None = Field(default=None, ge=0, le=2_592_000)
    auto_pause: bool | None = Field(default=None, alias="autoPause")
    memory: bool | None = None


class Pause(Request):
    memory: bool | None = None
    require_healthy_guest: bool | None = Field(default=None, alias="requireHealthyGuest")


class SandboxMetric(Wire):
    timestamp: datetime
    timestamp_unix: int = Field(alias="timestampUnix")
    cpu_count: int = Field(alias="cpuCount")
    cpu_used_pct: float = Field(alias="cpuUsedPct")
    mem_used: int = Field(alias="memUsed")
    mem_total: int = Field(alias="memTotal")
    mem_cache: int = Field(alias="memCache")
    disk_used: int = Field(alias="diskUsed")
    disk_total: int = Field(alias="diskTotal")


class SandboxesMetrics(Wire):
    sandboxes: dict[str, SandboxMetric]


class TeamUser(Wire):
    id: str
    email: str


class TemplateOut(Wire):
    template_id: str = Field(alias="templateID")
    build_id: str = Field(alias="buildID")
    cpu_count: int = Field(alias="cpuCount")
    memory_mb: int = Field(alias="memoryMB")
    disk_size_mb: int = Field(alias="diskSizeMB")
    public: bool
    aliases: list[str]
    names: list[str]
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")
    last_spawned_at: datetime | None = Field(default=None, alias="lastSpawnedAt")
    spawn_count: int = Field(alias="spawnCount")
    build_count: int = Field(alias="buildCount")
    envd_version: str = Field(alias="envdVersion")
    build_status: Literal["building", "waiting", "ready", "error"] = Field(
        default="ready", alias="buildStatus"
    )
    created_by: TeamUser | None = Field(default=None, alias="createdBy")
    """Required by the SDK's `Template` (null allowed): who built it; none for platform ones."""


class TemplateAlias(Wire):
    template_id: str = Field(alias="templateID")
    public: bool


class TeamOut(Wire):
    team_id: str = Field(alias="teamID")
    name: str
    api_key: str | None = Field(default=None, alias="apiKey")
    is_default: bool = Field(default=True, alias="isDefault")


class NewApiKey(Request):
    name: str = Field(min_length=1, max_length=200)


class UpdateApiKey(Request):
    name: str = Field(min_length=1, max_length=200)


class ApiKeyMask(Wire):
    prefix: str
    value_length: int = Field(alias="valueLength")
    masked_value_prefix: str = Field(alias="maskedValuePrefix")
    masked_value_suffix: str = Field(alias="maskedValueSuffix")


class TeamApiKey(Wire):
    id: str
    name: str
    mask: ApiKeyMask
    created_at: datetime = Field(alias="createdAt")
    last_used: datetime | None = Field(default=None, alias="lastUsed")


class CreatedApiKey(TeamApiKey):
    key: str
