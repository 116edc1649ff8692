"""What to build, as E2B's SDK sends it (`TemplateBuildStartV2`) or as a legacy Dockerfile.

The same model travels from the API to the orchestrator (as JSON), so both sides agree on
what a valid build is; the API rejects an invalid one before anything is recorded.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corral.templates.errors import InvalidBuildSpec

StepType = Literal["RUN", "COPY", "ENV", "WORKDIR", "USER", "ARG"]
DEFAULT_USER = "user"
DEFAULT_WORKDIR = "/home/user"
MAX_STEPS = 500


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class Step(_Model):
    """One instruction. `args` as the SDK sends them: RUN `[cmd, user?]`, COPY
    `[src, dest, user?, mode?]`, ENV `[k1, v1, k2, v2…]`, WORKDIR `[path]`, USER `[name]`."""

    type: StepType
    args: list[Annotated[str, Field(max_length=65536)]] = Field(default_factory=list)
    files_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, alias="filesHash"
    )
    force: bool = False

    @model_validator(mode="after")
    def _check_args(self) -> Step:
        n = len(self.args)
        ok = {
            "RUN": 1 <= n <= 2,
            "COPY": 2 <= n <= 4,
            "ENV": n >= 2 and n % 2 == 0,
            "ARG": n >= 1,
            "WORKDIR": n == 1,
            "USER": n == 1,
        }[self.type]
        if not ok:
            raise ValueError(f"{self.type} step has {n} argument(s)")
        if self.type == "COPY" and self.files_hash is None:
            raise ValueError("COPY step needs filesHash")
        return self


class RegistryCredentials(_Model):
    """`fromImageRegistry` of type `registry` (user name and password for a private registry)."""

    type: Literal["registry", "aws", "gcp"]
    username: str | None = None
    password: str | None = None


class BuildSpec(_Model):
    from_image: str | None = Field(default=None, alias="fromImage", max_length=512)
    from_template: str | None = Field(default=None, alias="fromTemplate", max_length=255)
    from_image_registry: RegistryCredentials | None = Field(default=None, alias="fromImageRegistry")
    steps: list[Step] = Field(default_factory=list, max_length=MAX_STEPS)
    start_cmd: str | None = Field(default=None, alias="startCmd", max_length=65536)
    ready_cmd: str | None = Field(default=None, alias="readyCmd", max_length=65536)
    force: bool = False
    dockerfile: str | None = Field(default=None, max_length=1 << 20)
    """Legacy flow (`POST /templates`): a whole Dockerfile instead of steps."""

    @model_validator(mode="after")
    def _check_source(self) -> BuildSpec:
        sources = [x for x in (self.from_image, self.from_template, self.dockerfile) if x]
        if len(sources) > 1:
            raise ValueError("give only one of fromImage, fromTemplate and a Dockerfile")
        reg = self.from_image_registry
        if reg is not None and reg.type != "registry":
            raise ValueError(f"registry credentials of type '{reg.type}' are not supported")
        return self

    def files_hashes(self) -> list[str]:
        return [s.files_hash for s in self.steps if s.files_hash is not None]


def parse_spec(raw: object) -> BuildSpec:
    """A `BuildSpec` from JSON-like data, or `InvalidBuildSpec` saying what is wrong."""
    from pydantic import ValidationError

    try:
        return BuildSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidBuildSpec(
            f"invalid build: {where}: {first['msg']}".replace(": : ", ": ")
        ) from None
