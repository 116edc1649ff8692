"""One listener for a whole domain: `api.{domain}` goes to the control plane, the rest to sandboxes.

With E2B_DOMAIN the SDK reaches the API at `https://api.{domain}` and sandboxes at
`https://{port}-{id}.{domain}`, on the same port (e2b-wire-protocol.md §1.2). `corral up` has
both applications in one process, so the split is a Host check in front of the proxy app, not
another hop. The API app's lifespan belongs to the server that also serves it on its own port
(`corral up`'s uvicorn): lifespan events here reach only the proxy app.
"""

from __future__ import annotations

from corral.proxy.types import ASGIApp, Receive, Scope, Send


class ApiHost:
    """Routes requests whose Host is `api.{domain}` (any port) to `api`, others to `sandboxes`."""

    def __init__(self, domain: str, api: ASGIApp, sandboxes: ASGIApp) -> None:
        self._api_host = f"api.{domain}".lower().encode()
        self._api = api
        self._sandboxes = sandboxes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self._is_api(scope["headers"]):
            await self._api(scope, receive, send)
        else:
            await self._sandboxes(scope, receive, send)

    def _is_api(self, headers: list[tuple[bytes, bytes]]) -> bool:
        for name, value in headers:
            if name == b"host":
                return value.lower().split(b":", 1)[0] == self._api_host
        return False
