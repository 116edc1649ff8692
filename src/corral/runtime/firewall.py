"""The nftables table that fences sandboxes in: one table, replaced atomically, shared by all.

Rules match sandbox veths by interface-name wildcard (`iifname "crl*"`), so creating or
destroying a sandbox never touches a rule: the only per-sandbox state is membership of the
`internet` set. What the table enforces, for traffic entering from any sandbox veth:

- prerouting: the source address must be routed back through the interface it came in on
  (an nftables reverse-path check; independent of the host's `rp_filter` sysctls). Sandboxes run
  code as root, so without this one could take a neighbour's address and borrow its internet
  access, which the `internet` set grants by address.
- input: nothing reaches the host except replies (`ct state established,related`) to
  connections the host opened, such as the proxy's to envd. This closes every host address and
  port (API, orchestrator, proxy, databases, the resolver) at once, including ones added later,
  which a list of protected ports could not. Loopback and all other interfaces are untouched.
- forward: never into another sandbox; nothing but IPv4; beyond the host only from addresses in
  `internet`, and never to the `denied` ranges (private, shared, link-local, loopback, multicast
  by default). Traffic from elsewhere into a sandbox passes only as a reply, so neighbours on the
  host's network cannot reach sandbox addresses by routing through the host.
- postrouting: `internet` members leaving through a non-sandbox interface are masqueraded.
- output: no new connection from the host to a sandbox in `frozen`, which holds sandboxes
  being snapshotted (gVisor must save them with no connection open; see `envd/quiesce.py`),
  except the orchestrator's own request that has envd drop its connections, which carries
  `SNAPSHOT_MARK` (SO_MARK).

The table lives in the `inet` family so the same input and forward rules also drop the IPv6 a
sandbox could speak over its link-local address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from corral.runtime.errors import CommandFailed
from corral.runtime.host import run

DEFAULT_DENIED: tuple[IPv4Network, ...] = tuple(
    IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # RFC 1918 private
        "100.64.0.0/10",  # carrier-grade NAT, often cloud-internal
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, including cloud metadata at 169.254.169.254
        "172.16.0.0/12",  # RFC 1918 private
        "192.168.0.0/16",  # RFC 1918 private
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved and limited broadcast
    )
)
"""Destinations no sandbox may reach even with internet access."""

SNAPSHOT_MARK = 0x636F72
"""Firewall mark of the one connection let through to a `frozen` sandbox."""


@dataclass(frozen=True)
class Firewall:
    """The nftables table `inet <table>` guarding interfaces named `<ifname_prefix>*`."""

    table: str
    ifname_prefix: str
    denied: tuple[IPv4Network, ...] = DEFAULT_DENIED

    def ruleset(self, internet: Iterable[IPv4Address] = ()) -> str:
        """The whole table as an `nft -f` script that replaces any previous version of it.

        Declaring the table before deleting it makes the delete succeed when it is absent;
        `nft -f` applies the script as one transaction, so there is no moment without rules.
        """
        t, sandbox = self.table, f'"{self.ifname_prefix}*"'
        allowed = _elements(str(a) for a in sorted(set(internet)))
        denied = _elements(str(n) for n in self.denied)
        return f"""\
table inet {t}
delete table inet {t}
table inet {t} {{
    set internet {{
        type ipv4_addr
{allowed}    }}
    set frozen {{
        type ipv4_addr
    }}
    set denied {{
        type ipv4_addr
        flags interval
        auto-merge
{denied}    }}
    chain prerouting {{
        type filter hook prerouting priority raw; policy accept;
        iifname {sandbox} fib saddr . iif oif missing drop
    }}
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname {sandbox} ct state established,related accept
        iifname {sandbox} drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname {sandbox} oifname {sandbox} drop
        oifname {sandbox} ct state established,related accept
        oifname {sandbox} drop
        iifname {sandbox} meta nfproto != ipv4 drop
        iifname {sandbox} ip saddr != @internet drop
        iifname {sandbox} ip daddr @denied drop
    }}
    chain output {{
        type filter hook output priority filter; policy accept;
        oifname {sandbox} ip daddr @frozen meta mark != {SNAPSHOT_MARK:#x} ct state new \
            reject with tcp reset
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname != {sandbox} ip saddr @internet masquerade
    }}
}}
"""

    async def install(self, internet: Iterable[IPv4Address] = ()) -> None:
        """Create or replace the table, with `internet` as the set's members."""
        await run("nft", "-f", "-", input=self.ruleset(internet).encode())

    async def uninstall(self) -> None:
        await run(
            "nft",
            "-f",
            "-",
            input=f"table inet {self.table}\ndelete table inet {self.table}\n".encode(),
        )

    async def installed(self) -> bool:
        out = await run("nft", "list", "tables", "inet")
        return f"table inet {self.table}" in out.splitlines()

    async def allow_internet(self, addresses: Iterable[IPv4Address]) -> None:
        """Add to the `internet` set; adding a present member is not an error."""
        await self._add("internet", addresses)

    async def deny_internet(self, addresses: Iterable[IPv4Address]) -> None:
        """Remove from the `internet` set; absent members, set or table are not an error."""
        await self._remove("internet", addresses)

    async def freeze(self, addresses: Iterable[IPv4Address]) -> None:
        """Refuse new host connections to these sandboxes (until `thaw`)."""
        await self._add("frozen", addresses)

    async def thaw(self, addresses: Iterable[IPv4Address]) -> None:
        await self._remove("frozen", addresses)

    async def _add(self, name: str, addresses: Iterable[IPv4Address]) -> None:
        elements = ", ".join(str(a) for a in addresses)
        if elements:
            script = f"add element inet {self.table} {name} {{ {elements} }}\n"
            await run("nft", "-f", "-", input=script.encode())

    async def _remove(self, name: str, addresses: Iterable[IPv4Address]) -> None:
        """nftables 1.0.6 has no `destroy element`, so the members are added and then deleted
        in one transaction, which succeeds whether or not they were there."""
        elements = ", ".join(str(a) for a in addresses)
        if not elements:
            return
        script = (
            f"add element inet {self.table} {name} {{ {elements} }}\n"
            f"delete element inet {self.table} {name} {{ {elements} }}\n"
        )
        try:
            await run("nft", "-f", "-", input=script.encode())
        except CommandFailed:
            if await self.installed():
                raise

    async def internet_members(self) -> set[IPv4Address]:
        """The addresses the kernel's `internet` set holds now (empty if the table is absent)."""
        if not await self.installed():
            return set()
        out = await run("nft", "-j", "list", "set", "inet", self.table, "internet")
        members: set[IPv4Address] = set()
        for item in json.loads(out).get("nftables", []):
            for elem in item.get("set", {}).get("elem", []):
                if isinstance(elem, str):
                    members.add(IPv4Address(elem))
        return members


def _elements(items: Iterable[str]) -> str:
    joined = ", ".join(items)
    return f"        elements = {{ {joined} }}\n" if joined else ""
