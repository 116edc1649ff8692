"""The envd distribution: Corral's envd and its dependencies, ready to run inside any sandbox.

Sandboxes get this directory bind-mounted read-only at `/opt/corral` and start envd with their
own Debian `/usr/bin/python3` (3.11, the host's minor, see `rootfs.py`), so a template needs
nothing for envd but that interpreter, and envd never sees the template's packages. (A template
whose image has no python 3.11 at that path cannot run this distribution: that needs a
self-contained interpreter in the distribution, not built yet.)

    <data_dir>/envd/<key>/
        site/       corral and the base `dependencies` of pyproject.toml, with .pyc files
        bin/envd    the launcher: puts site/ first on sys.path, runs corral.envd.main
        dist.json   what the key was made of
        constraints.txt   the host's versions, which pip was held to

The launcher exists because `python3 -I` (isolated: no PYTHON* variables, no user site, no
script directory on sys.path), which envd wants so that nothing in the sandbox's environment
changes what it imports, also ignores PYTHONPATH. `-S` skips the sandbox's own site-packages.

The key hashes Corral's version, the base dependencies, the host's installed versions and the
package's source, so an edited envd is never served stale (a rebuild takes a few seconds).
A directory, once renamed into place, never changes: running sandboxes keep using theirs while
a new one is built next to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, distributions, requires
from pathlib import Path

import corral
from corral import logs
from corral.envd import ENVD_PORT
from corral.runtime.errors import HostSetupError
from corral.runtime.host import run
from corral.settings import HostSettings

log = logs.get("runtime.envd_dist")

MOUNT_POINT = Path("/opt/corral")
"""Where sandboxes see the distribution (read-only)."""
SANDBOX_PYTHON = "/usr/bin/python3"
PYTHON_VERSION = "3.11"
"""The sandboxes' python (Debian bookworm's); wheels are chosen and .pyc files made for it."""
FORMAT = 1
"""Bump when the layout or the launcher changes."""

LAUNCHER = f"""\
#!{SANDBOX_PYTHON} -IS
# envd's launcher: this distribution's site/ first on sys.path, then corral.envd.main.
import sys
from os.path import dirname, join, realpath

sys.path.insert(0, join(dirname(dirname(realpath(__file__))), "site"))

from corral.envd.main import run

