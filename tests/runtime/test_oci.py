"""The `oci` driver with the real runtimes (crun and gVisor's runsc): lifecycle and containment.

Every check runs inside real sandboxes, and what runs inside is driven through envd with the
official e2b SDK. Traffic goes only to the sandboxes' own addresses (namespaces these tests make)
and to loopback.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from e2b import CommandExitException, SandboxException

from corral.orchestrator.envd_client import prepare_snapshot
from corral.runtime.errors import CommandFailed, SandboxStateError
from corral.runtime.oci import OciDriver
from corral.runtime.types import Resources, RuntimeSandbox, SandboxSpec
from tests.runtime.drivers import (
    RUNTIMES,
    envd_url,
    make_driver,
    new_id,
    require_runtime,
    start,
    wait_envd,
)
from tests.sdk import sdk_sandbox

pytestmark = [pytest.mark.slow, pytest.mark.root]


@dataclass
class Host:
    runtime: str
    driver: OciDriver
    loop: asyncio.Runner
    rootfs: Path
    data_dir: Path
    envd_dist: Path

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run(coro)

    def start(self, **kwargs: object) -> RuntimeSandbox:
        return self.run(start(self.driver, self.rootfs, **kwargs))  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=RUNTIMES)
def host(
    request: pytest.FixtureRequest,
    base_rootfs: Path,
    envd_dist: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Host]:
    runtime = request.param
    require_runtime(runtime)
    data_dir = tmp_path_factory.mktemp(f"oci-{runtime}")
    driver = make_driver(runtime, data_dir, envd_dist, tag=runtime)
    with asyncio.Runner() as loop:
        loop.run(driver.networks.setup())
        yield Host(runtime, driver, loop, base_rootfs, data_dir, envd_dist)
        loop.run(driver.cleanup_orphans(keep=set()))


@pytest.fixture(scope="module")
def pair(host: Host) -> Iterator[tuple[RuntimeSandbox, RuntimeSandbox]]:
    """Two sandboxes side by side, shared by the containment tests."""
    a = host.start(resources=Resources(vcpu=1, memory_mb=512, disk_mb=256, pids=128))
    b = host.start(resources=Resources(vcpu=1, memory_mb=512, disk_mb=256, pids=128))
    yield a, b
    for s in (a, b):
        host.run(host.driver.destroy(s.sandbox_id))


def sh(sandbox: RuntimeSandbox, cmd: str, user: str | None = None, timeout: float = 60):  # type: ignore[no-untyped-def]
    """Run `cmd` in the sandbox through the SDK; a non-zero exit is returned, not raised."""
    sbx = sdk_sandbox(envd_url(sandbox), sandbox_id=sandbox.sandbox_id)
    try:
        return sbx.commands.run(cmd, user=user, timeout=timeout)  # type: ignore[arg-type]
    except CommandExitException as exc:
        return exc


def leftovers(host: Host, sandbox_id: str) -> list[str]:
    found = []
    if (host.data_dir / "sandboxes" / sandbox_id).exists():
        found.append("directory")
    with open("/proc/self/mountinfo") as f:
        if sandbox_id in f.read():
            found.append("mount")
    if any(sandbox_id in n for n in os.listdir("/run/netns")):
        found.append("netns")
    if sandbox_id in host.driver.cgroups.listed():
        found.append("cgroup")
    if sandbox_id in host.run(host.driver.runtime.list_ids()):
        found.append("container")
    return found


def test_create_run_destroy(host: Host) -> None:
    sandbox = host.start()
    try:
        result = sh(sandbox, "whoami; echo $HOME; . /etc/os-release; echo $VERSION_CODENAME")
        assert result.stdout.split() == ["user", "/home/user", "bookworm"]
        assert sh(sandbox, "id -u", user="root").stdout.strip() == "0"
        if host.runtime == "crun":
            # gVisor always runs with no_new_privs, which sudo refuses; root is had there
            # through envd (`user="root"`), as above.
            assert sh(sandbox, "sudo -n true").exit_code == 0
        stats = host.run(host.driver.stats(sandbox.sandbox_id))
        assert stats.memory_limit_bytes == 256 * 1024 * 1024
        assert stats.pids >= 1
        assert 200 * 1024 * 1024 < stats.disk_limit_bytes <= 256 * 1024 * 1024
    finally:
        host.run(host.driver.destroy(sandbox.sandbox_id))
    assert leftovers(host, sandbox.sandbox_id) == []


def test_cannot_read_host_files(host: Host, pair: tuple[RuntimeSandbox, RuntimeSandbox]) -> None:
    a, _ = pair
    secret = Path("/root") / f"corral-host-secret-{new_id()}"
    secret.write_text("host only")
    try:
        result = sh(a, f"cat {secret}; ls {host.data_dir}", user="root")
        assert result.exit_code != 0
        assert "host only" not in result.stdout
        # The sandbox's root is its own: the host's repo and data dir do not exist inside.
        assert sh(a, "test -e /work || test -e /var/lib/corral/sandboxes").exit_code == 1
    finally:
        secret.unlink()


def test_sandboxes_do_not_see_each_other(
    host: Host, pair: tuple[RuntimeSandbox, RuntimeSandbox]
) -> None:
    a, b = pair
    sh(a, "echo mine > /tmp/only-in-a; sleep 300 >/dev/null 2>&1 &")
    assert sh(b, "cat /tmp/only-in-a").exit_code != 0
    # PID namespaces: b sees neither a's processes nor the host's.
    ps_b = sh(b, "ps -eo args").stdout
    assert "sleep 300" not in ps_b
    assert "pytest" not in ps_b
    assert "sleep 300" in sh(a, "ps -eo args").stdout


def _connect_from(sandbox: RuntimeSandbox, address: str, port: int) -> str:
    code = (
        "import socket,sys\n"
        f"s=socket.socket(); s.settimeout(1.5)\n"
        f"try:\n s.connect(('{address}', {port})); print('connected')\n"
        "except Exception as e: print('refused', type(e).__name__)\n"
    )
    return str(sh(sandbox, f'python3 -c "{code}"').stdout)


def test_cannot_reach_host_services_or_other_sandboxes(
    host: Host, pair: tuple[RuntimeSandbox, RuntimeSandbox]
) -> None:
    a, b = pair
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))  # stands in for the API / orchestrator / proxy ports
    server.listen()
    port = server.getsockname()[1]
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        assert "refused" in _connect_from(a, str(a.network.gateway), port)
        assert "refused" in _connect_from(a, str(b.address), 49983)
        assert "refused" in _connect_from(a, str(b.network.gateway), port)
        assert accepted == []
        # The host itself reaches every sandbox's envd.
        assert sh(b, "true").exit_code == 0
    finally:
        server.close()


def test_ports_the_code_opens_are_reachable_from_the_host(
    host: Host, pair: tuple[RuntimeSandbox, RuntimeSandbox]
) -> None:
    a, _ = pair
    sbx = sdk_sandbox(envd_url(a), sandbox_id=a.sandbox_id)
    server = sbx.commands.run(
        "cd /tmp && echo served > page.txt && python3 -m http.server 8123", background=True
    )
    try:
        url = f"http://{a.address}:8123/page.txt"
        for _ in range(100):
            try:
                response = httpx.get(url, timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert response.status_code == 200
        assert response.text == "served\n"
    finally:
        server.kill()


def test_fork_bomb_hits_pids_limit(host: Host, pair: tuple[RuntimeSandbox, RuntimeSandbox]) -> None:
    a, b = pair
    bomb = (
        "import os,signal,time\n"
        "kids=[]\n"
        "try:\n"
        " while True:\n"
        "  pid=os.fork()\n"
        "  if pid==0: os.execv('/bin/sleep', ['sleep', '30'])\n"
        "  kids.append(pid)\n"
        "except OSError as e: print('stopped', len(kids), e.errno)\n"
        "for k in kids: os.kill(k, signal.SIGKILL); os.waitpid(k, 0)\n"
    )
    out = sh(a, f'python3 -c "{bomb}"', timeout=90).stdout
    assert "stopped" in out
    forked = int(out.split()[1])
    assert forked < 128
    # The neighbour and the host never noticed.
    assert sh(b, "echo alive").stdout.strip() == "alive"


def test_memory_bomb_stays_inside(host: Host, pair: tuple[RuntimeSandbox, RuntimeSandbox]) -> None:
    _, neighbour = pair
    sandbox = host.start(resources=Resources(vcpu=1, memory_mb=256, disk_mb=256, pids=128))
    try:
        bomb = "python3 -c \"x = bytearray(600 * 1024 * 1024); print('survived')\""
        if host.runtime == "crun":
            result = sh(sandbox, bomb)
            assert "survived" not in result.stdout
            # The kernel's OOM killer picks the bomb inside the sandbox's cgroup; envd lives on.
            assert result.exit_code != 0
            assert sh(sandbox, "echo ok").stdout.strip() == "ok"
            assert host.driver.cgroups.oom_kills(sandbox.sandbox_id) >= 1
        else:
            # Under gVisor all of the sandbox's memory is its kernel's: the host's OOM killer
            # ends the whole sandbox (and only it), which the runtime then reports.
            with pytest.raises(SandboxException):
                sh(sandbox, bomb)
            assert host.run(_state_leaves_running(host, sandbox.sandbox_id)) in ("stopped", None)
        assert sh(neighbour, "echo ok").stdout.strip() == "ok"
    finally:
        host.run(host.driver.destroy(sandbox.sandbox_id))


async def _state_leaves_running(host: Host, sandbox_id: str) -> str | None:
    """The runtime's state once it stops saying `running` (runsc notices within seconds)."""
    for _ in range(100):
        state = await host.driver.runtime.state(sandbox_id)
        if state != "running":
            return state
        await asyncio.sleep(0.1)
    return "running"


