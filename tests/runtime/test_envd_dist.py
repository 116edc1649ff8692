"""The envd distribution: built once per source, run by a plain Debian python3 (the host's,
then the base rootfs's inside a chroot), answering /health and the official SDK."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2b import ConnectionConfig, Sandbox
from packaging.version import Version

from corral.envd import ENVD_VERSION
from corral.runtime.envd_dist import (
    MOUNT_POINT,
    base_dependencies,
    ensure_envd_dist_sync,
    envd_command,
    prune_envd_dists,
    source_digest,
)
from tests.conftest import REPO, free_port, wait_http

SYSTEM_PYTHON = Path("/usr/bin/python3")


def test_envd_command_runs_the_launcher_isolated() -> None:
    assert envd_command(49983) == [
        "/usr/bin/python3", "-I", "-S", "/opt/corral/bin/envd", "--port", "49983",
    ]  # fmt: skip
    assert Path("/opt/corral") == MOUNT_POINT


def test_base_dependencies_are_pyprojects() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert base_dependencies() == sorted(project["dependencies"])
    assert not any("typer" in d or "pydantic" in d for d in base_dependencies())


def test_source_digest_follows_content_not_bytecode(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    first = source_digest(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__/a.cpython-311.pyc").write_bytes(b"\0")
    assert source_digest(tmp_path) == first
    (tmp_path / "a.py").write_text("x = 2\n")
    assert source_digest(tmp_path) != first


def test_dist_layout(envd_dist: Path) -> None:
    site = envd_dist / "site"
    assert (envd_dist / "dist.json").is_file()
    assert os.access(envd_dist / "bin/envd", os.X_OK)
    assert (site / "corral/envd/main.py").is_file()
    for module in ("uvicorn", "starlette", "connectrpc", "structlog", "multipart"):
        assert (site / module).is_dir(), module
    for host_only in ("typer", "pydantic", "rich"):
        assert not (site / host_only).exists(), host_only
    # Byte-compiled ahead: the read-only mount lets no sandbox write its own .pyc files.
    sources = list(site.rglob("*.py"))
    assert sources
    for source in sources:
        assert (source.parent / "__pycache__" / f"{source.stem}.cpython-311.pyc").is_file(), source


def test_dist_is_cached(envd_dist: Path) -> None:
    started = time.monotonic()
    assert ensure_envd_dist_sync() == envd_dist
    assert time.monotonic() - started < 1.0
    assert not [p for p in envd_dist.parent.iterdir() if ".build-" in p.name]


def wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> float:
    """Seconds until GET /health answers 204."""
    started = time.monotonic()
    wait_http(f"{url}/health", timeout=timeout, proc=proc)
    assert httpx.get(f"{url}/health").status_code == 204
    return time.monotonic() - started


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_system_python_runs_envd_from_the_dist(envd_dist: Path) -> None:
    """Debian's python3 (not the venv), isolated from PYTHON* variables: only the dist counts."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no /usr/bin/python3 on this host")
    port = free_port()
    argv = [str(SYSTEM_PYTHON), "-I", "-S", str(envd_dist / "bin/envd")]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "/nonexistent"}
    proc = subprocess.Popen([*argv, "--host", "127.0.0.1", "--port", str(port)], env=env)
    try:
        seconds = wait_health(f"http://127.0.0.1:{port}", proc)
        print(f"envd from the dist answered /health {seconds * 1000:.0f} ms after exec")
    finally:
        stop(proc)


# --- inside the base rootfs: an overlay root, the dist bind-mounted read-only ---------------


@pytest.fixture
def envd_in_rootfs(base_rootfs: Path, envd_dist: Path, tmp_path: Path) -> Iterator[str]:
    """envd run by the rootfs's own python3 in a chroot, in a private mount and pid namespace
    (sharing the host's network so the test reaches it): the shape of a sandbox, minus the OCI
    runtime. Everything mounted disappears with the namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    root, upper, work = tmp_path / "root", tmp_path / "upper", tmp_path / "work"
    for d in (root, upper, work):
        d.mkdir()
    port = free_port()
    mount_point = f"{root}{MOUNT_POINT}"
    script = " && ".join(
        [
            f"mount -t overlay overlay -o lowerdir={base_rootfs},upperdir={upper},workdir={work} "
            f"{root}",
            f"mount --bind {envd_dist} {mount_point}",
            f"mount -o remount,bind,ro {mount_point}",
            f"mount -t proc proc {root}/proc",
            f"exec chroot {root} " + " ".join([*envd_command(port), "--host", "127.0.0.1"]),
        ]
    )
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
         "sh", "-c", script],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        seconds = wait_health(url, proc)
        print(f"envd in the rootfs answered /health {seconds * 1000:.0f} ms after unshare")
        yield url
    finally:
        # unshare --fork ignores SIGTERM while it waits; killing it makes the kernel kill its
        # child (--kill-child), the pid namespace's init, and with it every process inside.
        proc.kill()
        proc.wait()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=1.0)


@pytest.mark.slow
@pytest.mark.root
def test_rootfs_python_runs_envd_from_the_dist(envd_in_rootfs: str) -> None:
    headers = {"E2b-Sandbox-Id": "sbx-rootfs", "E2b-Sandbox-Port": "49983"}
    sbx = Sandbox(
        sandbox_id="sbx-rootfs",
        sandbox_domain=None,
        envd_version=Version(ENVD_VERSION),
        envd_access_token=None,
        traffic_access_token=None,
        connection_config=ConnectionConfig(
            api_key="unused", sandbox_url=envd_in_rootfs, extra_sandbox_headers=headers
        ),
    )
    assert sbx.commands.run("whoami").stdout.strip() == "user"
    assert sbx.commands.run("echo $HOME").stdout.strip() == "/home/user"
    assert sbx.commands.run("sudo -n id -u").stdout.strip() == "0"
    version = sbx.commands.run("python3 -c 'import sys; print(sys.version)'").stdout
    assert version.startswith("3.11.")
    sbx.files.write("/home/user/hello.txt", "from the sandbox")
    assert sbx.files.read("/home/user/hello.txt") == "from the sandbox"
    # The dist is read-only inside, and the write above landed in the overlay's upper layer.
    assert (
        sbx.commands.run("touch /opt/corral/x 2>&1 || echo refused")
        .stdout.strip()
        .endswith("refused")
    )


@pytest.mark.root
def test_prune_keeps_what_is_asked_and_what_is_mounted(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to hold a bind mount in another mount namespace")
    root = tmp_path / "envd"
    kept, mounted, old = (root / name for name in ("a" * 16, "b" * 16, "c" * 16))
    for dist in (kept, mounted, old):
        (dist / "site").mkdir(parents=True)
    (root / ".build.lock").touch()
    (root / "notadist").mkdir()
    target = tmp_path / "mnt"
    target.mkdir()
    # A sandbox stand-in: the dist bind-mounted in a private mount namespace, invisible to ours.
    holder = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"mount --bind {mounted} {target} && echo ready && exec sleep 60"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
        assert prune_envd_dists({kept}, root) == [old]
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [".build.lock", "notadist", kept.name, mounted.name]
    )
    assert prune_envd_dists({kept}, root) == [mounted]  # unmounted now
