"""Checks of the host programs Corral runs: present, and which version."""

from __future__ import annotations

from dataclasses import dataclass

from corral.hostcheck.base import SETUP, Finding, Host


@dataclass(frozen=True)
class Tool:
    """A host program Corral runs, how to ask its version, and whether it is required."""

    name: str
    version_argv: tuple[str, ...]
    purpose: str
    required: bool = True

    def check(self, host: Host) -> Finding:
        path = host.which(self.name)
        if path is None:
            return Finding(
                self.name,
                "fail" if self.required else "warn",
                f"not found ({self.purpose})",
                SETUP if self.required else f"optional: apt-get install {self.name}",
            )
        version = host.first_line([path, *self.version_argv])
        return Finding(self.name, "ok", f"{path}: {version}")


TOOLS = (
    Tool("crun", ("--version",), "the fast OCI runtime"),
    Tool("runsc", ("--version",), "gVisor, the secure OCI runtime"),
    Tool("nft", ("--version",), "sandbox firewall and NAT"),
    Tool("ip", ("-V",), "network namespaces and veth pairs"),
    Tool("mkfs.ext4", ("-V",), "each sandbox's writable disk image"),
    Tool("debootstrap", ("--version",), "builds the base root filesystem"),
    Tool("buildah", ("--version",), "template builds from Dockerfiles", required=False),
)
