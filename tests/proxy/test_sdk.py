"""The official SDK driving real envds through the proxy, routed by E2B's headers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2b import (
    CommandExitException,
    FilesystemEventType,
    PtySize,
    Sandbox,
)

from tests.envd.conftest import TEST_USER
from tests.proxy.conftest import RunningProxy
from tests.proxy.conftest import Sandbox as Envd
from tests.sdk import async_sdk_sandbox, sdk_sandbox


@pytest.fixture
def sbx(proxy: RunningProxy, sandbox_a: Envd) -> Sandbox:
    return sdk_sandbox(proxy.url, sandbox_a.token, sandbox_a.sandbox_id)


@pytest.fixture
def sbx_b(proxy: RunningProxy, sandbox_b: Envd) -> Sandbox:
    return sdk_sandbox(proxy.url, sandbox_b.token, sandbox_b.sandbox_id)


@pytest.fixture
def workdir() -> Iterator[str]:
    user = pwd.getpwnam(TEST_USER)
    path = os.path.join(user.pw_dir, f"proxy-{uuid.uuid4().hex[:8]}")
    os.makedirs(path)
    os.chown(path, user.pw_uid, user.pw_gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_run_foreground(sbx: Sandbox) -> None:
    result = sbx.commands.run("echo out; echo err >&2; exit 0")
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 0)


def test_non_zero_exit_raises_through_proxy(sbx: Sandbox) -> None:
    with pytest.raises(CommandExitException) as info:
        sbx.commands.run("echo nope >&2; exit 3")
    assert info.value.exit_code == 3
    assert info.value.stderr == "nope\n"


def test_background_output_streams_as_it_is_produced(sbx: Sandbox) -> None:
    """Each line reaches the callback while the command is still running: no buffering."""
    seen: list[tuple[float, str]] = []
    handle = sbx.commands.run("for i in 1 2 3; do echo line$i; sleep 0.3; done", background=True)
    result = handle.wait(on_stdout=lambda line: seen.append((time.monotonic(), line)))
    assert result.stdout == "line1\nline2\nline3\n"
    assert [line for _, line in seen] == ["line1\n", "line2\n", "line3\n"]
    assert seen[-1][0] - seen[0][0] > 0.45, "output arrived in one burst: the proxy buffered it"


def test_stdin_send_and_stream_input(sbx: Sandbox) -> None:
    handle = sbx.commands.run("head -c 12", background=True, stdin=True)
    sbx.commands.send_stdin(handle.pid, "hello ")
    handle.send_stdin("world\n")
    assert handle.wait().stdout == "hello world\n"

    streamed = sbx.commands.run("head -c 9", background=True, stdin=True)

    def chunks() -> Iterator[bytes]:
        for part in (b"abc", b"def", b"ghi"):
            time.sleep(0.1)  # separate chunks of one chunked request body
            yield part

    sbx.commands.stream_input(streamed.pid, chunks())
    assert streamed.wait().stdout == "abcdefghi"


def test_pty(sbx: Sandbox) -> None:
    chunks: list[bytes] = []
    terminal = sbx.pty.create(PtySize(rows=24, cols=80))
    waiter = threading.Thread(target=lambda: terminal.wait(on_pty=chunks.append))
    waiter.start()
    sbx.pty.send_stdin(terminal.pid, b"stty size; echo pty-$((6*7)); exit 0\n")
    waiter.join(15)
    output = b"".join(chunks)
    assert b"pty-42" in output
    assert b"24 80" in output


def test_files_text_list_and_large_bytes(sbx: Sandbox, workdir: str) -> None:
    sbx.files.write(f"{workdir}/hello.txt", "hi there")
    assert sbx.files.read(f"{workdir}/hello.txt") == "hi there"
    names = {entry.name for entry in sbx.files.list(workdir)}
    assert names == {"hello.txt"}

    payload = os.urandom(20 * 1024 * 1024)
    sbx.files.write(f"{workdir}/big.bin", payload)
    assert Path(workdir, "big.bin").stat().st_size == len(payload)
    back = sbx.files.read(f"{workdir}/big.bin", format="bytes")
    assert hashlib.sha256(back).digest() == hashlib.sha256(payload).digest()
    gz = sbx.files.read(f"{workdir}/big.bin", format="bytes", gzip=True)
    assert hashlib.sha256(gz).digest() == hashlib.sha256(payload).digest()


def test_watch_dir_sync(sbx: Sandbox, workdir: str) -> None:
    handle = sbx.files.watch_dir(workdir)
    Path(workdir, "new.txt").write_text("x")
    deadline = time.monotonic() + 5
    events = []
    while time.monotonic() < deadline:
        events += handle.get_new_events()
        if any(e.type == FilesystemEventType.CREATE and e.name == "new.txt" for e in events):
            break
        time.sleep(0.05)
    handle.stop()
    assert any(e.name == "new.txt" for e in events)


async def test_async_watch_dir_and_background(
    proxy: RunningProxy, sandbox_a: Envd, workdir: str
) -> None:
    sbx = async_sdk_sandbox(proxy.url, sandbox_a.token, sandbox_a.sandbox_id)
    created = asyncio.Event()

    def on_event(event: object) -> None:
        if getattr(event, "name", None) == "streamed.txt":
            created.set()

    handle = await sbx.files.watch_dir(workdir, on_event=on_event)
    Path(workdir, "streamed.txt").write_text("x")
    await asyncio.wait_for(created.wait(), 5)
    await handle.stop()

    lines: list[str] = []
    command = await sbx.commands.run(
        "echo a; sleep 0.2; echo b", background=True, on_stdout=lines.append
    )
    assert (await command.wait()).stdout == "a\nb\n"
    assert lines == ["a\n", "b\n"]


def test_two_sandboxes_alternate(sbx: Sandbox, sbx_b: Sandbox, workdir: str) -> None:
    """The SDK reuses one connection for both sandboxes: each request is routed on its own."""
    for i in range(5):
        assert sbx.commands.run(f"echo a{i}").stdout == f"a{i}\n"
        assert sbx_b.commands.run(f"echo b{i}").stdout == f"b{i}\n"
        sbx.files.write(f"{workdir}/f{i}", f"{i}")
        assert sbx_b.files.read(f"{workdir}/f{i}") == f"{i}"  # one host: same filesystem
