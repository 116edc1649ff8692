"""The official e2b SDK pointed straight at one envd, as `Sandbox.create()` would build it.

After the control plane answers a create, the SDK holds a sandbox id, the envd version, the
access token and a connection config whose sandbox URL leads to envd; building the object from
the same values makes every request below the SDK's own.
"""

from __future__ import annotations

from e2b import AsyncSandbox, ConnectionConfig, Sandbox
from packaging.version import Version

from corral.envd import ENVD_VERSION


def sdk_kwargs(url: str, token: str | None, sandbox_id: str = "sbx-local") -> dict[str, object]:
    headers = {"E2b-Sandbox-Id": sandbox_id, "E2b-Sandbox-Port": "49983"}
    if token is not None:
        headers["X-Access-Token"] = token
    return dict(
        sandbox_id=sandbox_id,
        sandbox_domain=None,
        envd_version=Version(ENVD_VERSION),
        envd_access_token=token,
        traffic_access_token=None,
        connection_config=ConnectionConfig(
            api_key="unused", sandbox_url=url, extra_sandbox_headers=headers
        ),
    )


def sdk_sandbox(url: str, token: str | None = None, sandbox_id: str = "sbx-local") -> Sandbox:
    return Sandbox(**sdk_kwargs(url, token, sandbox_id))  # type: ignore[arg-type]


def async_sdk_sandbox(
    url: str, token: str | None = None, sandbox_id: str = "sbx-local"
) -> AsyncSandbox:
    return AsyncSandbox(**sdk_kwargs(url, token, sandbox_id))  # type: ignore[arg-type]
