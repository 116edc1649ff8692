"""The base root filesystem every sandbox starts from: Debian bookworm minbase, built once.

Built offline-capable with debootstrap from the machine's own Debian mirror (read from its apt
sources, never a hard-coded host), so it works wherever the host's `apt-get` works. The result
is the shared, read-only lower layer of every sandbox's overlay root, so it is built in a
temporary directory next to its destination and renamed into place only when complete: a reader
never sees half a rootfs. The recipe (suite, package list, configuration version) is stamped
inside it; a different recipe rebuilds it.

Its python3 is Debian's 3.11, the same minor as the host's, which is what lets the envd
distribution (`envd_dist.py`) built on the host run inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from corral import logs
from corral.runtime.envd_dist import MOUNT_POINT
from corral.runtime.errors import CommandFailed, HostSetupError
from corral.runtime.host import run
from corral.settings import HostSettings

log = logs.get("runtime.rootfs")

Progress = Callable[[str], None]
"""Called with each step and each line debootstrap prints, for a CLI to show."""

SUITE = "bookworm"
PACKAGES = (
    "bash",
    "coreutils",
    "python3",
    "sudo",
    "ca-certificates",
    "procps",
    "iproute2",
    "curl",  # the first thing users reach for to fetch anything
    "netbase",  # /etc/services and /etc/protocols, which getaddrinfo and socket lookups read
)
RECIPE_VERSION = 2
"""Bump when the configuration steps below change, so that existing rootfs are rebuilt."""

USER, UID = "user", 1000
"""E2B templates run commands as `user` (uid 1000, home /home/user, passwordless sudo)."""
HOSTNAME = "sandbox"
STAMP = Path("etc/corral/rootfs.json")
"""Inside the rootfs, so that the stamp and the tree it describes appear in one rename."""

RESOLV_CONF = """\
# Placeholder: Corral gives each sandbox its own resolv.conf when it starts.
nameserver 8.8.8.8
"""
HOSTS = f"""\
127.0.0.1\tlocalhost
127.0.1.1\t{HOSTNAME}
::1\tlocalhost ip6-localhost ip6-loopback
"""

APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def default_base_rootfs() -> Path:
    """`<data_dir>/images/base/rootfs`."""
    return HostSettings().data_dir / "images" / "base" / "rootfs"


# --- the machine's Debian mirror ------------------------------------------------------------


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    """The paragraphs of a deb822 file as {field (lowercase): value}; continuation lines are
    folded into their field (a `Signed-By` can hold a whole key block)."""
    for paragraph in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        last: str | None = None
        for line in paragraph.splitlines():
            if line.startswith("#"):
                continue
            if line[:1].isspace() and last is not None:
                fields[last] += "\n" + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                last = name.strip().lower()
                fields[last] = value.strip()
        if fields:
            yield fields


def _sources(path: Path) -> Iterator[tuple[list[str], list[str]]]:
    """(URIs, suites) of every enabled binary (`deb`) source in a one-line or deb822 file."""
    try:
        text = path.read_text()
    except OSError:
        return
    if path.suffix == ".sources":
        for stanza in _deb822_stanzas(text):
            if "deb" in stanza.get("types", "").split() and stanza.get("enabled", "yes") != "no":
                yield stanza.get("uris", "").split(), stanza.get("suites", "").split()
        return
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            yield [words[1]], [words[2]]


def apt_source_files(roots: tuple[Path, ...] = APT_SOURCES) -> list[Path]:
    """apt's own reading order: sources.list, then sources.list.d/*.list|*.sources by name."""
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files += sorted(p for p in root.iterdir() if p.suffix in {".list", ".sources"})
        elif root.is_file():
            files.append(root)
    return files


