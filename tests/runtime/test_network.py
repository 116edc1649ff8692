"""Sandbox networks on the real kernel: namespaces, veths, nftables, NAT.

Traffic rule for these tests: packets go only to loopback or to addresses of namespaces and veths
the test made itself. The "internet" is a test namespace at 198.18.253.2 (the benchmarking range,
which is not in the denied list) and the "private network" a test namespace at 192.168.253.2 and
10.253.255.2, both routed from the host into their namespace, so even a broken rule could not
send a packet off this machine. Everything uses its own pool (10.253.0.0/24), interface prefix,
namespace prefix and nftables table, so a real orchestrator on the host is left alone.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from corral.runtime import network as network_module
from corral.runtime.addresses import AddressPool
from corral.runtime.allocations import Allocations
from corral.runtime.errors import (
    CommandFailed,
    ResourceExhausted,
    SandboxNotFound,
    SandboxStateError,
)
from corral.runtime.firewall import Firewall
from corral.runtime.network import SandboxNetworks
from tests.conftest import free_port

POOL = "10.253.0.0/24"
IFPREFIX = "ctst"
NSPREFIX = "ctst-"
TABLE = "corral_test"
PORT = 8000
INTERNET = IPv4Network("198.18.253.0/30")
LAN = IPv4Network("192.168.253.0/30")
LAN_EXTRA = IPv4Address("10.253.255.2")  # outside POOL, inside 10/8

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("nft")),
    reason="needs root with ip (iproute2) and nft (nftables)",
)


def on_kernel(test: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a test that makes real namespaces, veths and nftables rules."""
    return pytest.mark.root(needs_root(test))


SERVER = r"""
import socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((host, port))
tcp.listen(64)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((host, port))
def datagrams():
    while True:
        data, peer = udp.recvfrom(2048)
        print("udp", peer[0], data.decode(), flush=True)
threading.Thread(target=datagrams, daemon=True).start()
print("ready", flush=True)
while True:
    conn, peer = tcp.accept()
    conn.sendall(peer[0].encode())
    conn.close()
"""
"""Answers each TCP connection with the address it came from; prints each UDP datagram."""

PROBE = r"""
import socket, sys
mode, addr, port, source = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if mode == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(0.5)
    if source:
        s.bind((source, 0))
    if mode == "udp":
        s.sendto(sys.argv[5].encode(), (addr, port))
        print("sent")
    else:
        s.connect((addr, port))
        print("ok", s.recv(64).decode())
except OSError as e:
    print("fail", type(e).__name__)
"""


def python(*args: str) -> list[str]:
    return [sys.executable, "-I", "-S", *args]


