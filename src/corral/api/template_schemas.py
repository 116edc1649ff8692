"""Bodies of the template build API (wire protocol 2.4), keys exactly as the SDK sends them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from corral.api.db.store.names import MAX_TAG
from corral.api.schemas import Request, Wire
from corral.templates.spec import MAX_STEPS

BuildStatus = Literal["building", "waiting", "ready", "error"]
LogLevel = Literal["debug", "info", "warn", "error"]


class TemplateBuildRequestV3(Request):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    alias: str | None = Field(default=None, min_length=1, max_length=255)
    tags: list[str] | None = Field(default=None, max_length=64)
    team_id: str | None = Field(default=None, alias="teamID")
    cpu_count: int | None = Field(default=None, alias="cpuCount", ge=1, le=64)
    memory_mb: int | None = Field(default=None, alias="memoryMB", ge=128, le=262144)
    min_free_disk_mb: int | None = Field(default=None, alias="minFreeDiskMb", ge=0, le=1048576)


class TemplateRequestResponseV3(Wire):
    template_id: str = Field(alias="templateID")
    build_id: str = Field(alias="buildID")
    public: bool
    names: list[str]
    tags: list[str]
    aliases: list[str]


class LegacyTemplateBuildRequest(Request):
    """`POST /templates`: the E2B CLI's Dockerfile flow."""

    dockerfile: str = Field(min_length=1, max_length=1 << 20)
    alias: str | None = Field(default=None, min_length=1, max_length=255)
    team_id: str | None = Field(default=None, alias="teamID")
    start_cmd: str | None = Field(default=None, alias="startCmd", max_length=65536)
    ready_cmd: str | None = Field(default=None, alias="readyCmd", max_length=65536)
    cpu_count: int | None = Field(default=None, alias="cpuCount", ge=1, le=64)
    memory_mb: int | None = Field(default=None, alias="memoryMB", ge=128, le=262144)


class LegacyTemplateBuild(Wire):
    template_id: str = Field(alias="templateID")
    build_id: str = Field(alias="buildID")
    cpu_count: int = Field(alias="cpuCount")
    memory_mb: int = Field(alias="memoryMB")
    disk_size_mb: int = Field(alias="diskSizeMB")
    envd_version: str = Field(alias="envdVersion")
    public: bool
    aliases: list[str]


class TemplateStep(Request):
    type: str = Field(max_length=16)
    args: list[str] | None = None
    files_hash: str | None = Field(default=None, alias="filesHash", max_length=128)
    force: bool | None = None


class RegistryAuth(Request):
    type: str = Field(max_length=16)
    username: str | None = None
    password: str | None = None


class TemplateBuildStartV2(Request):
    from_image: str | None = Field(default=None, alias="fromImage", max_length=512)
    from_template: str | None = Field(default=None, alias="fromTemplate", max_length=255)
    from_image_registry: RegistryAuth | None = Field(default=None, alias="fromImageRegistry")
    force: bool | None = None
    steps: list[TemplateStep] | None = Field(default=None, max_length=MAX_STEPS)
    start_cmd: str | None = Field(default=None, alias="startCmd", max_length=65536)
    ready_cmd: str | None = Field(default=None, alias="readyCmd", max_length=65536)


class TemplateBuildFileUpload(Wire):
    present: bool
    url: str | None = None
    headers: dict[str, str] | None = None


class BuildLogEntry(Wire):
    timestamp: datetime
    message: str
    level: LogLevel
    step: str | None = None


class BuildStatusReason(Wire):
    message: str
    step: str | None = None
    log_entries: list[BuildLogEntry] = Field(default_factory=list, alias="logEntries")


class TemplateBuildInfo(Wire):
    logs: list[str]
    log_entries: list[BuildLogEntry] = Field(alias="logEntries")
    template_id: str = Field(alias="templateID")
    build_id: str = Field(alias="buildID")
    status: BuildStatus
    reason: BuildStatusReason | None = None


TagName = Annotated[str, Field(min_length=1, max_length=MAX_TAG)]


class AssignTemplateTags(Request):
    """`POST /templates/tags`: point `tags` at the build `target` (`name:tag`) names now."""

    target: str = Field(min_length=1, max_length=255)
    tags: list[TagName] = Field(min_length=1, max_length=64)


class AssignedTemplateTags(Wire):
    tags: list[str]
    build_id: str = Field(alias="buildID")


class DeleteTemplateTags(Request):
    """`DELETE /templates/tags`: `name` is the template alone; the tags go in `tags`."""

    name: str = Field(min_length=1, max_length=255)
    tags: list[TagName] = Field(min_length=1, max_length=64)


class TemplateTagOut(Wire):
    tag: str
    build_id: str = Field(alias="buildID")
    created_at: datetime = Field(alias="createdAt")
