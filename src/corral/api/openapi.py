"""`/openapi.json` as the API really answers: E2B's error model, the API key, no 422s.

FastAPI derives most of the document from the routes. Three things it cannot see are stated
here: every error body is E2B's `Error` (`{"code", "message"}`, wire protocol 2.2), so each
route lists its error statuses with `errors(...)`; invalid input is a 400 (errors.py), never
the 422 `HTTPValidationError` FastAPI documents by default; and a body over the size limit is
a 413 from `guards.RequestGuard` before any route runs. SDK generators and schemathesis
read this document, so a status it omits is one a client cannot decode.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from corral.api.schemas import Error

Responses = dict[int | str, dict[str, Any]]

DESCRIPTIONS = {
    400: "Invalid request: a missing or malformed field, parameter or body",
    401: "Missing or invalid API key (X-API-KEY)",
    403: "The resource belongs to another team",
    404: "Not found, or not visible to this team",
    409: "The sandbox is in the wrong state for this operation",
    413: "Request body larger than the API accepts",
    429: "Rate limit or concurrent-sandbox limit reached (see Retry-After)",
    500: "Internal error",
    503: "No orchestrator node could serve the request",
}

FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def errors(*statuses: int) -> Responses:
    """The `responses=` of a route that can fail with these statuses, each an `Error` body."""
    return {status: {"model": Error, "description": DESCRIPTIONS[status]} for status in statuses}


def install(app: FastAPI) -> None:
    """Serve the corrected document at `/openapi.json` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = correct(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def correct(document: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's 422 with what the API answers; a body may also earn a 413; every
    error is an `Error` in JSON."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            if "requestBody" in operation:
                responses["413"] = {"description": DESCRIPTIONS[413]}
            for status, response in responses.items():
                if int(status) >= 400:
                    # JSON even where the route's own answer is not (`/health` is text).
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
    schemas = document.get("components", {}).get("schemas", {})
    for name in FASTAPI_VALIDATION:
        schemas.pop(name, None)
    return document