def sh(*argv: str, input: str | None = None) -> str:
    done = subprocess.run(argv, input=input, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


async def connect(
    address: IPv4Address | str, port: int = PORT, *, netns: str | None = None, source: str = ""
) -> str | None:
    """Open a TCP connection (from inside `netns` if given): the peer address the server saw,
    or None when the connection failed."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    argv = [*prefix, *python("-c", PROBE, "tcp", str(address), str(port), source)]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    status, _, seen = out.decode().strip().partition(" ")
    return seen if status == "ok" else None


async def send_udp(netns: str, address: IPv4Address, payload: str, *, source: str = "") -> None:
    argv = ["ip", "netns", "exec", netns, *python("-c", PROBE, "udp", str(address), str(PORT))]
    proc = await asyncio.create_subprocess_exec(*argv, source, payload, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    assert out.decode().strip() == "sent", out


class Server:
    """`SERVER` running on the host or inside a namespace, its output collected line by line."""

    def __init__(self, address: IPv4Address | str, port: int = PORT, netns: str | None = None):
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(
            [*prefix, *python("-c", SERVER, str(address), str(port))],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.lines.get(timeout=5) == "ready"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def wait_for(self, line: str, timeout: float = 2.0) -> list[str]:
        """Every line printed until `line` (inclusive)."""
        seen = []
        while True:
            seen.append(self.lines.get(timeout=timeout))
            if seen[-1] == line:
                return seen

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def exclusive() -> Iterator[None]:
    """One kernel test at a time on this host, across pytest processes.

    The names below are fixed (so an interrupted run's leftovers are found and removed), which
    means two runs of this file at once, say by two developers, would tear down each other's
    table and namespaces; this lock makes them take turns instead.
    """
    with open("/run/lock/corral-test-network.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def servers(exclusive: None) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(address: IPv4Address | str, port: int = PORT, netns: str | None = None) -> Server:
        started.append(Server(address, port, netns))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def host_state() -> tuple[list[str], list[str]]:
    """This test's namespaces and sandbox veths that exist on the host."""
    names = os.listdir("/run/netns") if Path("/run/netns").exists() else []
    pool = AddressPool(IPv4Network(POOL), IFPREFIX)
    links = [i for i in os.listdir("/sys/class/net") if pool.slot_of_ifname(i) is not None]
    return sorted(n for n in names if n.startswith(NSPREFIX)), sorted(links)


def make(state_dir: Path) -> SandboxNetworks:
    return SandboxNetworks(
        pool=POOL, state_dir=state_dir, ifname_prefix=IFPREFIX, netns_prefix=NSPREFIX, table=TABLE
    )


@pytest.fixture
async def networks(tmp_path: Path, servers: object) -> AsyncIterator[SandboxNetworks]:
    """A fresh `SandboxNetworks`; afterwards it must leave nothing behind.

    Depends on `servers` so the servers inside sandbox namespaces are stopped first.
    """
    nets = make(tmp_path / "state")
    await nets.cleanup_orphans(set())  # leftovers of an interrupted earlier run
    await nets.setup()
    yield nets
    await nets.teardown()
    assert host_state() == ([], [])
    assert not await nets.firewall.installed()


@dataclass
class FakeHost:
    """A test-made namespace joined to the host by its own veth, standing in for a remote host."""

    netns: str
    address: IPv4Address
    host_address: IPv4Address
    extra: IPv4Address | None


def make_fake_host(
    name: str, net: IPv4Network, extra: IPv4Address | None = None
) -> Iterator[FakeHost]:
    netns, ifname = f"ctnet-{name}", f"ctnet{name}"
    ours = [net] + ([IPv4Network(extra)] if extra else [])
    for route in json.loads(sh("ip", "-j", "-4", "route", "show", "table", "all")):
        dst = route.get("dst", "default")
        if dst == "default" or route.get("dev") == ifname:
            continue
        if any(IPv4Network(dst, strict=False).overlaps(o) for o in ours):
            pytest.skip(f"the host already routes {dst}; a fake {name} host there would shadow it")
    subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
    subprocess.run(["ip", "link", "del", ifname], capture_output=True, check=False)
    host_address, address = net.network_address + 1, net.network_address + 2
    sh(
        "ip",
        "-batch",
        "-",
        input=f"netns add {netns}\n"
        f"link add {ifname} type veth peer name eth0 netns {netns}\n"
        f"addr add {host_address}/30 dev {ifname}\n"
        f"link set {ifname} up\n" + (f"route add {extra}/32 via {address}\n" if extra else ""),
    )
    sh(
        "ip",
        "-n",
        netns,
        "-batch",
        "-",
        input=f"addr add {address}/30 dev eth0\nlink set eth0 up\nlink set lo up\n"
        # Back to everything through the host, the pool included: a sandbox's packet that
        # escaped the firewall un-NATed would get its answer, so only the rules stop it.
        f"route add default via {host_address}\n"
        + (f"addr add {extra}/32 dev lo\n" if extra else ""),
    )
    try:
        yield FakeHost(netns, address, host_address, extra)
    finally:
        sh("ip", "-batch", "-", input=f"link del {ifname}\nnetns del {netns}\n")


@pytest.fixture
def internet(servers: Callable[..., Server]) -> Iterator[tuple[FakeHost, Server]]:
    for host in make_fake_host("inet", INTERNET):
        yield host, servers(host.address, netns=host.netns)


@pytest.fixture
def lan(servers: Callable[..., Server]) -> Iterator[FakeHost]:
    for host in make_fake_host("lan", LAN, LAN_EXTRA):
        servers("0.0.0.0", netns=host.netns)
        yield host


# Pure logic: no root needed.


def test_pool_slots_and_names() -> None:
    pool = AddressPool(IPv4Network("10.254.0.0/16"), "crl")
    assert pool.size == 16384
    last = pool.slot(16383)
    assert (str(last.gateway), str(last.address)) == ("10.254.255.253", "10.254.255.254")
    assert pool.slot_of(IPv4Address("10.254.0.6")) == pool.slot(1)
    assert pool.ifname(16383) == "crl16383"
    assert [pool.slot_of_ifname(n) for n in ("crl7", "crl07", "crlx", "eth0", "crl16384")] == [
        7,
        None,
        None,
        None,
        None,
    ]
    with pytest.raises(ValueError, match="15 characters"):
        AddressPool(IPv4Network("10.0.0.0/8"), "corralsbx")


def test_allocations_are_exclusive_and_bounded(tmp_path: Path) -> None:
    allocations = Allocations(tmp_path, size=3)
    claimed = [allocations.claim(f"s{i}", internet=False, busy=lambda n: n == 0) for i in range(2)]
    assert sorted(a.slot for a in claimed) == [1, 2]
    with pytest.raises(SandboxStateError):
        allocations.claim("s0", internet=True, busy=lambda n: False)
    with pytest.raises(ResourceExhausted):
        allocations.claim("s9", internet=False, busy=lambda n: n == 0)
    allocations.release(claimed[0])
    assert allocations.claim("s9", internet=True, busy=lambda n: n == 0).slot == claimed[0].slot
    assert [a.sandbox_id for a in allocations.all()] == ["s1", "s9"]


def test_sandbox_ids_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sandbox id"):
        Allocations(tmp_path, 4).claim("../etc", internet=False, busy=lambda n: False)


@needs_root
def test_ruleset_parses() -> None:
    firewall = Firewall(TABLE, IFPREFIX)
    sh("nft", "-c", "-f", "-", input=firewall.ruleset([IPv4Address("10.253.0.2")]))


# On the kernel.


@on_kernel
async def test_host_reaches_sandbox(
    networks: SandboxNetworks, servers: Callable[..., Server]
) -> None:
    net = await networks.create("reach", internet=False)
    assert net.netns == f"{NSPREFIX}reach" and net.host_ifname.startswith(IFPREFIX)
    assert net.address in IPv4Network(POOL) and net.gateway == net.address - 1
    servers(net.address, netns=net.netns)
    assert await connect(net.address) == str(net.gateway)


@on_kernel
async def test_sandboxes_cannot_reach_each_other(
    networks: SandboxNetworks, servers: Callable[..., Server]
) -> None:
    a, b = await asyncio.gather(
        networks.create("a", internet=True), networks.create("b", internet=True)
    )
    for net in (a, b):
        servers(net.address, netns=net.netns)
    assert await connect(b.address) is not None
    assert await connect(b.address, netns=a.netns) is None
    assert await connect(a.address, netns=b.netns) is None
    assert await connect(b.gateway, netns=a.netns) is None


@on_kernel
async def test_sandbox_cannot_reach_host_services(
    networks: SandboxNetworks,
    servers: Callable[..., Server],
    internet: tuple[FakeHost, Server],
) -> None:
    """Stand-ins for the API and orchestrator: one port on every address, one on the gateway."""
    net = await networks.create("host", internet=True)
    everywhere, on_gateway = free_port(), free_port()
    servers("0.0.0.0", everywhere)
    servers(net.gateway, on_gateway)
    fake, _ = internet
    assert await connect("127.0.0.1", everywhere) == "127.0.0.1"  # host loopback unaffected
    assert await connect(net.gateway, on_gateway) == str(net.gateway)
    probes = [
        connect(net.gateway, everywhere, netns=net.netns),
        connect(net.gateway, on_gateway, netns=net.netns),
        connect(fake.host_address, everywhere, netns=net.netns),  # a host address elsewhere
    ]
    assert await asyncio.gather(*probes) == [None, None, None]
    assert await connect(fake.address, netns=net.netns) is not None  # routing itself works

    # Control: it is the firewall that blocks, and setup() puts it back with the internet set.
    await networks.firewall.uninstall()
    assert await connect(net.gateway, everywhere, netns=net.netns) == str(net.address)
    await networks.setup()
    assert await connect(net.gateway, everywhere, netns=net.netns) is None
    assert await connect(fake.address, netns=net.netns) is not None


@on_kernel
async def test_internet_egress_is_nat_and_switchable(
    networks: SandboxNetworks, internet: tuple[FakeHost, Server]
) -> None:
    fake, _ = internet
    online = await networks.create("online", internet=True)
    offline = await networks.create("offline", internet=False)
    # Seen from the host's address: masqueraded.
    assert await connect(fake.address, netns=online.netns) == str(fake.host_address)
    assert await connect(fake.address, netns=offline.netns) is None

    await networks.set_internet("offline", True)
    assert (await networks.get("offline")).internet
    assert await connect(fake.address, netns=offline.netns) == str(fake.host_address)
    await networks.set_internet("offline", False)
    assert await connect(fake.address, netns=offline.netns) is None
    assert await networks.firewall.internet_members() == {online.address}
    with pytest.raises(SandboxNotFound):
        await networks.set_internet("nobody", True)


@on_kernel
async def test_internet_never_reaches_private_ranges(
    networks: SandboxNetworks, internet: tuple[FakeHost, Server], lan: FakeHost
) -> None:
    fake, _ = internet
    net = await networks.create("private", internet=True)
    assert lan.extra is not None
    for address in (lan.address, lan.extra):
        assert await connect(address) is not None  # the host reaches the "private" host
    blocked = await asyncio.gather(
        connect(lan.address, netns=net.netns), connect(lan.extra, netns=net.netns)
    )
    assert blocked == [None, None]
    assert await connect(fake.address, netns=net.netns) is not None


@on_kernel
async def test_spoofed_source_gets_no_internet(
    networks: SandboxNetworks, internet: tuple[FakeHost, Server]
) -> None:
    """Sandboxes run code as root: one taking an allowed neighbour's address gains nothing."""
    fake, server = internet
    thief = await networks.create("thief", internet=False)
    victim = await networks.create("victim", internet=True)
    sh("ip", "-n", thief.netns, "addr", "add", f"{victim.address}/32", "dev", "eth0")
    await send_udp(thief.netns, fake.address, "spoofed", source=str(victim.address))
    await send_udp(victim.netns, fake.address, "genuine")
    seen = server.wait_for(f"udp {fake.host_address} genuine")
    assert not any("spoofed" in line for line in seen)


@on_kernel
async def test_destroy_leaves_nothing(networks: SandboxNetworks, tmp_path: Path) -> None:
    net = await networks.create("gone", internet=True)
    assert host_state() == ([net.netns], [net.host_ifname])
    assert await networks.firewall.internet_members() == {net.address}
    await networks.destroy("gone")
    assert host_state() == ([], [])
    assert await networks.firewall.internet_members() == set()
    state = tmp_path / "state"
    assert list((state / "sandboxes").iterdir()) == [] and list((state / "slots").iterdir()) == []
    await networks.destroy("gone")  # again: a no-op
    await networks.destroy("never-existed")
    with pytest.raises(SandboxNotFound):
        await networks.get("gone")


@on_kernel
async def test_failed_create_is_rolled_back(
    networks: SandboxNetworks, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = network_module.run

    async def failing_inside_netns(*argv: str, **kwargs: object) -> str:
        if "-n" in argv:  # the host side already exists at this point
            raise CommandFailed(list(argv), 2, "injected")
        return await real_run(*argv, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(network_module, "run", failing_inside_netns)
    with pytest.raises(CommandFailed, match="injected"):
        await networks.create("broken", internet=True)
    assert host_state() == ([], [])
    assert await networks.firewall.internet_members() == set()
    assert await networks.discover() == []
    monkeypatch.undo()
    await networks.create("dup", internet=False)
    with pytest.raises(SandboxStateError):
        await networks.create("dup", internet=False)
    assert len(host_state()[1]) == 1


@on_kernel
async def test_concurrent_creates_and_a_restarted_process(
    networks: SandboxNetworks, tmp_path: Path
) -> None:
    other = make(tmp_path / "state")  # a second process sharing the state directory
    created = await asyncio.gather(
        *(networks.create(f"c{i}", internet=i % 2 == 0) for i in range(10)),
        *(other.create(f"o{i}", internet=False) for i in range(10)),
    )
    assert len({n.address for n in created}) == len({n.host_ifname for n in created}) == 20

    restarted = make(tmp_path / "state")
    await restarted.setup()
    found = await restarted.discover()
    assert sorted(found, key=lambda n: n.sandbox_id) == sorted(created, key=lambda n: n.sandbox_id)
    assert await restarted.firewall.internet_members() == {n.address for n in created if n.internet}

    # A veth lost behind the driver's back: not adoptable any more.
    sh("ip", "link", "del", created[0].host_ifname)
    assert {n.sandbox_id for n in await restarted.discover()} == {n.sandbox_id for n in created[1:]}


@on_kernel
async def test_cleanup_orphans(networks: SandboxNetworks, tmp_path: Path) -> None:
    kept = await networks.create("kept", internet=True)
    dropped = await networks.create("dropped", internet=True)
    slots = tmp_path / "state" / "slots"
    free = [n for n in range(networks.pool.size) if not (slots / str(n)).is_symlink()]
    sh("ip", "netns", "add", f"{NSPREFIX}halfmade")  # a create that died before its record
    os.symlink("crashed", slots / str(free[0]))  # a claim with nothing else
    stale = networks.pool.slot(free[1]).address
    await networks.firewall.allow_internet([stale])  # a member nobody owns
    assert await networks.firewall.internet_members() == {kept.address, dropped.address, stale}

    removed = await networks.cleanup_orphans({"kept"})

    assert removed == ["crashed", "dropped", "halfmade"]
    assert host_state() == ([kept.netns], [kept.host_ifname])
    assert await networks.discover() == [kept]
    assert await networks.firewall.internet_members() == {kept.address}
    assert [os.readlink(slots / n) for n in os.listdir(slots)] == ["kept"]
    assert await networks.cleanup_orphans({"kept"}) == []
