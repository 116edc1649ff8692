"""The default templates `corral up` builds on first start, as E2B build specs.

`base` is what E2B's base image offers a user (Debian, bash, python3 with pip and venv,
nodejs and npm, git, curl, sudo, the `user` account with passwordless sudo), built from the
offline Debian image the node makes with debootstrap (`FROM debian:bookworm` needs no
registry); its packages come from the machine's own Debian mirror.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
    files: dict[str, Callable[[], bytes]] = field(default_factory=dict)
    """COPY archives the platform uploads itself: files hash → the archive's bytes."""


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


def source_archive(paths: list[Path], root: Path) -> bytes:
    """A reproducible tar.gz of files (names relative to `root`, no times or owners), so that
    its hash changes only when the code does and a rebuild happens only then."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(paths):
            info = tarfile.TarInfo(str(path.relative_to(root)))
            data = path.read_bytes()
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _interpreter_sources() -> list[Path]:
    import corral

    package = Path(corral.__file__).parent
    code = [package / "__init__.py", package / "logs.py"]
    return code + sorted((package / "interpreter").rglob("*.py"))


def interpreter_archive() -> bytes:
    import corral

    return source_archive(_interpreter_sources(), Path(corral.__file__).parent.parent)


INTERPRETER_ARCHIVE = interpreter_archive()
INTERPRETER_HASH = hashlib.sha256(INTERPRETER_ARCHIVE).hexdigest()
INTERPRETER_PACKAGES = (
    "jupyter_client>=8.6", "ipykernel>=6.29", "bash_kernel>=0.10", "deno>=2.1",
    "starlette>=0.40", "uvicorn>=0.30", "structlog>=24",
    "numpy", "pandas", "matplotlib", "e2b-charts",
)  # fmt: skip
VENV = "/opt/interpreter"
ENSURE_VENV = (
    "(python3 -c 'import ensurepip' 2>/dev/null || (apt-get update -qq"
    " && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends"
    " python3-venv >/dev/null))"
)
"""`base` has python3-venv; a bare Debian base (the offline image) gets it here."""
INTERPRETER_PORT = 49999

CODE_INTERPRETER = DefaultTemplate(
    name="code-interpreter-v1",
    description="base with the code interpreter (Jupyter kernels: Python, bash, JS/TS)",
    memory_mb=1024,
    disk_mb=4096,
    files={INTERPRETER_HASH: lambda: INTERPRETER_ARCHIVE},
    spec={
        "fromTemplate": "base",
        "steps": [
            {
                "type": "RUN",
                "args": [
                    ENSURE_VENV + f" && python3 -m venv {VENV} && {VENV}/bin/pip install"
                    " --no-cache-dir -q "
                    + " ".join(f"'{p}'" for p in INTERPRETER_PACKAGES)
                    + f" && chown -R user:user {VENV}",
                    "root",
                ],
            },
            {
                "type": "COPY",
                "args": ["corral", "/opt/corral-interpreter/corral", "root", ""],
                "filesHash": INTERPRETER_HASH,
            },
            {
                "type": "ENV",
                "args": [
                    "PATH",
                    f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                ],
            },
            {"type": "WORKDIR", "args": ["/home/user"]},
        ],
        "startCmd": (
            f"PYTHONPATH=/opt/corral-interpreter {VENV}/bin/python -m corral.interpreter"
            f" --port {INTERPRETER_PORT}"
        ),
        "readyCmd": f"curl -sf http://127.0.0.1:{INTERPRETER_PORT}/health",
    },
)

DEFAULTS: dict[str, DefaultTemplate] = {t.name: t for t in (BASE, CODE_INTERPRETER)}
