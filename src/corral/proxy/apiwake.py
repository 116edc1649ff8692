"""Auto-resume for a proxy that runs apart from the API: ask the API to wake the sandbox.

`corral up` gives its proxy the API's wake in-process; a standalone `corral proxy` has only the
API's address, so its `WakePaused` hook is this HTTP call to the API's internal route
(`corral.api.routes.internal`), as E2B's client-proxy asks its API to resume. The proxy already
coalesces concurrent wakes of one sandbox into one call, and the API's resume tolerates several
proxies racing for the same sandbox, so the call itself is a single plain POST.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from corral import logs
from corral.catalog.types import Route
from corral.proxy.app import WakeRequest
from corral.proxy.errors import ResumeDenied, ResumeFailed

log = logs.get("proxy.apiwake")

DEFAULT_TIMEOUT = 60.0
"""Seconds: longer than a resume takes (a gVisor restore from the artifact store included)."""


class ApiWaker:
    """A `WakePaused` hook over one pooled HTTP client to the API; `aclose()` it when done.

    API answers: 200 → the running route; 404 → None (gone, or no auto-resume: the proxy says
    "paused"); 403 → `ResumeDenied`; anything else, or no answer → `ResumeFailed`.
    """

    def __init__(
        self,
        api_url: str,
        secret: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )

    async def __call__(self, request: WakeRequest) -> Route | None:
        sandbox_id = request.route.sandbox_id
        body = {
            "nodeId": request.route.node_id or None,
            "port": request.port,
            "accessToken": request.access_token,
        }
        try:
            response = await self._client.post(
                f"/internal/sandboxes/{quote(sandbox_id, safe='')}/wake", json=body
            )
        except httpx.HTTPError as exc:
            log.error("the API did not answer a wake", sandbox_id=sandbox_id, error=repr(exc))
            raise ResumeFailed(sandbox_id, "the API did not answer") from exc
        if response.status_code == 200:
            return _route(response, request.route)
        if response.status_code == 404:
            return None
        message = _message(response)
        if response.status_code == 403:
            raise ResumeDenied(message, sandbox_id=sandbox_id)
        if response.status_code == 401:
            log.error(
                "the API refused the proxy's secret: CORRAL_PROXY_API_SECRET must equal the"
                " API's CORRAL_API_INTERNAL_SECRET",
                sandbox_id=sandbox_id,
            )
        else:
            log.error("wake failed", sandbox_id=sandbox_id, status=response.status_code)
        raise ResumeFailed(sandbox_id, f"the API answered {response.status_code}: {message}")

    async def aclose(self) -> None:
        await self._client.aclose()


def _route(response: httpx.Response, paused: Route) -> Route:
    """The running route; its traffic token is the paused route's (a resume keeps it, and the
    API does not send it back)."""
    try:
        data = response.json()
        return Route(
            sandbox_id=str(data["sandboxId"]),
            address=str(data["address"]),
            node_id=str(data.get("nodeId") or ""),
            state=str(data.get("state") or "running"),
            traffic_access_token=paused.traffic_access_token,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ResumeFailed(paused.sandbox_id, "the API's answer was not a route") from exc


def _message(response: httpx.Response) -> str:
    """The `message` of an E2B-shaped error body, else the start of whatever came."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, str) else response.text[:200]
