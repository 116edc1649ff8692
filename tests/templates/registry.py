"""A real OCI registry on loopback for the builder's pull path: Debian's `docker-registry`
(distribution 2.x) run directly (no systemd), storage in the test's directory, optionally
behind htpasswd basic auth. Images reach it with `skopeo copy` from an OCI layout made once
per session from the base root filesystem, so nothing here ever leaves 127.0.0.1.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx
import pytest

from corral.templates.buildah import unmount_under
from tests.conftest import free_port

REGISTRY_BIN = "/usr/bin/docker-registry"  # `dpkg -L docker-registry`
IMAGE_PATH = "corral/debian:bookworm"


@dataclass
class Registry:
    host: str
    """`127.0.0.1:<port>`: image names on it are always fully qualified with it."""
    proc: subprocess.Popen[bytes]
    log: Path
    username: str | None = None
    password: str | None = None

    def image(self, path: str = IMAGE_PATH) -> str:
        return f"{self.host}/{path}"

    def push(self, layout: Path, path: str = IMAGE_PATH) -> None:
        creds = ["--dest-creds", f"{self.username}:{self.password}"] if self.username else []
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", *creds,
             f"oci:{layout}:bookworm", f"docker://{self.image(path)}"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_registry(directory: Path, username: str | None = None, password: str = "") -> Registry:
    """`docker-registry serve` on a free loopback port. With a user, every request needs basic
    auth (bcrypt htpasswd, the only hash it accepts); distribution 2.x takes it over plain
    HTTP, which is all a loopback test needs."""
    if not Path(REGISTRY_BIN).exists() or shutil.which("skopeo") is None:
        pytest.skip("needs docker-registry and skopeo (scripts/setup-host.sh installs them)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = ""
    if username is not None:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        (directory / "htpasswd").write_text(f"{username}:{hashed}\n")
        auth = f"auth:\n  htpasswd:\n    realm: corral-test\n    path: {directory / 'htpasswd'}\n"
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: info\n"
        f"storage:\n  filesystem:\n    rootdirectory: {directory / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    log = directory / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=out, stderr=out)
    registry = Registry(f"127.0.0.1:{port}", proc, log, username, password if username else None)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://{registry.host}/v2/", timeout=1).status_code in (200, 401):
                return registry
        except httpx.HTTPError:
            time.sleep(0.05)
    registry.stop()
    raise TimeoutError("docker-registry did not answer")


def make_oci_layout(rootfs: Path, work: Path) -> Path:
    """The base root filesystem as a one-layer OCI image layout (`<layout>:bookworm`), made
    with buildah in storage of its own, which is removed again."""
    storage, runroot = work / "storage", Path("/run/corral-test-buildah") / f"layout-{work.name}"
    base = ["buildah", "--root", str(storage), "--runroot", str(runroot), "--storage-driver", "vfs"]

    def run(*args: str) -> str:
        done = subprocess.run([*base, *args], check=True, capture_output=True, text=True)
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    layout = work / "layout"
    try:
        container = run("from", "scratch")
        mount = run("mount", container)
        subprocess.run(["cp", "-a", "--reflink=auto", f"{rootfs}/.", mount], check=True)
        run("umount", container)
        run("commit", "-q", container, "localhost/corral-test/debian:bookworm")
        run("push", "-q", "localhost/corral-test/debian:bookworm", f"oci:{layout}:bookworm")
    finally:
        unmount_under(storage)
        shutil.rmtree(storage, ignore_errors=True)
        shutil.rmtree(runroot, ignore_errors=True)
    return layout


@pytest.fixture(scope="session")
def oci_layout(base_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("buildah") is None:
        pytest.skip("needs buildah (scripts/setup-host.sh installs it)")
    return make_oci_layout(base_rootfs, tmp_path_factory.mktemp("oci"))


@pytest.fixture(scope="module")
def public_registry(
    oci_layout: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    registry = start_registry(tmp_path_factory.mktemp("registry-public"))
    try:
        registry.push(oci_layout)
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="module")
def private_registry(
    oci_layout: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    registry = start_registry(
        tmp_path_factory.mktemp("registry-private"), "corral-ci", "pa55-Wörd:with-colon"
    )
    try:
        registry.push(oci_layout)
        yield registry
    finally:
        registry.stop()
