"""Two of envd's dependencies, imported without module-level work envd never uses.

envd runs in every sandbox, so whatever it imports is paid in private memory per sandbox and in
start time per cold start. Two imports did work that no server needs:

* `uvicorn/__init__.py` imports `uvicorn.main`: click, the multiprocessing supervisors and
  the reloader (~1.5 MB, ~10 ms). The package is registered without running its `__init__`,
  with the one name uvicorn's own modules take from it (`from uvicorn import Config`, in
  `uvicorn.lifespan.*`).
* `connectrpc/_version.py` calls `importlib.metadata.version()`, which imports email, zipfile,
  csv and pathlib and scans `sys.path`, to put the version into the User-Agent of connectrpc's
  clients (~0.8 MB). It is given the version read from the `connectrpc-<version>.dist-info`
  directory name next to the package instead.

Either step is skipped where it does not apply (the module already imported, an unexpected
layout), which only costs the memory back. `prepare()` must run before the first import of
uvicorn or connectrpc; `main.run` calls it first.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types


def prepare() -> None:
    """Register the trimmed modules; later imports of uvicorn and connectrpc use them."""
    _uvicorn_without_cli()
    _connectrpc_version_without_metadata()


def _uvicorn_without_cli() -> None:
    if "uvicorn" in sys.modules:
        return
    spec = importlib.util.find_spec("uvicorn")
    if spec is None:
        return
    package = importlib.util.module_from_spec(spec)
    sys.modules["uvicorn"] = package
    from uvicorn.config import Config

    package.Config = Config  # type: ignore[attr-defined]


def _connectrpc_version_without_metadata() -> None:
    if "connectrpc._version" in sys.modules:
        return
    spec = importlib.util.find_spec("connectrpc")
    if spec is None or spec.origin is None:
        return
    site = os.path.dirname(os.path.dirname(spec.origin))
    versions = [
        name.removeprefix("connectrpc-").removesuffix(".dist-info")
        for name in os.listdir(site)
        if name.startswith("connectrpc-") and name.endswith(".dist-info")
    ]
    if len(versions) != 1:
        return
    module = types.ModuleType("connectrpc._version")
    module.__version__ = versions[0]  # type: ignore[attr-defined]
    sys.modules["connectrpc._version"] = module
