"""The official e2b SDK against `corral up`, configured only through the exported variables."""

from __future__ import annotations

import time

import pytest
from e2b import (
    AuthenticationException,
    NotFoundException,
    PtySize,
    RateLimitException,
    Sandbox,
    SandboxQuery,
)

from tests.e2e.conftest import Platform

pytestmark = [pytest.mark.slow, pytest.mark.root]


def test_create_run_files_and_kill(sdk_env: dict[str, str]) -> None:
    sbx = Sandbox.create(metadata={"suite": "e2e"}, envs={"GREETING": "hello"})
    try:
        result = sbx.commands.run("echo $GREETING from $(whoami)")
        assert result.stdout.strip() == "hello from user"
        sbx.files.write("/home/user/note.txt", "written through the proxy")
        assert sbx.files.read("/home/user/note.txt") == "written through the proxy"
        assert any(e.name == "note.txt" for e in sbx.files.list("/home/user"))
        info = sbx.get_info()
        assert info.sandbox_id == sbx.sandbox_id
        assert info.metadata == {"suite": "e2e"}
        assert info.state.value == "running"
        assert sbx.is_running()
    finally:
        assert sbx.kill() is True
    assert Sandbox.kill(sbx.sandbox_id) is False


def test_pty(sdk_env: dict[str, str]) -> None:
    sbx = Sandbox.create()
    try:
        out: list[bytes] = []
        handle = sbx.pty.create(PtySize(rows=24, cols=80))
        sbx.pty.send_stdin(handle.pid, b"echo pty-$((40+2))\nexit\n")
        handle.wait(on_pty=out.append)
        assert b"pty-42" in b"".join(out)
    finally:
        sbx.kill()


def test_list_with_metadata_filters_and_pagination(sdk_env: dict[str, str]) -> None:
    tag = f"list-{time.monotonic_ns()}"
    made = [Sandbox.create(metadata={"tag": tag, "n": str(i)}) for i in range(3)]
    try:
        paginator = Sandbox.list(query=SandboxQuery(metadata={"tag": tag}), limit=2)
        first = paginator.next_items()
        assert len(first) == 2 and paginator.has_next
        second = paginator.next_items()
        assert len(second) == 1 and not paginator.has_next
        ids = {s.sandbox_id for s in first + second}
        assert ids == {s.sandbox_id for s in made}
        one = Sandbox.list(query=SandboxQuery(metadata={"tag": tag, "n": "1"})).next_items()
        assert [s.sandbox_id for s in one] == [made[1].sandbox_id]
    finally:
        for s in made:
            s.kill()


def test_set_timeout_and_expiry(sdk_env: dict[str, str]) -> None:
    sbx = Sandbox.create(timeout=300)
    sbx.set_timeout(2)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sbx.is_running():
        time.sleep(0.3)
    assert not sbx.is_running()
    with pytest.raises(NotFoundException):
        Sandbox.get_info(sbx.sandbox_id)


def test_wrong_key_is_rejected(sdk_env: dict[str, str]) -> None:
    with pytest.raises(AuthenticationException):
        Sandbox.create(api_key="e2b_" + "0" * 40)


def test_another_teams_sandbox_is_not_found(sdk_env: dict[str, str], platform: Platform) -> None:
    team = platform.store_call("create_team", "other")
    _, other_key = platform.store_call("create_api_key", team.id, "other")  # type: ignore[attr-defined,misc]
    theirs = Sandbox.create(api_key=other_key)
    try:
        with pytest.raises(NotFoundException):
            Sandbox.get_info(theirs.sandbox_id)
        assert Sandbox.kill(theirs.sandbox_id) is False
        assert theirs.sandbox_id not in {s.sandbox_id for s in Sandbox.list().next_items()}
    finally:
        theirs.kill()


def test_rate_limit(sdk_env: dict[str, str], platform: Platform) -> None:
    # Retry-After (100 s) beyond the request deadline: the SDK gives up instead of waiting.
    team = platform.store_call("create_team", "slow", rate_limit_per_s=0.01, rate_limit_burst=2)
    _, key = platform.store_call("create_api_key", team.id, "slow")  # type: ignore[attr-defined,misc]
    with pytest.raises(RateLimitException):
        for _ in range(6):
            Sandbox.list(api_key=key).next_items()


def test_concurrency_quota(sdk_env: dict[str, str], platform: Platform) -> None:
    team = platform.store_call("create_team", "small", max_concurrent_sandboxes=1)
    _, key = platform.store_call("create_api_key", team.id, "small")  # type: ignore[attr-defined,misc]
    first = Sandbox.create(api_key=key)
    try:
        with pytest.raises(RateLimitException):
            Sandbox.create(api_key=key)
    finally:
        first.kill()
