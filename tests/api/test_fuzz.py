"""Schemathesis against the API's own `/openapi.json`: no input earns a 5xx, answers match it.

The API is served for real (uvicorn on loopback, over a real orchestrator whose fake driver
runs envd processes) from an event loop in a thread of its own, because schemathesis calls
it synchronously. Every operation gets schema-valid and schema-violating input (the examples,
coverage and fuzzing phases, derandomized and bounded); each answer must not be a 5xx, must
have a documented status, content type and body, must reject what violates the schema, and
must not work without the API key.

Deeper runs: `CORRAL_FUZZ_EXAMPLES=300` (fuzzing examples per operation) and
`CORRAL_FUZZ_POSTGRES=1` (a PostgreSQL cluster instead of SQLite).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi import checks as openapi_checks

from corral.api.app import create_app
from corral.api.settings import ApiSettings
from tests.api.harness import Api, serve_api

T = TypeVar("T")

EXAMPLES = int(os.environ.get("CORRAL_FUZZ_EXAMPLES", "40"))
SEED = 20250101

DOCUMENT = create_app(ApiSettings()).openapi()
"""What `/openapi.json` serves (it depends on no setting); checked against the served one."""

schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # Unknown query parameters are ignored, as E2B does (newer SDKs send more).
            "generation": {"allow-extra-parameters": False, "deterministic": True},
        }
    ),
)


# Operations that start a template build: a build runs buildah on a node (and may pull its
# FROM image from a registry), which the fuzz must not do; the harness's node has no builder.
# Their bad input is covered in tests/e2e/test_templates.py against a real builder.
schema = schema.exclude(method="POST", path="/templates").exclude(
    method="POST", path="/v2/templates/{template_id}/builds/{build_id}"
)


class LoopThread:
    """An event loop in a daemon thread: the served API's, while the tests call it in sync."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class Fuzzed:
    api: Api
    key: str
    """Of a team whose rate limit the fuzzing never reaches (2 concurrent sandboxes)."""


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Fuzzed]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    if os.environ.get("CORRAL_FUZZ_POSTGRES"):
        url: str = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'corral.db'}"
    background = LoopThread()
    served = serve_api(url, tmp)
    api = background.run(served.__aenter__())
    try:
        team = background.run(
            api.store.create_team(
                "fuzz", max_concurrent_sandboxes=2, rate_limit_per_s=1e6, rate_limit_burst=10**6
            )
        )
        _, key = background.run(api.store.create_api_key(team.id, "fuzz"))
        yield Fuzzed(api, key)
    finally:
        background.run(served.__aexit__(None, None, None))
        background.stop()


def test_the_fuzzed_document_is_the_served_one(fuzzed: Fuzzed) -> None:
    assert httpx.get(f"{fuzzed.api.url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_answers_match_the_document(
    fuzzed: Fuzzed, case: schemathesis.Case[Any]
) -> None:
    case.call_and_validate(
        base_url=fuzzed.api.url,
        headers={"X-API-KEY": fuzzed.key},
        checks=[
            checks.not_a_server_error,
            openapi_checks.status_code_conformance,
            openapi_checks.content_type_conformance,
            openapi_checks.response_schema_conformance,
            openapi_checks.negative_data_rejection,
            openapi_checks.unsupported_method,
            openapi_checks.allow_header_conformance,
            openapi_checks.ignored_auth,
        ],
        timeout=30,
    )