def debian_mirror(suite: str = SUITE, files: list[Path] | None = None) -> str:
    """The first mirror URI this machine's apt uses for `suite` itself (not -security or
    -backports): where `apt-get` works, debootstrap from it works too."""
    for path in apt_source_files() if files is None else files:
        for uris, suites in _sources(path):
            uri = next((u for u in uris if u.split(":", 1)[0] in {"http", "https", "file"}), None)
            if uri and suite in suites:
                return uri.rstrip("/")
    raise HostSetupError(
        f"no apt source for Debian {suite!r} in /etc/apt to build the base rootfs from; add "
        f"one (e.g. /etc/apt/sources.list.d/debian.sources) or pass a mirror explicitly"
    )


# --- building ----------------------------------------------------------------------------------


def _recipe(packages: tuple[str, ...]) -> dict[str, object]:
    return {"recipe": RECIPE_VERSION, "suite": SUITE, "variant": "minbase", "packages": packages}


def read_stamp(rootfs: Path) -> dict[str, object] | None:
    try:
        stamp = json.loads((rootfs / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def is_current(rootfs: Path, packages: tuple[str, ...] = PACKAGES) -> bool:
    """Whether `rootfs` was built, completely, by this recipe."""
    stamp = read_stamp(rootfs)
    wanted = json.loads(json.dumps(_recipe(packages)))  # tuples as JSON lists
    return stamp is not None and stamp.get("key") == wanted


def _unescape(field: str) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes come octal-escaped (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first (the order to unmount them in)."""
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def lower_in_use(path: Path) -> bool:
    """Whether an overlay mount, in any process's mount namespace, has `path` as a lower layer.

    After a rebuild that name means the new tree, so a hit means a sandbox may still run on
    the old one: it must not be deleted.
    """
    lower = re.compile(rf"lowerdir=(?:[^,]*:)?{re.escape(str(path))}(?:[:,\s]|$)")
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        with contextlib.suppress(OSError):  # the process exited meanwhile
            if lower.search(mountinfo.read_text()):
                return True
    return False


async def remove_tree(path: Path) -> None:
    """Delete a (half-)built rootfs, after unmounting what debootstrap left mounted in it.

    A failed debootstrap can leave the host's /proc, /sys or a bind of /dev mounted inside the
    target; deleting through those would delete host files, so with a mount left we refuse.
    """
    for point in mounts_under(path):
        await run("umount", "--lazy", str(point), check=False)
    if mounts_under(path):
        raise HostSetupError(f"{path} still has mounts inside; unmount them and delete it")
    await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)


async def _debootstrap(
    target: Path, mirror: str, packages: tuple[str, ...], cache: Path, progress: Progress | None
) -> None:
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(packages)}",
        f"--cache-dir={cache}",
        SUITE,
        str(target),
        mirror,
    ]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
    except FileNotFoundError as exc:
        raise HostSetupError("debootstrap is not installed: run scripts/setup-host.sh") from exc
    assert proc.stdout is not None
    tail: list[str] = []
    async for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip()
        tail = [*tail[-40:], line]
        log.debug("debootstrap", line=line)
        if progress:
            progress(line)
    if await proc.wait() != 0:
        detail = "\n".join(tail)
        with contextlib.suppress(OSError):
            detail += "\n" + (target / "debootstrap/debootstrap.log").read_text()[-4000:]
        raise CommandFailed(argv, proc.returncode or 0, detail)


async def _configure(root: Path, packages: tuple[str, ...], mirror: str, seconds: float) -> None:
    """What makes the minbase tree a sandbox: the `user` account, hostname, resolver, envd's
    mount point, the stamp."""
    await run("chroot", str(root), "groupadd", "--gid", str(UID), USER)
    await run(
        "chroot", str(root), "useradd", "--create-home", "--uid", str(UID), "--gid", str(UID),
        "--shell", "/bin/bash", USER,
    )  # fmt: skip
    sudoers = root / "etc/sudoers.d" / USER
    sudoers.write_text(f"{USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)  # sudo ignores a sudoers file others can write
    await run(
        "chroot", str(root), "visudo", "--check", "--quiet", "--file", f"/etc/sudoers.d/{USER}"
    )
    for name, text in (
        ("hostname", f"{HOSTNAME}\n"),
        ("hosts", HOSTS),
        ("resolv.conf", RESOLV_CONF),
    ):
        path = root / "etc" / name
        path.unlink(missing_ok=True)  # debootstrap copies the host's, which may be a symlink
        path.write_text(text)
    # Where the envd distribution is bind-mounted; present so that even a read-only root takes it.
    (root / MOUNT_POINT.relative_to("/")).mkdir(parents=True, exist_ok=True)
    for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (root / leftovers).glob("*"):
            if entry.is_file() and entry.name != "lock":
                entry.unlink()
    version = await run(
        "chroot", str(root), "/usr/bin/python3", "-c", "import sys; print(sys.version)"
    )
    stamp = {
        "key": _recipe(packages),
        "info": {"mirror": mirror, "build_seconds": round(seconds, 1), "python": version.strip()},
    }
    (root / STAMP).parent.mkdir(parents=True, exist_ok=True)
    (root / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")


async def _remove_old(dest: Path) -> None:
    """Delete the trees that rebuilds renamed aside, unless a sandbox may still run on one."""
    olds = list(dest.parent.glob(f".{dest.name}.old-*"))
    if olds and lower_in_use(dest):
        log.warning("keeping replaced base rootfs: overlays still use it", paths=olds)
        return
    for old in olds:
        await remove_tree(old)


@contextlib.asynccontextmanager
async def _build_lock(dest: Path) -> AsyncIterator[None]:
    """One builder per destination across processes; others wait, then find it built."""
    fd = os.open(dest.with_name(f".{dest.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


async def ensure_base_rootfs(
    dest: Path | None = None,
    progress: Progress | None = None,
    *,
    packages: tuple[str, ...] = PACKAGES,
    mirror: str | None = None,
) -> Path:
    """The base rootfs at `dest` (default `<data_dir>/images/base/rootfs`), built if missing
    or built from another recipe; returns its path. A build takes ~40 s here (~25 s when the
    package cache next to it already holds most packages).

    A rootfs being replaced is renamed aside, and deleted once no overlay uses it any more.
    """
    dest = (dest or default_base_rootfs()).absolute()
    if is_current(dest, packages):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    async with _build_lock(dest):
        if is_current(dest, packages):  # another process built it while we waited
            return dest
        for stale in dest.parent.glob(f".{dest.name}.build-*"):  # left by a crashed build
            await remove_tree(stale)
        await _remove_old(dest)
        mirror = mirror or debian_mirror()
        cache = dest.parent / "debs"  # downloaded packages: a rebuild fetches only what changed
        cache.mkdir(exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.build-{os.getpid()}")
        say = progress or (lambda _line: None)
        log.info("building base rootfs", dest=str(dest), mirror=mirror, packages=packages)
        say(f"debootstrap {SUITE} from {mirror} into {tmp}")
        started = time.monotonic()
        try:
            await _debootstrap(tmp, mirror, packages, cache, progress)
            say("configuring the sandbox user, hostname and resolver")
            await _configure(tmp, packages, mirror, time.monotonic() - started)
            if dest.exists():
                dest.rename(dest.with_name(f".{dest.name}.old-{os.getpid()}"))
            tmp.rename(dest)
            await _remove_old(dest)
        except BaseException:
            await asyncio.shield(remove_tree(tmp))
            raise
        seconds = round(time.monotonic() - started, 1)
        log.info("built base rootfs", dest=str(dest), seconds=seconds)
        say(f"base rootfs ready in {seconds} s: {dest}")
    return dest


def ensure_base_rootfs_sync(dest: Path | None = None, progress: Progress | None = None) -> Path:
    """`ensure_base_rootfs` for callers without an event loop (the CLI)."""
    return asyncio.run(ensure_base_rootfs(dest, progress))
