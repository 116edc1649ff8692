"""Settings, the error mapping and the registry's files, without servers."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pydantic
import pytest

from corral.orchestrator import errors
from corral.orchestrator.client import OrchestratorClient
from corral.orchestrator.models import SandboxRecord, utcnow
from corral.orchestrator.registry import Registry
from corral.orchestrator.settings import OrchestratorSettings
from corral.runtime import errors as runtime_errors
from corral.runtime.types import Resources
from tests.orchestrator.conftest import Harness


def test_settings_refuse_to_start_without_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRET", "DEV"):
        monkeypatch.delenv(f"CORRAL_ORCHESTRATOR_{name}", raising=False)
    with pytest.raises(pydantic.ValidationError, match="CORRAL_ORCHESTRATOR_SECRET is not set"):
        OrchestratorSettings()
    with pytest.raises(pydantic.ValidationError, match="at least 16"):
        OrchestratorSettings(secret="short")
    assert OrchestratorSettings(dev=True).secret is None

    monkeypatch.setenv("CORRAL_ORCHESTRATOR_SECRET", "s" * 32)
    monkeypatch.setenv("CORRAL_DATA_DIR", "/srv/corral")
    monkeypatch.setenv("CORRAL_ORCHESTRATOR_POOL_SIZE", "0")
    monkeypatch.setenv("CORRAL_ORCHESTRATOR_TEMPLATES", '{"base": "/srv/base"}')
    settings = OrchestratorSettings()
    assert settings.port == 5008
    assert settings.pool_size == 0
    assert settings.data_dir == Path("/srv/corral")
    assert settings.state_dir == Path("/srv/corral/orchestrator")
    assert settings.templates == {"base": Path("/srv/base")}
    monkeypatch.setenv("CORRAL_ORCHESTRATOR_DATA_DIR", "/srv/orch")
    assert OrchestratorSettings().data_dir == Path("/srv/orch")


async def test_dev_mode_serves_without_a_secret(harness: Harness) -> None:
    await harness.start(secret=None, dev=True)
    async with OrchestratorClient(harness.target, None) as client:
        assert (await client.info()).sandboxes == 0


@pytest.mark.parametrize(
    ("exc", "code", "raised"),
    [
        (errors.SandboxNotFound("x"), grpc.StatusCode.NOT_FOUND, errors.SandboxNotFound),
        (errors.TemplateNotFound("x"), grpc.StatusCode.NOT_FOUND, errors.TemplateNotFound),
        (errors.SandboxExists("x"), grpc.StatusCode.ALREADY_EXISTS, errors.SandboxExists),
        (errors.InvalidRequest("x"), grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidRequest),
        (errors.StateConflict("x"), grpc.StatusCode.FAILED_PRECONDITION, errors.StateConflict),
        (
            errors.CapacityExhausted("x"),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            errors.CapacityExhausted,
        ),
        (errors.SandboxNotReady("x"), grpc.StatusCode.UNAVAILABLE, errors.SandboxNotReady),
        (runtime_errors.SandboxNotFound("x"), grpc.StatusCode.NOT_FOUND, errors.SandboxNotFound),
        (
            runtime_errors.SandboxStateError("x"),
            grpc.StatusCode.FAILED_PRECONDITION,
            errors.StateConflict,
        ),
        (
            runtime_errors.ResourceExhausted("x"),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            errors.CapacityExhausted,
        ),
        (runtime_errors.HostSetupError("x"), grpc.StatusCode.INTERNAL, errors.InternalError),
        (RuntimeError("x"), grpc.StatusCode.INTERNAL, errors.InternalError),
    ],
)
def test_errors_map_to_status_codes_and_back(
    exc: Exception, code: grpc.StatusCode, raised: type[Exception]
) -> None:
    got_code, message, name = errors.status_for(exc)
    assert got_code is code
    assert "x" in message
    assert type(errors.error_for(got_code, message, name)) is raised
    # Without the name (another server, a proxy) the code alone still picks a fitting class.
    assert isinstance(errors.error_for(got_code, message, None), errors.OrchestratorError)


def record(sandbox_id: str) -> SandboxRecord:
    now = utcnow()
    return SandboxRecord(
        sandbox_id=sandbox_id,
        runtime_id=f"rt-{sandbox_id}",
        template_id="base",
        resources=Resources(vcpu=1, memory_mb=256),
        address="10.0.0.2",
        start_time=now,
        end_time=now,
        metadata={"m": "1"},
        env_vars={"E": "2"},
        envd_access_token="tok",
    )


async def test_registry_round_trips_and_sets_aside_bad_files(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.load()
    await registry.put(record("a"))
    await registry.put(record("b").evolve(state="paused"))
    directory = tmp_path / "sandboxes"
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    assert oct((directory / "a.json").stat().st_mode & 0o777) == "0o600"
    (directory / "broken.json").write_text("{not json")
    (directory / "c.json").write_text(json.dumps(record("other").to_json()))  # wrong name
    (directory / ".a.123.tmp").write_text("half-written")

    again = Registry(tmp_path)
    loaded = {r.sandbox_id: r for r in again.load()}
    assert set(loaded) == {"a", "b"}
    assert loaded["a"] == registry.get("a")
    assert loaded["b"].state == "paused"
    assert sorted(p.name for p in directory.iterdir()) == [
        "a.json",
        "b.json",
        "broken.corrupt",
        "c.corrupt",
    ]
    await again.remove("a")
    await again.remove("a")  # idempotent
    assert "a" not in again and len(again) == 1
