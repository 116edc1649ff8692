"""Starting `corral up` as a separate process and reading the exports it prints.

Shared by the end-to-end tests and `bench/sdk_tti.py`. Host resources are named after
`instance` and addresses come from `pool`, so a test or benchmark run never touches a real
platform on the same host; the base rootfs is reused from where the other tests built it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port


def start_corral_up(
    *,
    runtime: str,
    data_dir: Path,
    base_rootfs: Path,
    instance: str,
    pool: str,
    ifname_prefix: str,
    pool_size: int = 1,
    extra_env: dict[str, str] | None = None,
    build_defaults: bool = False,
    domain: str | None = None,
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The running process and its exports (once it printed all three).

    With `domain`, `corral up --domain` on a free HTTPS port, and its exports are
    E2B_API_KEY, E2B_DOMAIN (with that port) and SSL_CERT_FILE (its local CA).
    """
    env = {
        **os.environ,
        "CORRAL_ORCHESTRATOR_TEMPLATES": json.dumps({"base": str(base_rootfs)}),
        "CORRAL_ORCHESTRATOR_ADDRESS_POOL": pool,
        "CORRAL_ORCHESTRATOR_IFNAME_PREFIX": ifname_prefix,
        **(extra_env or {}),
    }
    argv = [
        str(Path(sys.executable).with_name("corral")), "up",
        "--data-dir", str(data_dir),
        "--api-port", str(free_port()),
        "--proxy-port", str(free_port()),
        "--orchestrator-port", str(free_port()),
        "--runtime", runtime,
        "--pool-size", str(pool_size),
        "--instance", instance,
        *([] if build_defaults else ["--no-build-defaults"]),
    ]  # fmt: skip
    if domain is not None:
        argv += ["--domain", domain, "--https-port", str(free_port())]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    exports: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value
        if len(exports) == 3:
            return proc, exports
    proc.wait(5)
    raise RuntimeError(f"corral up exited {proc.returncode} before printing its exports")


def stop_corral_up(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
