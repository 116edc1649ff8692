"""Sandbox addresses: a pool CIDR cut into numbered /30 slots.

A /30 is the smallest IPv4 subnet with two usable addresses, one per veth end: slot `n` covers
`pool[4n] .. pool[4n + 3]`, the host side is `+1` (the sandbox's gateway) and the sandbox side
`+2`. Everything about a sandbox's addressing follows from its slot number, so the slot is the only
thing that has to be persisted, and the host interface is named after it (`crl17`), which keeps
names short (the kernel allows 15 characters) and lets nftables match every sandbox veth with one
wildcard.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

SLOT_PREFIXLEN = 30
IFNAMSIZ = 15
"""Longest interface name Linux accepts (`IFNAMSIZ` minus the terminating NUL)."""


@dataclass(frozen=True)
class Slot:
    """One sandbox's share of the pool."""

    number: int
    network: IPv4Network

    @property
    def gateway(self) -> IPv4Address:
        """The host end of the veth."""
        return self.network.network_address + 1

    @property
    def address(self) -> IPv4Address:
        """The sandbox end of the veth."""
        return self.network.network_address + 2


@dataclass(frozen=True)
class AddressPool:
    """The pool CIDR and the rule that names a slot's host interface."""

    network: IPv4Network
    ifname_prefix: str

    def __post_init__(self) -> None:
        if self.network.prefixlen > SLOT_PREFIXLEN:
            raise ValueError(f"address pool {self.network} is smaller than one /30 slot")
        if not self.ifname_prefix.isalnum() or not self.ifname_prefix.isascii():
            raise ValueError(
                f"interface prefix {self.ifname_prefix!r} must be ASCII letters/digits"
            )
        longest = self.ifname(self.size - 1)
        if len(longest) > IFNAMSIZ:
            raise ValueError(f"interface name {longest!r} would exceed {IFNAMSIZ} characters")

    @property
    def size(self) -> int:
        """How many sandboxes the pool holds."""
        return self.network.num_addresses >> (32 - SLOT_PREFIXLEN)

    def slot(self, number: int) -> Slot:
        if not 0 <= number < self.size:
            raise ValueError(f"slot {number} is outside pool {self.network} (0..{self.size - 1})")
        base = self.network.network_address + (number << (32 - SLOT_PREFIXLEN))
        return Slot(number, IPv4Network((base, SLOT_PREFIXLEN)))

    def slot_of(self, address: IPv4Address) -> Slot | None:
        """The slot an address belongs to, or None outside the pool."""
        if address not in self.network:
            return None
        offset = int(address) - int(self.network.network_address)
        return self.slot(offset >> (32 - SLOT_PREFIXLEN))

    def ifname(self, number: int) -> str:
        """The host-side veth name of a slot: the prefix and the slot number."""
        return f"{self.ifname_prefix}{number}"

    def slot_of_ifname(self, ifname: str) -> int | None:
        """The slot number an interface name encodes, or None if it is not one of ours."""
        rest = ifname.removeprefix(self.ifname_prefix)
        if (
            rest == ifname
            or not (rest.isascii() and rest.isdigit())
            or (len(rest) > 1 and rest[0] == "0")
        ):
            return None
        number = int(rest)
        return number if number < self.size else None
