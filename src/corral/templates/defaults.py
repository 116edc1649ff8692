"""The default templates `corral up` builds on first start, as E2B build specs.

`base` is what E2B's base image offers a user (Debian, bash, python3 with pip and venv,
nodejs and npm, git, curl, sudo, the `user` account with passwordless sudo), built from the
offline Debian image the node makes with debootstrap (`FROM debian:bookworm` needs no
registry); its packages come from the machine's own Debian mirror.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BASE_PACKAGES = (
    "bash", "ca-certificates", "curl", "git", "nodejs", "npm", "procps", "iproute2",
    "python3", "python3-pip", "python3-venv", "sudo",
)  # fmt: skip

APT = (
    "apt-get update -qq"
    " && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {packages}"
    " >/dev/null && rm -rf /var/lib/apt/lists/*"
)
SUDOERS = (
    "echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/user"
    " && chmod 0440 /etc/sudoers.d/user"
)


@dataclass(frozen=True)
class DefaultTemplate:
    name: str
    spec: dict[str, Any]
    vcpu: int = 2
    memory_mb: int = 512
    disk_mb: int = 2048
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


BASE = DefaultTemplate(
    name="base",
    description="Debian bookworm with python3/pip, nodejs/npm, git, curl and sudo",
    spec={
        "fromImage": "debian:bookworm",
        "steps": [
            {"type": "RUN", "args": [APT.format(packages=" ".join(BASE_PACKAGES)), "root"]},
            {"type": "RUN", "args": [SUDOERS, "root"]},
            {"type": "WORKDIR", "args": ["/home/user"]},
        ],
    },
)

DEFAULTS: dict[str, DefaultTemplate] = {t.name: t for t in (BASE,)}