def test_full_disk_gives_enospc(host: Host, pair: tuple[RuntimeSandbox, RuntimeSandbox]) -> None:
    a, _ = pair
    before = os.statvfs("/").f_bfree
    result = sh(a, "dd if=/dev/zero of=/home/user/fill bs=1M count=400 2>&1")
    assert result.exit_code != 0
    assert "No space left on device" in result.stdout
    assert sh(a, "df --output=pcent / | tail -1").stdout.strip() == "100%"
    # At most the sandbox's own 256 MiB layer was written on the host.
    assert (before - os.statvfs("/").f_bfree) * os.statvfs("/").f_frsize < 300 * 1024 * 1024
    sh(a, "rm -f /home/user/fill")
    assert sh(a, "echo after > /home/user/ok && cat /home/user/ok").stdout.strip() == "after"


def test_pause_and_resume_keep_processes(host: Host) -> None:
    sandbox = host.start()
    try:
        sh(sandbox, "echo kept > /home/user/file")
        sbx = sdk_sandbox(envd_url(sandbox), sandbox_id=sandbox.sandbox_id)
        counter = sbx.commands.run(
            'python3 -c "import os,time\ni=0\nwhile True:\n i+=1;'
            " open('/tmp/m','w').write(str(i)); os.replace('/tmp/m','/tmp/n');"
            ' time.sleep(0.05)"',
            background=True,
        )
        host.run(asyncio.sleep(0.5))
        host.run(
            host.driver.pause(
                sandbox.sandbox_id, lambda: prepare_snapshot(str(sandbox.address), 49983, None)
            )
        )
        with pytest.raises(SandboxStateError):
            host.run(host.driver.pause(sandbox.sandbox_id))
        host.run(host.driver.resume(sandbox.sandbox_id))
        host.run(wait_envd(sandbox))
        assert sh(sandbox, "cat /home/user/file").stdout.strip() == "kept"
        first = int(sh(sandbox, "cat /tmp/n").stdout)
        host.run(asyncio.sleep(0.3))
        assert int(sh(sandbox, "cat /tmp/n").stdout) > first
        assert counter.pid in [p.pid for p in sbx.commands.list()]
    finally:
        host.run(host.driver.destroy(sandbox.sandbox_id))
    assert leftovers(host, sandbox.sandbox_id) == []


def test_restarted_driver_readopts_and_cleans(host: Host) -> None:
    kept = host.start()
    try:
        fresh = make_driver(host.runtime, host.data_dir, host.envd_dist, tag=host.runtime)
        found = {s.sandbox_id: s for s in host.run(fresh.discover())}
        assert kept.sandbox_id in found
        assert found[kept.sandbox_id].address == kept.address
        # A half-made sandbox (a directory and netns but no container) is an orphan.
        orphan = new_id()
        (host.data_dir / "sandboxes" / orphan).mkdir()
        subprocess.run(["ip", "netns", "add", f"corraltest-{orphan}"], check=True)
        removed = host.run(fresh.cleanup_orphans(keep=set(found)))
        assert orphan in removed
        assert leftovers(host, orphan) == []
        assert sh(kept, "echo still").stdout.strip() == "still"
    finally:
        host.run(host.driver.destroy(kept.sandbox_id))


def test_failed_create_leaves_nothing(host: Host) -> None:
    spec = SandboxSpec(
        sandbox_id=new_id(),
        template_id="missing",
        rootfs=Path("/nonexistent/rootfs"),
        resources=Resources(vcpu=1, memory_mb=128, disk_mb=64),
    )
    with pytest.raises(CommandFailed):
        host.run(host.driver.create(spec))
    assert leftovers(host, spec.sandbox_id) == []
