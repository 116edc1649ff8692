"""What envd imports before it serves: only what `GET /health` needs.

envd runs in every sandbox, so each module it loads at start costs private memory in each one
and start time in each cold start; the rest is loaded with the first request that needs it
(`app.py`, `lean.py`). This guards against an import creeping back into the start path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

# Run envd's `main.run` up to the point where uvicorn would start serving, then report.
_PROBE = """
import json, sys
import corral.envd.server as server

def report(app, host, port):
    built = BUILD(app, host, port)
    built.config.load()  # what uvicorn imports before listening (protocol, lifespan, loop)
    import connectrpc
    print(json.dumps({"modules": sorted(sys.modules), "connectrpc": connectrpc.__version__}))
    raise SystemExit(0)

BUILD = server.build_server
server.build_server = report
from corral.envd.main import run
run(["--port", "1", "--default-user", "root"])
"""

LOADED_LATER = (
    "protobuf",  # with the Connect services, after /init or on the first RPC
    "connectrpc.server",
    "corral.envd.process",
    "corral.envd.filesystem",
    "starlette",  # with the first HTTP request other than GET /health
    "corral.envd.http",
    "corral.envd.files_upload",
    "ctypes",  # with the first file operation as another user
)
NEVER = (
    "click",  # uvicorn's command line (lean.py)
    "uvicorn.main",
    "importlib.metadata",  # connectrpc's version lookup (lean.py)
    "structlog",  # envd logs without it (envd/logs.py)
)


def test_start_imports_only_what_health_needs() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    ).stdout
    report = json.loads(out.splitlines()[-1])
    loaded = set(report["modules"])
    assert "uvicorn.protocols.http.h11_impl" in loaded
    assert report["connectrpc"] == version("connectrpc")  # lean.py's, without the lookup
    for module in LOADED_LATER + NEVER:
        assert module not in loaded, module
