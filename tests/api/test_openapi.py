"""`/openapi.json` against what the API answers and what the official SDK's client expects.

The SDK's generated client (`e2b.api.client`) is the reference for field names and required
keys: its request models' `to_dict()` give the keys it sends, and its response models'
`from_dict()` must parse every answer (a missing required key is a `KeyError` in the SDK).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from e2b.api.client import models as sdk

from corral.api.app import create_app
from corral.api.settings import ApiSettings
from tests.api.harness import Api, serve_api
from tests.api.test_routes import assert_error, create

DOCUMENT: dict[str, Any] = create_app(ApiSettings()).openapi()
PATHS: dict[str, dict[str, Any]] = DOCUMENT["paths"]
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in PATHS.items() for method, op in ops.items()]


def body_schema(path: str, method: str) -> dict[str, Any]:
    """The model of a request body (an optional body is `anyOf` the model and null)."""
    schema = PATHS[path][method]["requestBody"]["content"]["application/json"]["schema"]
    ref = next(s["$ref"] for s in schema.get("anyOf", [schema]) if "$ref" in s)
    model: dict[str, Any] = SCHEMAS[ref.rsplit("/", 1)[1]]
    return model


def test_success_statuses_are_the_ones_the_sdk_decodes() -> None:
    def successes(path: str, method: str) -> set[str]:
        return {s for s in PATHS[path][method]["responses"] if s.startswith("2")}

    assert successes("/v2/sandboxes", "post") == {"201"}
    assert successes("/sandboxes", "post") == {"201"}
    assert successes("/v2/sandboxes", "get") == {"200"}
    assert successes("/sandboxes/{sandbox_id}", "get") == {"200"}
    for path in ("/timeout", "/refreshes", "/pause"):
        assert successes(f"/sandboxes/{{sandbox_id}}{path}", "post") == {"204"}
    assert successes("/sandboxes/{sandbox_id}", "delete") == {"204"}
    assert successes("/v2/sandboxes/{sandbox_id}/connect", "post") == {"200", "201"}
    assert successes("/sandboxes/{sandbox_id}/resume", "post") == {"201"}
    assert successes("/api-keys", "post") == {"201"}
    for status in ("409", "404"):
        assert status in PATHS["/sandboxes/{sandbox_id}/pause"]["post"]["responses"]


def test_every_error_is_e2b_shaped_and_no_422_is_promised() -> None:
    assert SCHEMAS["Error"]["required"] == ["code", "message"]
    assert "HTTPValidationError" not in SCHEMAS
    for path, method, op in operations():
        responses = op["responses"]
        assert "422" not in responses, (path, method)
        for status, response in responses.items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR_REF, (path, method, status)
        if "requestBody" in op:
            assert "413" in responses, (path, method)


def test_the_api_key_is_a_security_scheme_not_a_parameter() -> None:
    scheme = DOCUMENT["components"]["securitySchemes"]["ApiKeyAuth"]
    assert scheme == scheme | {"type": "apiKey", "in": "header", "name": "X-API-KEY"}
    assert "security" not in PATHS["/health"]["get"]
    keyed = 0
    for path, method, op in operations():
        params = {p["name"] for p in op.get("parameters", [])}
        assert "X-API-KEY" not in params, (path, method)
        if op.get("security") == [{"ApiKeyAuth": []}]:
            keyed += 1
            assert {"401", "429"} <= set(op["responses"]), (path, method)
        elif path.startswith(("/sandboxes", "/v2/sandboxes", "/api-keys", "/teams")):
            raise AssertionError(f"{method} {path} does not ask for the API key")
    assert keyed >= 20


def test_request_bodies_name_the_fields_the_sdk_sends() -> None:
    unsupported = {"iam", "volumeMounts"}  # accepted and ignored, like any unknown key
    new_sandbox = sdk.NewSandbox(
        template_id="base",
        timeout=60,
        auto_pause=False,
        auto_pause_memory=True,
        auto_resume=sdk.SandboxAutoResumeConfig(enabled=True),
        secure=True,
        allow_internet_access=True,
        network=sdk.SandboxNetworkConfig(allow_out=["1.1.1.1"]),
        metadata={},
        env_vars={},
        mcp=None,
    ).to_dict()
    for path in ("/v2/sandboxes", "/sandboxes"):
        schema = body_schema(path, "post")
        assert set(new_sandbox) - unsupported <= set(schema["properties"])
        assert schema["required"] == ["templateID"]
    sent: dict[tuple[str, str], Any] = {
        ("/sandboxes/{sandbox_id}/timeout", "post"): sdk.SandboxTimeoutRequest(timeout=1),
        ("/sandboxes/{sandbox_id}/refreshes", "post"): sdk.SandboxRefreshRequest(duration=1),
        ("/sandboxes/{sandbox_id}/pause", "post"): sdk.SandboxPauseRequest(),
        ("/v2/sandboxes/{sandbox_id}/connect", "post"): sdk.ConnectSandbox(timeout=1, memory=True),
        ("/sandboxes/{sandbox_id}/resume", "post"): sdk.ResumedSandbox(
            auto_pause=True, memory=True
        ),
    }
    for (path, method), model in sent.items():
        assert set(model.to_dict()) <= set(body_schema(path, method)["properties"]), path
    assert PATHS["/sandboxes/{sandbox_id}/timeout"]["post"]["requestBody"]["required"] is True


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with serve_api(database_url, tmp_path) as served:
        yield served


async def test_the_sdk_client_parses_every_answer(api: Api) -> None:
    async with api.client() as client:
        made = await create(client, metadata={"k": "v"})
        assert sdk.Sandbox.from_dict(made).sandbox_id == made["sandboxID"]
        sandbox_id = str(made["sandboxID"])
        sdk.SandboxDetail.from_dict((await client.get(f"/sandboxes/{sandbox_id}")).json())
        for item in (await client.get("/v2/sandboxes")).json():
            sdk.ListedSandbox.from_dict(item)
        for item in (await client.get(f"/sandboxes/{sandbox_id}/metrics")).json():
            sdk.SandboxMetric.from_dict(item)
        for path in ("/templates", "/v2/templates"):
            for item in (await client.get(path)).json():
                assert sdk.Template.from_dict(item).created_by is None
        sdk.Template.from_dict((await client.get("/templates/base")).json())
        alias = (await client.get("/templates/aliases/base")).json()
        assert sdk.TemplateAliasResponse.from_dict(alias).template_id == "base"
        connected = await client.post(f"/v2/sandboxes/{sandbox_id}/connect", json={})
        sdk.Sandbox.from_dict(connected.json())
        missing = await client.get("/sandboxes/unknown")
        assert_error(missing, 404)
        assert sdk.Error.from_dict(missing.json()).code == 404