run()
"""


def envd_command(port: int = ENVD_PORT) -> list[str]:
    """The argv that starts envd inside a sandbox with the distribution at `MOUNT_POINT`."""
    return [SANDBOX_PYTHON, "-I", "-S", str(MOUNT_POINT / "bin" / "envd"), "--port", str(port)]


def package_dir() -> Path:
    """The `corral` package being run (a source tree's src/corral, or site-packages/corral)."""
    return Path(corral.__file__).resolve().parent


def base_dependencies() -> list[str]:
    """pyproject's `[project].dependencies` (envd's), from the source tree when we run from one:
    an editable install's metadata goes stale when pyproject.toml changes."""
    pyproject = package_dir().parent.parent / "pyproject.toml"
    with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") == "corral":
            return sorted(str(d) for d in project.get("dependencies", []))
    try:
        reqs = requires("corral") or []
    except PackageNotFoundError as exc:
        raise HostSetupError("corral is neither a source tree nor an installed package") from exc
    return sorted(r for r in reqs if not re.search(r"\bextra\s*==", r))


def source_digest(root: Path | None = None) -> str:
    """A hash of every file of the package (paths and contents), bytecode caches excluded."""
    root = root or package_dir()
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def host_pins() -> list[str]:
    """`name==version` of every distribution installed with the running Corral.

    Used as pip constraints, so that sandboxes run the very versions the host was tested with
    rather than whatever the index offers on the day the distribution is built.
    """
    pins = {
        dist.metadata["Name"].lower(): f"{dist.metadata['Name']}=={dist.version}"
        for dist in distributions()
        if dist.metadata["Name"] and dist.metadata["Name"].lower() != "corral"
    }
    return sorted(pins.values())


def dist_key(dependencies: list[str], pins: list[str]) -> dict[str, object]:
    """What a distribution is made from; its hash names the directory."""
    return {
        "format": FORMAT,
        "corral": corral.__version__,
        "python": PYTHON_VERSION,
        "dependencies": dependencies,
        "pins": hashlib.sha256("\n".join(pins).encode()).hexdigest(),
        "source": source_digest(),
    }


def default_envd_root() -> Path:
    return HostSettings().data_dir / "envd"


async def _compiler() -> str:
    """An interpreter of the sandboxes' minor version, to write .pyc files they accept."""
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    for python in dict.fromkeys((SANDBOX_PYTHON, sys.executable)):
        if Path(python).exists() and (await run(python, "-c", probe)).strip() == PYTHON_VERSION:
            return python
    raise HostSetupError(f"no python{PYTHON_VERSION} on the host to byte-compile envd with")


async def _build(tmp: Path, key: dict[str, object], deps: list[str], pins: list[str]) -> None:
    site = tmp / "site"
    tmp.mkdir(parents=True)
    constraints = tmp / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    await run(
        sys.executable, "-m", "pip", "install", "--quiet", "--no-input",
        "--disable-pip-version-check", "--no-compile", "--target", str(site),
        # Wheels for the sandboxes' python, whatever the host venv's own version.
        "--python-version", PYTHON_VERSION, "--only-binary=:all:",
        "--constraint", str(constraints),
        *deps,
    )  # fmt: skip
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts for the host's venv
    shutil.copytree(
        package_dir(), site / "corral", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    compiler = await _compiler()
    # The source mtimes the .pyc files record survive the read-only bind mount unchanged.
    await run(compiler, "-m", "compileall", "-q", "-j", "0", str(site))
    (tmp / "bin").mkdir()
    launcher = tmp / "bin" / "envd"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    (tmp / "dist.json").write_text(json.dumps({**key, "compiled_by": compiler}, indent=2) + "\n")


@contextlib.asynccontextmanager
async def _lock(path: Path) -> AsyncIterator[None]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


async def ensure_envd_dist(root: Path | None = None) -> Path:
    """The distribution for the running Corral under `root` (default `<data_dir>/envd`), built
    when missing (about 2 s: pip from its cache, then compileall); returns its directory."""
    root = (root or default_envd_root()).absolute()
    deps, pins = base_dependencies(), host_pins()
    key = dist_key(deps, pins)
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    dest = root / name
    if (dest / "dist.json").exists():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    async with _lock(root / ".build.lock"):
        if (dest / "dist.json").exists():  # built by another process while we waited
            return dest
        tmp = root / f".{name}.build-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("building envd distribution", dest=str(dest))
        started = time.monotonic()
        try:
            await _build(tmp, key, deps, pins)
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("built envd distribution", dest=str(dest), seconds=time.monotonic() - started)
    return dest


def ensure_envd_dist_sync(root: Path | None = None) -> Path:
    """`ensure_envd_dist` for callers without an event loop (the CLI)."""
    return asyncio.run(ensure_envd_dist(root))


DIST_NAME = re.compile(r"[0-9a-f]{16}")


def mounted_dists(root: Path) -> set[str]:
    """Names of the distributions under `root` that some process has mounted, in any mount
    namespace: a bind mount's source shows as the root field of that process's mountinfo."""
    source = re.compile(rf"/{re.escape(root.name)}/([0-9a-f]{{16}})(?:/|$)")
    names: set[str] = set()
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            text = mountinfo.read_text()
        except OSError:  # the process exited, or is not ours to read
            continue
        for line in text.splitlines():
            fields = line.split(maxsplit=4)
            if len(fields) > 3 and (match := source.search(fields[3])):
                names.add(match.group(1))
    return names


def prune_envd_dists(keep: set[Path], root: Path | None = None) -> list[Path]:
    """Delete the distributions under `root` that are not in `keep` and not mounted; returns
    them. Every edit of the source makes a new one, so they pile up on a developer's host.

    Not called automatically: only the orchestrator knows which ones its sandboxes, paused ones
    included (a resume mounts the same path again), still need; it passes them as `keep`.
    """
    root = (root or default_envd_root()).absolute()
    kept = {p.absolute().name for p in keep} | mounted_dists(root)
    removed = []
    for dist in sorted(root.iterdir()) if root.is_dir() else []:
        if DIST_NAME.fullmatch(dist.name) and dist.name not in kept:
            shutil.rmtree(dist)
            removed.append(dist)
    log.info("pruned envd distributions", removed=[p.name for p in removed])
    return removed
