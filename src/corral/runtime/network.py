"""Per-sandbox networking: a network namespace joined to the host by a veth pair.

Each sandbox gets `ip netns` namespace `corral-<id>` whose `eth0` is the peer of a host
interface `crl<slot>`; addresses come from the slot (`addresses.py`), the claim on the slot is
persisted (`allocations.py`), and one shared nftables table (`firewall.py`) keeps sandboxes away
from the host, from each other and, unless allowed, from the internet. Creating a network costs
two `ip -batch` calls (host side, then inside the namespace) plus, for internet access, one `nft`
call run alongside them; no rule is added per sandbox.

Everything can be rebuilt from the host after a restart: `discover` reads the records and checks
the namespace and veth still exist, `setup` reloads the `internet` set from the records, and
`cleanup_orphans` removes what no kept sandbox owns.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import replace
from ipaddress import IPv4Network
from pathlib import Path

from corral import logs
from corral.runtime.addresses import SLOT_PREFIXLEN, AddressPool
from corral.runtime.allocations import Allocation, Allocations, check_sandbox_id
from corral.runtime.errors import HostSetupError, SandboxNotFound
from corral.runtime.firewall import DEFAULT_DENIED, Firewall
from corral.runtime.host import run
from corral.runtime.types import SandboxNetwork

log = logs.get("runtime.network")

NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")
SANDBOX_IFNAME = "eth0"


class SandboxNetworks:
    """The networks of every sandbox on this host, and the firewall around them.

    The prefixes and the table name keep two instances apart (the orchestrator and a test run):
    each manages only namespaces, interfaces, records and the table named with its own.
    """

    def __init__(
        self,
        *,
        pool: IPv4Network | str = "10.254.0.0/16",
        state_dir: Path = Path("/run/corral/network"),
        ifname_prefix: str = "crl",
        netns_prefix: str = "corral-",
        table: str = "corral",
        denied: Sequence[IPv4Network | str] = DEFAULT_DENIED,
    ) -> None:
        self.pool = AddressPool(IPv4Network(pool), ifname_prefix)
        self.netns_prefix = netns_prefix
        self.firewall = Firewall(table, ifname_prefix, tuple(IPv4Network(n) for n in denied))
        self._allocations = Allocations(state_dir, self.pool.size)

    async def setup(self) -> None:
        """Check the host and (re)install the firewall; safe to call on every start."""
        for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
            if shutil.which(tool) is None:
                raise HostSetupError(
                    f"`{tool}` not found: install {package} (scripts/setup-host.sh)"
                )
        # Forwarding is decided per input interface; new veths copy `default`, which writing
        # ip_forward=1 sets too. Without it internet egress silently goes nowhere.
        for knob in ("ip_forward", "conf/default/forwarding"):
            if Path("/proc/sys/net/ipv4", knob).read_text().strip() != "1":
                raise HostSetupError(
                    f"net.ipv4.{knob.replace('/', '.')} is off: run `sysctl -w "
                    "net.ipv4.ip_forward=1` (scripts/setup-host.sh does)"
                )
        self._allocations.prepare()
        internet = [self._network(a).address for a in self._allocations.all() if a.internet]
        await self.firewall.install(internet)
        # Addresses of the pool that no live sandbox holds are unreachable here, at once: a
        # request for a sandbox that just went away fails fast instead of following the
        # host's default route off the machine.
        await run("ip", "route", "replace", "unreachable", str(self.pool.network))
        log.info("network firewall installed", table=self.firewall.table, internet=len(internet))

    async def create(self, sandbox_id: str, *, internet: bool) -> SandboxNetwork:
        """Give a sandbox its namespace, veth pair and addresses; undo everything on failure."""
        started = time.perf_counter()
        allocation = self._allocations.claim(
            check_sandbox_id(sandbox_id), internet=internet, busy=self._ifname_in_use
        )
        net = self._network(allocation)
        try:
            steps: list[Awaitable[object]] = [self._plumb(net)]
            if internet:
                steps.append(self.firewall.allow_internet([net.address]))
            await _all(steps)
        except BaseException:
            try:
                await asyncio.shield(self._unmake(net, allocation))
            except Exception:
                log.exception("network rollback failed", sandbox_id=sandbox_id)
            raise
        log.info(
            "network created",
            sandbox_id=sandbox_id,
            address=str(net.address),
            ifname=net.host_ifname,
            internet=internet,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return net

    async def get(self, sandbox_id: str) -> SandboxNetwork:
        return self._network(self._allocation(sandbox_id))

    async def set_internet(self, sandbox_id: str, allowed: bool) -> None:
        """Allow or forbid egress beyond the host; takes effect for open connections too."""
        allocation = self._allocation(sandbox_id)
        address = self.pool.slot(allocation.slot).address
        if allowed:
            await self.firewall.allow_internet([address])
        else:
            await self.firewall.deny_internet([address])
        self._allocations.update(replace(allocation, internet=allowed))
        log.info("network internet set", sandbox_id=sandbox_id, allowed=allowed)

    async def destroy(self, sandbox_id: str) -> None:
        """Remove the sandbox's veth, namespace, set member and record; unknown ids are a no-op.

        An id with no record may still have a namespace from a create that crashed before the
        record was written; that is removed too.
        """
        started = time.perf_counter()
        allocation = self._allocations.get(check_sandbox_id(sandbox_id))
        if allocation is None:
            if (NETNS_DIR / self.netns(sandbox_id)).exists():
                await run("ip", "netns", "del", self.netns(sandbox_id))
            return
        await self._unmake(self._network(allocation), allocation)
        log.info(
            "network destroyed",
            sandbox_id=sandbox_id,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def discover(self) -> list[SandboxNetwork]:
        """Recorded networks whose namespace and veth still exist, with the firewall made to
        agree with each record's internet setting."""
        found = [
            net
            for net in map(self._network, self._allocations.all())
            if (NETNS_DIR / net.netns).exists() and (SYS_NET / net.host_ifname).exists()
        ]
        if await self.firewall.installed():
            members = await self.firewall.internet_members()
            grant = [n.address for n in found if n.internet and n.address not in members]
            revoke = [n.address for n in found if not n.internet and n.address in members]
            if grant or revoke:
                log.warning(
                    "network internet set repaired",
                    granted=[str(a) for a in grant],
                    revoked=[str(a) for a in revoke],
                )
                await _all(
                    [self.firewall.allow_internet(grant), self.firewall.deny_internet(revoke)]
                )
        return found

    async def cleanup_orphans(self, keep: set[str]) -> list[str]:
        """Remove the networks of every sandbox not in `keep`; returns their ids.

        Besides recorded sandboxes this catches what a crash leaves half-made: namespaces or
        veths with no record, slot claims with no record, stale `internet` members. Call it when
        no create is in flight (at start-up, after `discover`), or it may take that one too.
        """
        recorded = self._allocations.all()
        kept = {a.slot: a for a in recorded if a.sandbox_id in keep}
        dropped = [a for a in recorded if a.sandbox_id not in keep]
        owners = self._allocations.slot_owners()
        removed = {a.sandbox_id for a in dropped}
        # One `ip` run for everything: interfaces first, since deleting a namespace can take
        # its veth along asynchronously and a later `link del` would then race the kernel.
        commands = []
        for ifname in _listdir(SYS_NET):
            slot = self.pool.slot_of_ifname(ifname)
            if slot is not None and slot not in kept:
                commands.append(f"link del {ifname}")
                removed.update([owners[slot]] if slot in owners else [])
        for name in _listdir(NETNS_DIR):
            sandbox_id = name.removeprefix(self.netns_prefix)
            if name.startswith(self.netns_prefix) and sandbox_id not in keep:
                commands.append(f"netns del {name}")
                removed.add(sandbox_id)
        wanted = {self._network(a).address for a in kept.values() if a.internet}
        stale = await self.firewall.internet_members() - wanted
        steps: list[Awaitable[object]] = [self.firewall.deny_internet(stale)]
        if commands:
            steps.append(run("ip", "-force", "-batch", "-", input=_script(commands)))
        await _all(steps)
        for allocation in dropped:
            self._allocations.release(allocation)
        for slot, owner in self._allocations.slot_owners().items():
            if slot not in kept:
                self._allocations.release_slot(slot, owner)
                removed.add(owner)
        if removed or commands:
            log.info("network orphans removed", sandbox_ids=sorted(removed), commands=commands)
        return sorted(removed)

    async def teardown(self) -> None:
        """Remove every network this instance manages and its firewall table."""
        await self.cleanup_orphans(set())
        await self.firewall.uninstall()
        await run("ip", "route", "del", "unreachable", str(self.pool.network), check=False)

    def netns(self, sandbox_id: str) -> str:
        return f"{self.netns_prefix}{sandbox_id}"

    def _network(self, allocation: Allocation) -> SandboxNetwork:
        slot = self.pool.slot(allocation.slot)
        return SandboxNetwork(
            sandbox_id=allocation.sandbox_id,
            netns=self.netns(allocation.sandbox_id),
            host_ifname=self.pool.ifname(slot.number),
            address=slot.address,
            gateway=slot.gateway,
            internet=allocation.internet,
        )

    def _allocation(self, sandbox_id: str) -> Allocation:
        allocation = self._allocations.get(check_sandbox_id(sandbox_id))
        if allocation is None:
            raise SandboxNotFound(sandbox_id)
        return allocation

    def _ifname_in_use(self, slot: int) -> bool:
        return (SYS_NET / self.pool.ifname(slot)).exists()

    async def set_frozen(self, sandbox_id: str, frozen: bool) -> None:
        """Refuse (or allow again) new host connections to the sandbox, for a snapshot."""
        net = await self.get(sandbox_id)
        await (self.firewall.freeze if frozen else self.firewall.thaw)([net.address])

    async def readdress(self, sandbox_id: str) -> None:
        """Put the sandbox's address and default route back on its `eth0`.

        gVisor's netstack takes the address off the kernel's interface when it starts (it owns
        it from then on); a `runsc restore` reads the namespace again and needs it back.
        """
        net = await self.get(sandbox_id)
        inside = [
            f"addr replace {net.address}/{SLOT_PREFIXLEN} dev {SANDBOX_IFNAME}",
            f"route replace default via {net.gateway}",
        ]
        await run("ip", "-n", net.netns, "-batch", "-", input=_script(inside))

    async def _plumb(self, net: SandboxNetwork) -> None:
        """Namespace, veth pair with the peer born inside it as eth0, addresses, routes.

        The peer's address is set from inside the namespace: moving an interface between
        namespaces drops its addresses, so configuring it before would be lost.
        """
        host = [
            f"netns add {net.netns}",
            f"link add {net.host_ifname} type veth peer name {SANDBOX_IFNAME} netns {net.netns}",
            f"addr add {net.gateway}/{SLOT_PREFIXLEN} dev {net.host_ifname}",
            f"link set {net.host_ifname} up",
        ]
        inside = [
            f"addr add {net.address}/{SLOT_PREFIXLEN} dev {SANDBOX_IFNAME}",
            f"link set {SANDBOX_IFNAME} up",
            "link set lo up",
            f"route add default via {net.gateway}",
        ]
        await run("ip", "-batch", "-", input=_script(host))
        await run("ip", "-n", net.netns, "-batch", "-", input=_script(inside))

    async def _unmake(self, net: SandboxNetwork, allocation: Allocation) -> None:
        """Remove whatever exists of a network, then its record and slot claim.

        The veth is deleted explicitly: deleting the namespace alone leaves it alive while any
        process (a container not yet reaped) still holds the namespace.
        """
        commands = []
        if (SYS_NET / net.host_ifname).exists():
            commands.append(f"link del {net.host_ifname}")
        if (NETNS_DIR / net.netns).exists():
            commands.append(f"netns del {net.netns}")
        steps: list[Awaitable[object]] = [
            self.firewall.deny_internet([net.address]),
            self.firewall.thaw([net.address]),
        ]
        if commands:
            steps.append(run("ip", "-force", "-batch", "-", input=_script(commands)))
        await _all(steps)
        self._allocations.release(allocation)


async def _all(steps: Sequence[Awaitable[object]]) -> None:
    """Await `steps` together, let every one finish, then raise the first failure.

    Unlike a task group this never abandons a running `ip` or `nft` half-way, so a rollback
    that follows does not race a command still creating what it is removing.
    """
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _script(commands: Iterable[str]) -> bytes:
    return "".join(f"{c}\n" for c in commands).encode()


def _listdir(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []
