"""corral.proxy: E2B's client-proxy (port 3002), between the SDK and every sandbox's ports.

The SDK sends each envd/Jupyter request either to `{port}-{sandboxID}.{domain}` or to one
`E2B_SANDBOX_URL` with `E2b-Sandbox-Id`/`E2b-Sandbox-Port` headers; the proxy looks the sandbox
up in the routing catalog and streams the request to `route.address:port` and the answer back.
A paused sandbox is woken first through the `WakePaused` hook its host process gives it (E2B's
auto-resume); the proxy itself never talks to the orchestrator.
"""

from corral.proxy.app import ProxyApp, WakePaused, WakeRequest, build_proxy_app
from corral.proxy.server import ProxyServer, serve_proxy
from corral.proxy.settings import ProxySettings

__all__ = [
    "ProxyApp",
    "ProxyServer",
    "ProxySettings",
    "WakePaused",
    "WakeRequest",
    "build_proxy_app",
    "serve_proxy",
]
