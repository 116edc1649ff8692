"""`corral template build|list|logs|delete` against `corral up`, as a user types them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from e2b import Sandbox

from tests.e2e.conftest import Platform

pytestmark = [pytest.mark.slow, pytest.mark.root]

CORRAL = str(Path(sys.executable).with_name("corral"))


def corral(
    platform: Platform, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **platform.exports, "COLUMNS": "200"}
    return subprocess.run(
        [CORRAL, "template", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_build_list_logs_delete(
    platform: Platform, sdk_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("from the context\n")
    (tmp_path / "e2b.Dockerfile").write_text(
        "FROM debian:bookworm\n"
        "RUN echo cli-build > /etc/cli-marker\n"
        "COPY src /opt/src\n"
        "ENV CLI_VAR=yes\n"
        "WORKDIR /opt/src\n"
    )
    name = f"cli-{uuid.uuid4().hex[:8]}"
    built = corral(platform, "build", name, "--path", str(tmp_path))
    assert built.returncode == 0, built.stderr
    assert f"template {name} built" in built.stderr

    listed = corral(platform, "list")
    assert listed.returncode == 0 and name in listed.stdout

    logs = corral(platform, "logs", name)
    assert logs.returncode == 0, logs.stderr
    assert "cli-build" in logs.stdout and "Template ready" in logs.stdout

    sbx = Sandbox.create(name)
    try:
        out = sbx.commands.run("pwd; cat /etc/cli-marker a.txt; echo $CLI_VAR").stdout.split("\n")
        assert out[:4] == ["/opt/src", "cli-build", "from the context", "yes"]
    finally:
        sbx.kill()

    deleted = corral(platform, "delete", name)
    assert deleted.returncode == 0, deleted.stderr
    assert name not in corral(platform, "list").stdout


def test_legacy_build_and_its_failure(platform: Platform, tmp_path: Path) -> None:
    good = tmp_path / "good.Dockerfile"
    good.write_text("FROM debian:bookworm\nRUN echo legacy > /etc/legacy\n")
    name = f"legacy-{uuid.uuid4().hex[:8]}"
    result = corral(platform, "build", name, "-f", str(good), "--legacy")
    assert result.returncode == 0, result.stderr

    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM debian:bookworm\nRUN echo failing && exit 4\n")
    failed = corral(platform, "build", f"{name}-bad", "-f", str(bad), "--legacy")
    assert failed.returncode == 1
    assert "exit status 4" in failed.stderr
