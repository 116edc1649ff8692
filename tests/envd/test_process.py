"""commands.* and pty.* of the official SDK against a real envd process."""

from __future__ import annotations

import os
import pwd
import threading
import time

import pytest
from e2b import (
    AsyncSandbox,
    AuthenticationException,
    CommandExitException,
    PtySize,
    Sandbox,
    TimeoutException,
)

from tests.envd.conftest import TEST_USER, Envd, sdk_opts


def test_run_foreground_captures_stdout_stderr_and_exit_code(sbx: Sandbox) -> None:
    result = sbx.commands.run("echo out; echo err >&2")
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.exit_code == 0
    assert result.error is None


def test_non_zero_exit_raises_with_output(sbx: Sandbox) -> None:
    with pytest.raises(CommandExitException) as info:
        sbx.commands.run("echo partial; exit 3")
    assert info.value.exit_code == 3
    assert info.value.stdout == "partial\n"
    assert info.value.error == "exit status 3"


def test_callbacks_stream_output_in_order(sbx: Sandbox) -> None:
    seen: list[str] = []
    sbx.commands.run("for i in 1 2 3; do echo $i; sleep 0.05; done", on_stdout=seen.append)
    assert "".join(seen) == "1\n2\n3\n"


def test_envs_cwd_and_default_user(sbx: Sandbox, workdir: str) -> None:
    result = sbx.commands.run(
        "echo $FOO; pwd; whoami; echo $HOME", envs={"FOO": "bar"}, cwd=workdir
    )
    home = pwd.getpwnam(TEST_USER).pw_dir
    assert result.stdout.split("\n")[:4] == ["bar", workdir, TEST_USER, home]


def test_root_user_through_basic_auth(sbx: Sandbox) -> None:
    assert sbx.commands.run("id -u", user="root").stdout.strip() == "0"
    assert sbx.commands.run("id -un").stdout.strip() == TEST_USER


def test_unknown_user_is_rejected(sbx: Sandbox) -> None:
    with pytest.raises(AuthenticationException):
        sbx.commands.run("true", user="nobody-such-user")


def test_missing_cwd_is_a_clear_error(sbx: Sandbox) -> None:
    with pytest.raises(Exception, match="cwd"):
        sbx.commands.run("true", cwd="/does/not/exist")


def test_background_command_wait_and_list(sbx: Sandbox) -> None:
    handle = sbx.commands.run("sleep 0.3; echo done", background=True)
    assert handle.pid > 0
    assert handle.pid in [p.pid for p in sbx.commands.list()]
    result = handle.wait()
    assert result.stdout == "done\n"
    assert handle.pid not in [p.pid for p in sbx.commands.list()]


def test_kill_background_command(sbx: Sandbox) -> None:
    handle = sbx.commands.run("sleep 30", background=True)
    assert sbx.commands.kill(handle.pid) is True
    with pytest.raises(CommandExitException) as info:
        handle.wait()
    assert info.value.exit_code == -1
    assert "signal: killed" in (info.value.error or "")
    assert sbx.commands.kill(handle.pid) is False


def test_stdin_send_and_close(sbx: Sandbox) -> None:
    handle = sbx.commands.run("cat", background=True, stdin=True)
    sbx.commands.send_stdin(handle.pid, "hello ")
    handle.send_stdin("world\n")
    handle.close_stdin()
    assert handle.wait().stdout == "hello world\n"


def test_stdin_disabled_by_default_gives_eof(sbx: Sandbox) -> None:
    assert sbx.commands.run("cat; echo after").stdout == "after\n"


def test_disconnect_keeps_process_and_connect_reattaches(sbx: Sandbox, workdir: str) -> None:
    marker = os.path.join(workdir, "marker")
    handle = sbx.commands.run(f"sleep 0.5; echo late; touch {marker}", background=True)
    pid = handle.pid
    handle.disconnect()
    again = sbx.commands.connect(pid)
    result = again.wait()
    assert result.stdout == "late\n"
    assert os.path.exists(marker)


def test_connect_to_unknown_pid_fails(sbx: Sandbox) -> None:
    with pytest.raises(Exception, match="not found"):
        sbx.commands.connect(999_999).wait()


def test_timeout_is_process_lifetime(sbx: Sandbox, workdir: str) -> None:
    marker = os.path.join(workdir, "survived")
    started = time.monotonic()
    with pytest.raises(TimeoutException):
        sbx.commands.run(f"sleep 3; touch {marker}", timeout=1)
    assert time.monotonic() - started < 2.5
    time.sleep(2.5)
    assert not os.path.exists(marker), "the process outlived its Connect-Timeout-Ms"


def test_stream_input(sbx: Sandbox) -> None:
    handle = sbx.commands.run("head -c 6", background=True, stdin=True)
    sbx.commands.stream_input(handle.pid, iter([b"abc", b"def"]))
    assert handle.wait().stdout == "abcdef"


def _wait_for(chunks: list[bytes], needle: bytes) -> None:
    deadline = time.monotonic() + 10
    while needle not in b"".join(chunks) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert needle in b"".join(chunks), b"".join(chunks)[-500:]


def test_pty_create_input_resize_kill(sbx: Sandbox) -> None:
    chunks: list[bytes] = []
    terminal = sbx.pty.create(PtySize(rows=24, cols=80))
    outcome: dict[str, object] = {}

    def wait() -> None:
        try:
            terminal.wait(on_pty=chunks.append)
        except CommandExitException as exc:
            outcome["exit"] = exc

    waiter = threading.Thread(target=wait)
    waiter.start()
    sbx.pty.send_stdin(terminal.pid, b"stty size; echo pty-$((6*7))\n")
    _wait_for(chunks, b"pty-42")
    assert b"24 80" in b"".join(chunks)
    sbx.pty.resize(terminal.pid, PtySize(rows=30, cols=100))
    sbx.pty.send_stdin(terminal.pid, b"stty size\n")
    _wait_for(chunks, b"30 100")
    assert sbx.pty.kill(terminal.pid) is True
    waiter.join(10)
    assert isinstance(outcome.get("exit"), CommandExitException)


def test_pty_is_a_login_terminal_and_exit_ends_it(sbx: Sandbox) -> None:
    chunks: list[bytes] = []
    terminal = sbx.pty.create(PtySize(rows=24, cols=80))
    sbx.pty.send_stdin(terminal.pid, b"tty; echo $TERM; exit 0\n")
    assert terminal.wait(on_pty=chunks.append).exit_code == 0
    output = b"".join(chunks)
    assert b"/dev/pts/" in output
    assert b"xterm-256color" in output


def test_wrong_access_token_is_rejected(envd: Envd) -> None:
    bad = Sandbox(**sdk_opts(envd, token="wrong"))  # type: ignore[arg-type]
    with pytest.raises(AuthenticationException):
        bad.commands.run("true")
    missing = Sandbox(**sdk_opts(envd, token=None))  # type: ignore[arg-type]
    with pytest.raises(AuthenticationException):
        missing.commands.list()


async def test_async_sdk_run_and_background(async_sbx: AsyncSandbox) -> None:
    result = await async_sbx.commands.run("echo async")
    assert result.stdout == "async\n"
    out: list[str] = []
    handle = await async_sbx.commands.run(
        "echo a; sleep 0.1; echo b", background=True, on_stdout=out.append
    )
    await handle.wait()
    assert "".join(out) == "a\nb\n"


def test_keepalives_do_not_disturb_long_silent_commands(envd: Envd) -> None:
    import httpx

    body = b'{"process":{"cmd":"/bin/bash","args":["-c","sleep 1.2; echo x"]},"stdin":false}'
    frame = b"\x00" + len(body).to_bytes(4, "big") + body
    with httpx.stream(
        "POST",
        f"{envd.url}/process.Process/Start",
        content=frame,
        headers={
            "content-type": "application/connect+json",
            "connect-protocol-version": "1",
            "keepalive-ping-interval": "0.3",
            "x-access-token": envd.token or "",
        },
    ) as response:
        assert response.headers["content-type"] == "application/connect+json"
        raw = response.read()
    messages = []
    while raw:
        flags, size = raw[0], int.from_bytes(raw[1:5], "big")
        messages.append((flags, raw[5 : 5 + size]))
        raw = raw[5 + size :]
    kinds = [m.decode() for f, m in messages if f == 0]
    assert kinds[0].startswith('{"event":{"start"')
    assert sum('"keepalive"' in k for k in kinds) >= 2
    assert '"end"' in kinds[-1]
    assert messages[-1][0] == 2
